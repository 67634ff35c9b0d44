/**
 * Single-file edit latency between two local directories: a running Session with real
 * watchers (the engine alone, no network). Each sample writes a file on one side and measures
 * until the other side holds the new content. Prints p50/p99 per direction. Samples are 100 ms
 * apart, a fast human's save rate (the watcher batches events for 10 ms).
 * Usage: node bench/engine-latency.ts [--samples N]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startPair } from '../test/integration/helpers/engine-pair.ts';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '100' } } });
const samples = Number(values.samples);

/** Milliseconds until `path` holds `content`, polling on every turn of the event loop. */
async function timeUntil(path: string, content: string, started: number): Promise<number> {
  for (;;) {
    try {
      if (readFileSync(path, 'utf8') === content) return performance.now() - started;
    } catch {
      // not there yet
    }
    if (performance.now() - started > 10_000) throw new Error(`no sync of ${path} in 10 s`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const pair = await startPair();
try {
  await pair.session.flush();
  for (const [name, from, to] of [
    ['local → remote', pair.local, pair.remote],
    ['remote → local', pair.remote, pair.local],
  ] as const) {
    const times: number[] = [];
    for (let i = 0; i < samples; i++) {
      const content = `${name} sample ${i} ${'x'.repeat(4000)}`;
      const started = performance.now();
      writeFileSync(join(from, 'edited.txt'), content);
      times.push(await timeUntil(join(to, 'edited.txt'), content, started));
      await pair.session.flush();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    times.sort((a, b) => a - b);
    console.log(
      `${name}: 4 KiB edit, ${samples} samples: p50 ${percentile(times, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(times, 99).toFixed(1)} ms, max ${(times.at(-1) ?? NaN).toFixed(1)} ms`,
    );
  }
} finally {
  await pair.close();
}
