import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseProcessStat } from './proc.ts';
import { parseBootTime, startedAtNs } from './start-time.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');

describe('container start time', () => {
  it('reads the boot time from /proc/stat', () => {
    assert.equal(parseBootTime(fixture('proc-stat')), 1796167693);
    assert.equal(parseBootTime('cpu 1 2 3\nctxt 5\n'), undefined);
  });

  it("adds the process's start ticks (1/100 s) to the boot time", () => {
    const process = parseProcessStat(fixture('pid-stat'));
    assert.equal(process?.startTime, 43360);
    assert.equal(startedAtNs(1796167693, 43360), 1796168126_600_000_000n);
  });
});
