/**
 * Profiling ksync, not optimizing it: the daemon and the agent run with `--cpu-prof` through a
 * message-counting proxy for (1) the first sync of the medium tree and (2) edits with the large
 * tree watched. Each profile is cut to the measured window (V8's sample times and
 * `process.hrtime` share the monotonic clock) and summed up as top self-time functions.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ksyncTool, type Pair } from './drivers.ts';
import { sleep, timeUntilContent, writeTree } from './measure.ts';
import type { ProfileSummary, Traffic } from './results.ts';
import { startCounter, type Counts } from './ws-counter.ts';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Microseconds on the monotonic clock. */
const now = () => Number(process.hrtime.bigint() / 1000n);

/** Top self-time functions of `profile` between `from` and `to` (µs, monotonic). */
export function summarize(
  profile: CpuProfile,
  window: { from: number; to: number; scenario: string; process: string },
): ProfileSummary {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  let time = profile.startTime;
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    time += profile.timeDeltas[i] ?? 0;
    if (time < window.from || time > window.to) return;
    const frame = frames.get(id);
    const name = frame?.functionName || '(anonymous)';
    total++;
    if (name === '(idle)') {
      idle++;
      return;
    }
    const url = (frame?.url ?? '').replace(/^file:\/\/.*?\/(packages|node_modules)\//, '$1/');
    const key = `${name}\t${url === '' ? '' : `${url}:${(frame?.lineNumber ?? 0) + 1}`}`;
    self.set(key, (self.get(key) ?? 0) + 1);
    const file =
      url === '' ? (name.startsWith('(') ? name : '(native: fs, crypto, …)') : moduleOf(url);
    byFile.set(file, (byFile.get(file) ?? 0) + 1);
  });
  const top = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)
    .map(([key, count]) => {
      const [name, where] = key.split('\t') as [string, string];
      return { name, where, percent: (100 * count) / Math.max(1, total) };
    });
  const files = [...byFile]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([file, count]) => ({ file, percent: (100 * count) / Math.max(1, total) }));
  return {
    scenario: window.scenario,
    process: window.process,
    wallSeconds: (window.to - window.from) / 1e6,
    busyPercent: (100 * (total - idle)) / Math.max(1, total),
    top,
    files,
  };
}

/** A file of ours, a dependency's package, or a Node internal area. */
function moduleOf(url: string): string {
  const dependency = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency !== null) return `node_modules/${dependency[1]}`;
  if (url.startsWith('node:')) return url.replace(/^(node:(?:internal\/)?[^/]+).*/, '$1');
  return url;
}

const delta = (before: Counts, after: Counts, scenario: string): Traffic => ({
  scenario,
  framesToAgent: after.framesToAgent - before.framesToAgent,
  framesFromAgent: after.framesFromAgent - before.framesFromAgent,
  bytesToAgent: after.bytesToAgent - before.bytesToAgent,
  bytesFromAgent: after.bytesFromAgent - before.bytesFromAgent,
});

/** Runs `body` with a profiled ksync pair on a tree; returns the profiles of agent and daemon. */
async function profiled(
  files: { files: number; fileBytes: number },
  body: (
    pair: Pair,
    counts: Counts,
    begin: () => Promise<void>,
  ) => Promise<{ from: number; to: number }>,
  options: { scenario: string; outDir: string },
): Promise<ProfileSummary[]> {
  const work = await mkdtemp(join(tmpdir(), 'ksync-bench-profile-'));
  const dir = join(options.outDir, 'profiles', options.scenario.replace(/\W+/g, '-'));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const pair: Pair = { local: join(work, 'local'), remote: join(work, 'agent', 'r'), work };
  await mkdir(pair.local);
  await mkdir(pair.remote, { recursive: true });
  writeTree(pair.local, files);
  let counter: Awaited<ReturnType<typeof startCounter>> | undefined;
  const tool = ksyncTool({
    nodeOptions: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    via: async (url) => {
      counter = await startCounter(url);
      return counter.url;
    },
  });
  const prepared = await tool.prepare(pair);
  let pids: Record<string, number> = {};
  let window: { from: number; to: number };
  try {
    window = await body(pair, (counter as { counts: Counts }).counts, async () => {
      const running = await prepared.begin();
      pids = running.pids();
      await running.flush();
    });
  } finally {
    await prepared.close();
    await counter?.close();
    await rm(work, { recursive: true, force: true });
  }
  const summaries: ProfileSummary[] = [];
  const names = await readdir(dir);
  for (const [process, pid] of Object.entries(pids)) {
    const name = names.find((n) => n.includes(`.${pid}.`));
    if (name === undefined)
      throw new Error(`no CPU profile of the ${process} (pid ${pid}) in ${dir}`);
    const profile = JSON.parse(await readFile(join(dir, name), 'utf8')) as CpuProfile;
    summaries.push(summarize(profile, { ...window, scenario: options.scenario, process }));
  }
  return summaries;
}

/** Profiles the two scenarios; the raw .cpuprofile files stay under `<outDir>/profiles`. */
export async function profileKsync(options: {
  mediumFiles: number;
  mediumFileBytes: number;
  largeFiles: number;
  edits: number;
  outDir: string;
}): Promise<{ profiles: ProfileSummary[]; traffic: Traffic[] }> {
  const traffic: Traffic[] = [];
  const firstName = `first sync, ${options.mediumFiles} files`;
  console.log(`profile: ${firstName}`);
  const first = await profiled(
    { files: options.mediumFiles, fileBytes: options.mediumFileBytes },
    async (_pair, counts, begin) => {
      const from = now();
      const before = { ...counts };
      await begin();
      traffic.push(delta(before, counts, firstName));
      return { from, to: now() };
    },
    { scenario: firstName, outDir: options.outDir },
  );
  const editName = `${options.edits} edits, ${options.largeFiles} files watched`;
  console.log(`profile: ${editName}`);
  const edit = await profiled(
    { files: options.largeFiles, fileBytes: 1024 },
    async (pair, counts, begin) => {
      await begin();
      await sleep(2_000);
      const before = { ...counts };
      const from = now();
      for (let i = 0; i < options.edits; i++) {
        const content = `profile edit ${i}\n`;
        const started = performance.now();
        await writeFile(join(pair.local, 'd0', 'edited.txt'), content);
        await timeUntilContent(join(pair.remote, 'd0', 'edited.txt'), content, {
          started,
          timeoutMs: 60_000,
        });
        await sleep(100);
      }
      const to = now();
      traffic.push(delta(before, counts, editName));
      return { from, to };
    },
    { scenario: editName, outDir: options.outDir },
  );
  return { profiles: [...first, ...edit], traffic };
}
