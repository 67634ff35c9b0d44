/**
 * Scan benchmark: builds a synthetic tree (default 1,000 dirs × 100 small files = 100k files),
 * then measures a cold full scan (every file hashed), a warm full rescan (stat cache hits, no
 * hashing), an incremental scan with 10 dirty files, and optionally the watcher start-up.
 * Usage: node bench/fs-scan.ts [--dirs N] [--files N] [--watch]
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openLocalEndpoint } from '../packages/fs/src/index.ts';

const { values } = parseArgs({
  options: {
    dirs: { type: 'string', default: '1000' },
    files: { type: 'string', default: '100' },
    watch: { type: 'boolean', default: false },
  },
});
const dirs = Number(values.dirs);
const files = Number(values.files);
const base = mkdtempSync(join(tmpdir(), 'ksync-bench-scan-'));
const root = join(base, 'root');
const mib = (n: number) => (n / 1024 / 1024).toFixed(0);

try {
  for (let d = 0; d < dirs; d++) {
    mkdirSync(join(root, `d${d}`), { recursive: true });
    for (let f = 0; f < files; f++) writeFileSync(join(root, `d${d}`, `f${f}`), `${d}:${f}`);
  }
  console.log(`tree: ${dirs} dirs × ${files} files = ${dirs * files} files under ${root}`);
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;

  const endpoint = openLocalEndpoint({ root, watch: false });
  let t = performance.now();
  const cold = await endpoint.scan({ full: true });
  const coldMs = performance.now() - t;
  const rss1 = process.memoryUsage().rss;
  console.log(
    `cold full scan (hash all): ${coldMs.toFixed(0)} ms, ${cold.snapshot.size} entries, ` +
      `RSS ${mib(rss0)} → ${mib(rss1)} MiB (+${mib(rss1 - rss0)})`,
  );

  for (let i = 0; i < 3; i++) {
    t = performance.now();
    await endpoint.scan({ full: true });
    console.log(
      `warm full rescan #${i + 1} (stat cache): ${(performance.now() - t).toFixed(0)} ms`,
    );
  }

  globalThis.gc?.();
  console.log(`RSS after scans: ${mib(process.memoryUsage().rss)} MiB`);
  await endpoint.close();

  if (values.watch) {
    globalThis.gc?.();
    const rssW0 = process.memoryUsage().rss;
    t = performance.now();
    const watched = openLocalEndpoint({ root });
    await watched.scan({ full: false }); // starts the watcher, then scans (cold)
    const rssW1 = process.memoryUsage().rss;
    console.log(
      `watched endpoint first scan (watches placed + cold scan): ${(performance.now() - t).toFixed(0)} ms, ` +
        `RSS +${mib(rssW1 - rssW0)} MiB`,
    );
    for (let i = 0; i < 10; i++) writeFileSync(join(root, `d${i * 7}`, 'f1'), `edit ${i}`);
    await new Promise((r) => setTimeout(r, 300));
    t = performance.now();
    const inc = await watched.scan({ full: false });
    console.log(
      `incremental scan, 10 dirty files: ${(performance.now() - t).toFixed(1)} ms (${inc.snapshot.size} entries)`,
    );
    await watched.close();
  }
} finally {
  rmSync(base, { recursive: true, force: true });
}
