/**
 * The watch daemon's Prometheus metrics and the wide view of its health, with real processes:
 * `ksync watch --daemon --metrics-addr` against a real agent, scraped over HTTP; a killed and
 * restarted agent shows up as a reconnect in both the metrics and `ksync get -o wide`.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, waitUntil } from './helpers/agent-process.ts';
import { makeCliAgentFixture, type CliAgentFixture } from './helpers/cli-process.ts';

/** One sample's value from a text exposition (NaN when absent). */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

describe('ksync watch --metrics-addr', () => {
  let f: CliAgentFixture;
  let url: string;

  before(async () => {
    f = await makeCliAgentFixture({ port: await freePort(), pingIntervalMs: 300 });
    await f.createLocal();
    for (let i = 0; i < 5; i++) await writeFile(join(f.local, `f${i}.txt`), `file ${i}\n`);
    const port = await freePort();
    url = `http://127.0.0.1:${port}/metrics`;
    await f.ok(['watch', '--daemon', '--metrics-addr', `127.0.0.1:${port}`]);
    await f.ok(['flush', 'local', '--timeout', '60s'], { timeoutMs: 90_000 });
  });

  after(() => f.cleanup('SIGKILL'));

  it('serves syncs, targets, bytes, files, cycle durations, conflicts, problems', async () => {
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    assert.equal(sample(text, 'ksync_syncs{state="watching"}'), 1, text);
    assert.equal(sample(text, 'ksync_targets'), 1, text);
    assert.equal(sample(text, 'ksync_files_total'), 5, text);
    assert.equal(sample(text, 'ksync_bytes_total'), 5 * 'file 0\n'.length, text);
    assert.equal(sample(text, 'ksync_applied_changes_total{side="remote"}'), 5, text);
    const cycles = sample(text, 'ksync_cycle_duration_seconds_count');
    assert.ok(cycles >= 1, text);
    assert.equal(sample(text, 'ksync_cycle_duration_seconds_bucket{le="+Inf"}'), cycles);
    assert.equal(sample(text, 'ksync_conflicts'), 0, text);
    assert.equal(sample(text, 'ksync_problems'), 0, text);
    assert.equal(sample(text, 'ksync_reconnects_total'), 0, text);
    assert.ok(sample(text, 'process_resident_memory_bytes') > 0, text);
    assert.equal((await fetch(url.replace('/metrics', '/other'))).status, 404);
  });

  it('counts a reconnect after the agent was killed, and get -o wide shows it', async () => {
    await f.server.stop('SIGKILL');
    await f.restartAgent();
    await writeFile(join(f.local, 'after.txt'), 'after\n');
    await f.ok(['flush', 'local', '--timeout', '60s'], { timeoutMs: 90_000 });
    await waitUntil(
      async () => sample(await (await fetch(url)).text(), 'ksync_reconnects_total') === 1,
      10_000,
      'one reconnect in the metrics',
    );
    const view = await f.get('local');
    assert.equal(view.state, 'watching');
    assert.equal(view.reconnects, 1);
    // Each reconnect opens a new session; the totals carry over.
    assert.equal(view.transferredFiles, 6);
    assert.match(view.lastError ?? '', /^lost the agent .*; reconnecting$/);
    const wide = (await f.ok(['get', 'local', '-o', 'wide'])).stdout;
    assert.match(wide, /RECONNECTS\s+DETAIL\s+LAST ERROR/);
    assert.match(
      wide,
      /\s1\s+in sync, watching for changes\s+lost the agent \(.*\); reconnecting\n/,
    );
  });

  it('refuses a bad address and a taken port in one line each', async () => {
    const bad = await f.ksync(['watch', '--metrics-addr', 'localhost']);
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr,
      'error: --metrics-addr localhost is not HOST:PORT; pass e.g. --metrics-addr 127.0.0.1:9464\n',
    );
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      await f.ok(['stop']);
      const busy = await f.ksync(['watch', '--daemon', '--metrics-addr', `127.0.0.1:${port}`]);
      assert.equal(busy.code, 1);
      assert.match(
        busy.stderr,
        new RegExp(
          `cannot serve metrics on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\); pass another --metrics-addr`,
        ),
      );
      assert.equal(busy.stderr.trim().split('\n').length, 1, busy.stderr);
    } finally {
      taken.close();
    }
  });
});
