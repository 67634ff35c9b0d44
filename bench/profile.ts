/**
 * Profiling ksync, not optimizing it: the daemon and the agent run with `--cpu-prof` through a
 * message-counting proxy for the first sync of the medium tree, edits with the large tree
 * watched, a burst of changed files, a big file moved local → remote, and a no-op restart of the
 * large tree (one scenario per goal of issue 11 that is about time). Each profile is cut to the
 * measured window (V8's sample times and `process.hrtime` share the monotonic clock) and summed
 * up as top self-time functions.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBigFile } from '../test/integration/helpers/agent-process.ts';
import { createPair, ksyncTool, type Pair, type Running } from './drivers.ts';
import {
  sleep,
  TIMEOUT_MS,
  timeUntilContent,
  treePath,
  waitForAll,
  waitForSize,
  writeTree,
} from './measure.ts';
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
    const where = sourceOf(frame?.url ?? '', (frame?.lineNumber ?? 0) + 1);
    const key = `${name}\t${where}`;
    self.set(key, (self.get(key) ?? 0) + 1);
    const file =
      where === ''
        ? name.startsWith('(')
          ? name
          : '(native: fs, crypto, …)'
        : moduleOf(where.replace(/:\d+$/, ''));
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

/** Per bundle file, the first line of each module esbuild put in it, in order. */
const bundles = new Map<string, { line: number; module: string }[]>();

/**
 * Where a frame's code comes from, repository-relative, as `file:line`: in a bundle (`bin/` runs
 * packages/cli/dist), the module esbuild marked with a `// path` comment above the line (no
 * line: the bundle's lines are not the source's); elsewhere the file and line as they are.
 */
function sourceOf(fileUrl: string, line: number): string {
  const plain = fileUrl.replace(/^file:\/\/.*?\/(packages|node_modules)\//, '$1/');
  if (!fileUrl.startsWith('file://') || !fileUrl.endsWith('.mjs'))
    return plain === '' ? '' : `${plain}:${line}`;
  let modules = bundles.get(fileUrl);
  if (modules === undefined) {
    modules = [];
    for (const [i, text] of readFileSync(fileURLToPath(fileUrl), 'utf8').split('\n').entries()) {
      const marked = /^\/\/ ((?:packages|node_modules)\/\S+)$/.exec(text);
      if (marked !== null) modules.push({ line: i + 1, module: marked[1] as string });
    }
    bundles.set(fileUrl, modules);
  }
  const module = modules.findLast((m) => m.line <= line);
  return module === undefined ? `${plain}:${line}` : module.module;
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
    begin: () => Promise<Running>,
  ) => Promise<{ from: number; to: number }>,
  options: { scenario: string; outDir: string },
): Promise<ProfileSummary[]> {
  const work = await mkdtemp(join(tmpdir(), 'ksync-bench-profile-'));
  const dir = join(options.outDir, 'profiles', options.scenario.replace(/\W+/g, '-'));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  let counter: Awaited<ReturnType<typeof startCounter>> | undefined;
  const tool = ksyncTool({
    nodeOptions: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    via: async (url) => {
      counter = await startCounter(url);
      return counter.url;
    },
  });
  const pair = await createPair(tool, work);
  writeTree(pair.local, files);
  const prepared = await tool.prepare(pair);
  let running: Running | undefined;
  let window: { from: number; to: number };
  try {
    window = await body(pair, (counter as { counts: Counts }).counts, async () => {
      running = await prepared.begin();
      await running.flush();
      return running;
    });
  } finally {
    await prepared.close();
    await counter?.close();
    await rm(work, { recursive: true, force: true });
  }
  const summaries: ProfileSummary[] = [];
  const names = await readdir(dir);
  // Read after the body: a restart in it replaced the daemon, whose profile is the measured one.
  for (const [process, pid] of Object.entries(running?.pids() ?? {})) {
    const name = names.find((n) => n.includes(`.${pid}.`));
    if (name === undefined)
      throw new Error(`no CPU profile of the ${process} (pid ${pid}) in ${dir}`);
    const profile = JSON.parse(await readFile(join(dir, name), 'utf8')) as CpuProfile;
    summaries.push(summarize(profile, { ...window, scenario: options.scenario, process }));
  }
  return summaries;
}

/** Profiles each scenario; the raw .cpuprofile files stay under `<outDir>/profiles`. */
export async function profileKsync(options: {
  mediumFiles: number;
  mediumFileBytes: number;
  largeFiles: number;
  burst: number;
  bigMiB: number;
  edits: number;
  outDir: string;
}): Promise<{ profiles: ProfileSummary[]; traffic: Traffic[] }> {
  const traffic: Traffic[] = [];
  const profiles: ProfileSummary[] = [];
  /** Profiles `measured` (after `setUp`) on a tree of `files`, counting its messages. */
  const scenario = async (
    scenario: string,
    files: { files: number; fileBytes: number },
    setUp: (pair: Pair, begin: () => Promise<Running>) => Promise<Running | undefined>,
    measured: (
      pair: Pair,
      running: Running | undefined,
      begin: () => Promise<Running>,
    ) => Promise<void>,
  ) => {
    console.log(`profile: ${scenario}`);
    profiles.push(
      ...(await profiled(
        files,
        async (pair, counts, begin) => {
          const running = await setUp(pair, begin);
          const before = { ...counts };
          const from = now();
          await measured(pair, running, begin);
          const to = now();
          traffic.push(delta(before, counts, scenario));
          return { from, to };
        },
        { scenario, outDir: options.outDir },
      )),
    );
  };
  const medium = { files: options.mediumFiles, fileBytes: options.mediumFileBytes };
  const large = { files: options.largeFiles, fileBytes: 1024 };
  const settled = async (_pair: Pair, begin: () => Promise<Running>) => {
    const running = await begin();
    await sleep(2_000);
    return running;
  };

  await scenario(
    `first sync, ${options.mediumFiles} files`,
    medium,
    async () => undefined,
    async (_pair, _running, begin) => {
      await begin();
    },
  );
  await scenario(
    `${options.edits} edits, ${options.largeFiles} files watched`,
    large,
    settled,
    async (pair) => {
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
    },
  );
  await scenario(`burst of ${options.burst} files`, medium, settled, async (pair) => {
    const content = (i: number) => `profile burst ${i}\n`;
    const paths = Array.from({ length: options.burst }, (_, i) => treePath(i));
    for (const [i, path] of paths.entries()) await writeFile(join(pair.local, path), content(i));
    await waitForAll(
      paths.map((path) => join(pair.remote, path)),
      content,
      TIMEOUT_MS,
    );
  });
  const bytes = options.bigMiB * 1024 * 1024;
  await scenario(
    `${options.bigMiB} MiB file, local → remote`,
    { files: 0, fileBytes: 0 },
    async (pair, begin) => {
      await writeBigFile(join(pair.work, 'big'), bytes, 0);
      return settled(pair, begin);
    },
    async (pair) => {
      await rename(join(pair.work, 'big'), join(pair.local, 'big'));
      await waitForSize(join(pair.remote, 'big'), bytes, TIMEOUT_MS);
    },
  );
  await scenario(
    `no-op restart, ${options.largeFiles} files`,
    large,
    settled,
    async (_pair, running) => {
      await running?.restart();
      await running?.flush();
    },
  );
  return { profiles, traffic };
}
