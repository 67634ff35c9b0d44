// Temporary (not committed): memory of the watcher vs. the scan state at 100k files.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIgnoreMatcher } from '@ksync/core';
import { openLocalEndpoint } from '@ksync/fs';
import { createWatcher } from '../packages/fs/src/watcher.ts';
import { writeTree } from './measure.ts';
const N = Number(process.argv[2] ?? 100000);
const what = process.argv[3] ?? 'both';
const dir = mkdtempSync(join(tmpdir(), 'ksync-mem-'));
writeTree(dir, { files: N, fileBytes: 64 });
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const mem = (label: string) => {
  gc(); gc();
  const m = process.memoryUsage();
  console.log(`${label}: rss ${(m.rss / 2 ** 20).toFixed(0)} MiB, heap ${(m.heapUsed / 2 ** 20).toFixed(0)} MiB, external ${(m.external / 2 ** 20).toFixed(0)} MiB`);
};
mem('start');
if (what === 'watcher') {
  const matcher = createIgnoreMatcher([]);
  let t = performance.now();
  const w = createWatcher({ root: dir, ignores: (p, d) => matcher.ignores(p, d), onDirty: () => {}, onOverflow: () => {}, onWarning: () => {} });
  await w.ready;
  console.log(`watcher ready in ${(performance.now() - t).toFixed(0)} ms`);
  mem('watcher ready');
  console.log(JSON.stringify(process.memoryUsage()));
  await new Promise((r) => setTimeout(r, 5000));
  mem('watcher ready + 5 s');
  const fs = await import('node:fs');
  let watches = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).includes('inotify')) {
        watches += fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd')).length;
      }
    } catch {}
  }
  console.log(`inotify watches: ${watches}; active handles: ${(process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length}`);
  const smaps = fs.readFileSync('/proc/self/smaps_rollup', 'utf8');
  console.log(smaps.split('\n').filter((l) => /Rss|Anon|Private/.test(l)).join('; '));
  console.log(JSON.stringify(process.memoryUsage()));
  await w.close();
} else {
  const e = openLocalEndpoint({ root: dir, watch: false });
  let t = performance.now();
  const r = await e.scan({ full: true });
  console.log(`full scan ${(performance.now() - t).toFixed(0)} ms, ${r.snapshot.size} entries`);
  mem('scanned (stat cache + mirror)');
  t = performance.now();
  const r2 = await e.scan({ full: true });
  console.log(`second full scan ${(performance.now() - t).toFixed(0)} ms, changes ${r2.changes?.size}`);
  mem('scanned twice');
  if (process.argv[4] === 'snap') {
    const v8 = await import('node:v8');
    console.log(v8.writeHeapSnapshot('/tmp/delta-prof/scan.heapsnapshot'));
  }
  await e.close();
}
rmSync(dir, { recursive: true, force: true });
