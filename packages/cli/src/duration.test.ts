import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  const cases: [string, number][] = [
    ['30s', 30_000],
    ['2m', 120_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1.5s', 1500],
    ['10', 10_000],
  ];
  for (const [text, ms] of cases) it(text, () => assert.equal(parseDuration(text), ms));

  for (const bad of ['', 'soon', '10x', '5 m', '-1s']) {
    it(`rejects ${JSON.stringify(bad)}`, () =>
      assert.throws(() => parseDuration(bad), /invalid duration/));
  }
});

describe('formatDuration', () => {
  it('formats', () => {
    assert.equal(formatDuration(850), '850ms');
    assert.equal(formatDuration(12_000), '12s');
    assert.equal(formatDuration(200_000), '3m20s');
    assert.equal(formatDuration(7_500_000), '2h5m');
  });
});
