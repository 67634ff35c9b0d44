/**
 * Agent benchmark: single-file edit latency through the real agent process with a running
 * session (watchers on both sides), local → remote and remote → local, and the initial sync of a
 * 10k-file tree with the RSS of both processes.
 *
 *   node bench/agent-latency.ts [--edits 100] [--files 10000]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  makeAgentFixture,
  peakRssMiB,
  rssMiB,
  startAgent,
} from '../test/integration/helpers/agent-process.ts';
import { startAgentSession } from '../test/integration/helpers/agent-session.ts';
import { percentile, waitForContent } from './helpers.ts';

const { values } = parseArgs({
  options: {
    edits: { type: 'string', default: '100' },
    files: { type: 'string', default: '10000' },
  },
});
const EDITS = Number(values.edits);
const FILES = Number(values.files);

async function measureEdits(from: string, to: string, label: string): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < EDITS; i++) {
    const content = `${label} edit ${i} ${Math.random()}\n`;
    const started = performance.now();
    await writeFile(join(from, 'edited.txt'), content);
    await waitForContent(join(to, 'edited.txt'), content);
    times.push(performance.now() - started);
    // Let both sides settle, so every edit is measured from a quiet state.
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  times.sort((a, b) => a - b);
  console.log(
    `${label}: ${EDITS} edits, p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms, max ${(times.at(-1) ?? NaN).toFixed(1)} ms`,
  );
}

const fixture = await makeAgentFixture();
const agent = await startAgent({ root: fixture.root, tokenFile: fixture.tokenFile });
const agentPid = agent.child.pid as number;
try {
  // 1. Edit latency with a running session.
  await mkdir(join(fixture.root, 'latency'));
  const live = await startAgentSession({
    url: agent.url,
    token: fixture.token,
    remoteRoot: '/latency',
  });
  const remoteLatency = join(fixture.root, 'latency');
  await writeFile(join(live.local, 'edited.txt'), 'start\n');
  await waitForContent(join(remoteLatency, 'edited.txt'), 'start\n');
  await measureEdits(live.local, remoteLatency, 'local → remote');
  await measureEdits(remoteLatency, live.local, 'remote → local');
  await live.stop();

  // 2. Initial sync of a FILES-file tree (100 files per directory, 1 KiB each).
  await mkdir(join(fixture.root, 'tree'));
  const tree = await startAgentSession({
    url: agent.url,
    token: fixture.token,
    remoteRoot: '/tree',
    run: false,
  });
  for (let d = 0; d < Math.ceil(FILES / 100); d++) {
    const dir = join(tree.local, `dir${d}`);
    await mkdir(dir);
    for (let f = 0; f < 100 && d * 100 + f < FILES; f++) {
      await writeFile(join(dir, `file${f}.txt`), `${d}/${f} ${'x'.repeat(1000)}\n`);
    }
  }
  let agentRssMax = 0;
  let clientRssMax = 0;
  const sampler = setInterval(() => {
    void rssMiB(agentPid).then((v) => (agentRssMax = Math.max(agentRssMax, v ?? 0)));
    void rssMiB(process.pid).then((v) => (clientRssMax = Math.max(clientRssMax, v ?? 0)));
  }, 20);
  const started = performance.now();
  await tree.session.flush();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const status = tree.session.status();
  console.log(
    `initial sync of ${status.files} files in ${status.directories} directories local → remote: ${seconds.toFixed(2)} s ` +
      `(${status.transferredFiles} files, ${(status.transferredBytes / 1024 / 1024).toFixed(1)} MiB sent)`,
  );
  console.log(
    `RSS during it (sampled every 20 ms): agent max ${agentRssMax.toFixed(0)} MiB (peak ever ${(await peakRssMiB(agentPid))?.toFixed(0)} MiB), ` +
      `client max ${clientRssMax.toFixed(0)} MiB (peak ever ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB)`,
  );
  // A second, no-op full cycle: the cost of a full rescan of both sides through the agent.
  const again = performance.now();
  await tree.session.cycle({ full: true });
  console.log(
    `full rescan of both sides, nothing to do: ${(performance.now() - again).toFixed(0)} ms`,
  );
  await tree.stop();
} finally {
  await agent.stop('SIGTERM');
  await fixture.cleanup();
}
