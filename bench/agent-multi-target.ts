/**
 * One agent, many targets: does a big transfer on one target stall another? One real agent
 * process serves two sessions (two remote roots, as two containers would be): one moves a
 * 1 GiB file local → remote while the other makes small edits local → remote one after another.
 * Reports the small edits' latency (edit → content on the other side) with and without the big
 * transfer running, the agent's /healthz round trip meanwhile, and the agent's RSS idle and with
 * 5 open targets. The agent is bin/ksync-agent, which runs the same bundle as the agent image.
 *
 *   node bench/agent-multi-target.ts [--mib 1024]
 */
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  makeAgentFixture,
  rssMiB,
  startAgent,
  writeBigFile,
} from '../test/integration/helpers/agent-process.ts';
import { startAgentSession, type AgentSession } from '../test/integration/helpers/agent-session.ts';
import { percentile, waitForContent } from './helpers.ts';

const { values } = parseArgs({
  options: { mib: { type: 'string', default: '1024' } },
});
const BIG_BYTES = Number(values.mib) * 1024 * 1024;

function summary(label: string, times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  return `${label}: n=${sorted.length}, p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(1)} ms`;
}

/** Small edits local → remote one after another until `until` says stop (or `count` edits). */
async function measureEdits(
  session: AgentSession,
  remoteDir: string,
  stop: { count?: number; until?: () => boolean },
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; stop.count === undefined || i < stop.count; i++) {
    if (stop.until?.() === true) break;
    const content = `edit ${i} ${Math.random()}\n`;
    const started = performance.now();
    await writeFile(join(session.local, 'edited.txt'), content);
    await waitForContent(join(remoteDir, 'edited.txt'), content);
    times.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  return times;
}

/** /healthz round trips every 50 ms until `done()`. */
async function measureHealth(port: number, done: () => boolean): Promise<number[]> {
  const times: number[] = [];
  while (!done()) {
    const started = performance.now();
    await (await fetch(`http://127.0.0.1:${port}/healthz`)).text();
    times.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return times;
}

const fixture = await makeAgentFixture();
const agent = await startAgent({ root: fixture.root, tokenFile: fixture.tokenFile });
const agentPid = agent.child.pid as number;
const sessions: AgentSession[] = [];
const open = async (root: string) => {
  const s = await startAgentSession({ url: agent.url, token: fixture.token, remoteRoot: root });
  sessions.push(s);
  return s;
};
try {
  await new Promise((resolve) => setTimeout(resolve, 2000));
  console.log(`agent RSS idle: ${(await rssMiB(agentPid))?.toFixed(1)} MiB`);

  const small = await open('/small');
  const big = await open('/big');
  for (const root of ['/t3', '/t4', '/t5']) await open(root);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  console.log(
    `agent RSS with ${sessions.length} open targets: ${(await rssMiB(agentPid))?.toFixed(1)} MiB`,
  );
  const smallRemote = join(fixture.root, 'small');
  await writeFile(join(small.local, 'edited.txt'), 'start\n');
  await waitForContent(join(smallRemote, 'edited.txt'), 'start\n');
  console.log(
    summary('small edits, quiet agent', await measureEdits(small, smallRemote, { count: 100 })),
  );

  const bigRemote = join(fixture.root, 'big/big.bin');
  await writeBigFile(join(big.local, 'big.bin'), BIG_BYTES, 7);
  const started = performance.now();
  let landed = false;
  const landing = (async () => {
    for (;;) {
      const size = (await stat(bigRemote).catch(() => undefined))?.size;
      if (size === BIG_BYTES) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    landed = true;
  })();
  const [edits, health] = await Promise.all([
    measureEdits(small, smallRemote, { until: () => landed }),
    measureHealth(agent.port, () => landed),
    landing,
  ]);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `big file: ${values.mib} MiB local → remote in ${seconds.toFixed(1)} s (${(BIG_BYTES / 1024 / 1024 / seconds).toFixed(0)} MiB/s), meanwhile:`,
  );
  console.log(summary('  small edits on the other target', edits));
  console.log(summary('  agent /healthz round trip', health));

  console.log(`agent RSS after the transfer: ${(await rssMiB(agentPid))?.toFixed(1)} MiB`);
} finally {
  for (const s of sessions) await s.stop();
  await agent.stop('SIGTERM');
  await fixture.cleanup();
}
