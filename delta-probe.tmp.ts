// Temporary probe (not committed): time and memory of each delta phase for a big file.
import { mkdir, rm, open } from 'node:fs/promises';
import { openLocalEndpoint } from '@ksync/fs';
import { writeBigFile } from './test/integration/helpers/agent-process.ts';
const dir = '/tmp/delta-mem/delta';
await rm(dir, { recursive: true, force: true });
await mkdir(`${dir}/a`, { recursive: true });
await mkdir(`${dir}/b`, { recursive: true });
const size = Number(process.argv[2] ?? 1024) * 1024 * 1024;
await writeBigFile(`${dir}/a/f`, size, 1);
if (process.env.PROBE_SAME) { const { copyFile } = await import('node:fs/promises'); await copyFile(`${dir}/a/f`, `${dir}/b/f`); } else await writeBigFile(`${dir}/b/f`, size, 1);
const h = await open(`${dir}/a/f`, 'r+');
await h.write(Buffer.from([7]), 0, 1, Math.floor(size / 2));
await h.close();
const a = openLocalEndpoint({ root: `${dir}/a`, watch: false });
const b = openLocalEndpoint({ root: `${dir}/b`, watch: false });
const sa = await a.scan({ full: true });
const sb = await b.scan({ full: true });
const next = sa.snapshot.get('f');
const old = sb.snapshot.get('f');
if (next?.kind !== 'file' || old?.kind !== 'file') throw new Error('no file');
const peak = { rss: 0, external: 0 };
const timer = setInterval(() => {
  const m = process.memoryUsage();
  peak.rss = Math.max(peak.rss, m.rss);
  peak.external = Math.max(peak.external, m.external);
}, 20);
const base = process.memoryUsage().rss;
let t = performance.now();
const [sig] = await b.readSignatures([{ path: 'f', digest: old.digest, size: old.size }]);
const signS = (performance.now() - t) / 1000;
t = performance.now();
let wire = 0;
async function* counted(s: AsyncIterable<Uint8Array>) { for await (const c of s) { wire += c.length; yield c; } }
const r = await b.apply([{ path: 'f', old, new: next }], {
  indexes: [0],
  stream: counted(a.readContents([{ path: 'f', digest: next.digest, size: next.size, base: sig }])),
});
const applyS = (performance.now() - t) / 1000;
clearInterval(timer);
const mib = (n: number) => (n / 1048576).toFixed(0);
console.log(`applied ${r.applied.length}; sign ${signS.toFixed(1)} s, delta+rebuild ${applyS.toFixed(1)} s; wire ${wire} + sig ${sig?.length}; rss base ${mib(base)} peak ${mib(peak.rss)} external peak ${mib(peak.external)} MiB`);
await a.close();
await b.close();
await rm(dir, { recursive: true, force: true });
