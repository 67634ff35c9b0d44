// Temporary probe (not committed): memory while moving a big file between two local roots.
import { mkdir, rm } from 'node:fs/promises';
import { openLocalEndpoint } from '@ksync/fs';
import { writeBigFile } from './test/integration/helpers/agent-process.ts';
const dir = '/tmp/delta-mem/run';
await rm(dir, { recursive: true, force: true });
await mkdir(`${dir}/a`, { recursive: true });
await mkdir(`${dir}/b`, { recursive: true });
const size = Number(process.argv[2] ?? 1024) * 1024 * 1024;
await writeBigFile(`${dir}/a/f`, size, 1);
const a = openLocalEndpoint({ root: `${dir}/a`, watch: false });
const b = openLocalEndpoint({ root: `${dir}/b`, watch: false });
const sa = await a.scan({ full: true });
await b.scan({ full: true });
const entry = sa.snapshot.get('f');
if (entry?.kind !== 'file') throw new Error('no file');
const peak = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const base = process.memoryUsage();
const timer = setInterval(() => {
  if (process.env.PROBE_GC) (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  for (const k of Object.keys(peak) as (keyof typeof peak)[]) peak[k] = Math.max(peak[k], m[k]);
}, 20);
const t = performance.now();
const r = await b.apply([{ path: 'f', old: undefined, new: entry }], {
  indexes: [0],
  stream: a.readContents([{ path: 'f', digest: entry.digest, size: entry.size }]),
});
clearInterval(timer);
const mib = (n: number) => (n / 1048576).toFixed(0);
console.log(
  `applied ${r.applied.length} in ${((performance.now() - t) / 1000).toFixed(1)} s; base rss ${mib(base.rss)} MiB; peak rss ${mib(peak.rss)} heapUsed ${mib(peak.heapUsed)} external ${mib(peak.external)} arrayBuffers ${mib(peak.arrayBuffers)} MiB`,
);
await a.close();
await b.close();
await rm(dir, { recursive: true, force: true });
