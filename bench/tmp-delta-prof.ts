// Temporary (not committed): 100k-file edit latency through the real agent, daemon side in-process.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeAgentFixture } from '../test/integration/helpers/agent-process.ts';
import { startAgentSession } from '../test/integration/helpers/agent-session.ts';
import { writeTree, timeUntilContent } from './measure.ts';
const N = Number(process.argv[2] ?? 100000);
const fixture = await makeAgentFixture();
const agent = await fixture.start();
await mkdir(join(fixture.root, 'app'));
writeTree(join(fixture.root, 'app'), { files: N, fileBytes: 64 });
const s = await startAgentSession({ url: agent.url, token: fixture.token, remoteRoot: '/app', run: false });
writeTree(s.local, { files: N, fileBytes: 64 });
let t = performance.now();
await s.session.flush();
console.log(`first flush ${(performance.now() - t).toFixed(0)} ms`);
const running = s.session.run();
await new Promise((r) => setTimeout(r, 1000));
const times: number[] = [];
for (let i = 0; i < 20; i++) {
  const [from, to] = i % 2 === 0 ? [s.local, join(fixture.root, 'app')] : [join(fixture.root, 'app'), s.local];
  const content = `edit ${i} ${Math.random()}\n`;
  t = performance.now();
  await writeFile(join(from, 'd5/f5.txt'), content);
  times.push(await timeUntilContent(join(to, 'd5/f5.txt'), content, { started: t, timeoutMs: 60_000 }));
  await new Promise((r) => setTimeout(r, 100));
}
console.log('edits ms', times.map((x) => x.toFixed(0)).join(' '));
times.sort((a, b) => a - b);
console.log(`p50 ${times[10]?.toFixed(1)} ms; rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);
const st = await import('node:fs/promises').then((fs) => fs.readFile(`/proc/${agent.child.pid}/status`, 'utf8'));
console.log('agent', /VmRSS:\s+\d+ kB/.exec(st)?.[0]);
await s.stop();
await running;
await fixture.cleanup();
