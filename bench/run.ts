/**
 * The benchmark harness (`make bench`): runs every scenario of issue 11 for ksync and for the
 * baselines in the same run, alternating the order each round, and writes the raw results
 * (`<out>/results.json`), the plots (`<doc-dir>/bench-*.svg`) and `<doc-dir>/benchmarks.md`.
 *
 *   node bench/run.ts [--quick] [--rounds N] [--large-rounds N] [--large N] [--scaling 1000,10000]
 *                     [--big-mib N] [--idle-seconds N] [--no-mutagen] [--no-kube] [--profile] [--out DIR]
 *                     [--doc-dir DIR] [--only startup,small,medium,scaling,big,large,cluster,profile]
 *   node bench/run.ts --report bench/out/results.json[,other.json]   (rewrites the doc and plots
 *     only; samples of other runs, e.g. `--only cluster` when the cluster lock was free, are added)
 *
 * ksync runs in direct mode: the real `bin/ksync watch --daemon` and the real `bin/ksync-agent`
 * on a loopback port. When KUBECONFIG points at a running local cluster (`make cluster-up`), it
 * also runs as `ksync-kube` through the Kubernetes transport (port-forward to the agent
 * DaemonSet, syncing a directory of a pod; skipped by `--no-kube`), and the cluster baselines
 * run. Mutagen v0.18.1 runs local to local (two-way-resolved) with a private
 * daemon; bench/mutagen.sh builds it on demand outside the repository (skipped by
 * `--no-mutagen`, and in `--quick` mode unless it is already built).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { hashFileHex, REPO, writeBigFile } from '../test/integration/helpers/agent-process.ts';
import { clusterBaselines, clusterUnavailable } from './cluster.ts';
import {
  buildMutagen,
  createPair,
  ksyncTool,
  mutagenTool,
  startKsyncKube,
  type Pair,
  type Running,
  type Tool,
} from './drivers.ts';
import {
  cpuSeconds,
  flipByte,
  rssMiB,
  sampleRss,
  sleep,
  TIMEOUT_MS,
  timeUntilContent,
  treePath,
  waitForAll,
  waitForByte,
  waitForSize,
  writeTree,
  type TreeShape,
} from './measure.ts';
import { profileKsync } from './profile.ts';
import { writeReport } from './report.ts';
import { mergeResults, type Params, type Results, type Sample } from './results.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'large-rounds': { type: 'string' },
    large: { type: 'string' },
    scaling: { type: 'string' },
    'big-mib': { type: 'string' },
    'idle-seconds': { type: 'string' },
    'no-mutagen': { type: 'boolean', default: false },
    'no-kube': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    out: { type: 'string' },
    report: { type: 'string' },
    only: { type: 'string' },
    'doc-dir': { type: 'string' },
  },
});
const quick = values.quick;
const number = (text: string | undefined, full: number, small: number): number => {
  const value = text === undefined ? (quick ? small : full) : Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`not a number: ${text}`);
  return value;
};
const params: Params = {
  quick,
  rounds: number(values.rounds, 3, 1),
  largeRounds: number(values['large-rounds'], 2, 1),
  smallFiles: quick ? 20 : 100,
  edits: quick ? 6 : 30,
  mediumFiles: quick ? 500 : 10_000,
  mediumFileBytes: 10_240,
  burst: quick ? 100 : 5_000,
  largeFiles: number(values.large, 100_000, 2_000),
  // With the large tree (100k) the curve has the four sizes of issue 11.
  scaling: (values.scaling ?? (quick ? '200,1000' : '1000,10000,300000')).split(',').map(Number),
  idleSeconds: number(values['idle-seconds'], 30, 3),
  bigMiB: number(values['big-mib'], 1024, 16),
};
/** Whether `--only` (comma-separated: startup, small, medium, scaling, big, large, cluster, profile) keeps a scenario. */
const wanted = (scenario: string) =>
  values.only === undefined || values.only.split(',').includes(scenario);
const outDir = resolve(values.out ?? join(REPO, 'bench/out'));
const docDir = resolve(
  values['doc-dir'] ?? (values.out !== undefined ? outDir : join(REPO, 'docs')),
);
/** How many times each command of the startup scenario runs per round. */
const STARTUP_REPEATS = 5;

const samples: Sample[] = [];
const notRun: string[] = [];
const failures: string[] = [];
const record = (sample: Sample) => {
  samples.push(sample);
  const parts = sample.parts === undefined ? '' : ` ${JSON.stringify(sample.parts)}`;
  console.log(
    `  ${sample.tool} ${sample.row} r${sample.round}: ${+sample.value.toFixed(3)}${parts}`,
  );
};

/** Sums per-process values. */
const sum = (parts: Record<string, number>) => Object.values(parts).reduce((a, b) => a + b, 0);

/** A fresh pair with `shape` written on the local side, prepared for `tool`; always cleaned up. */
async function withPair(
  tool: Tool,
  shape: TreeShape | undefined,
  body: (pair: Pair, begin: () => Promise<Running>) => Promise<void>,
): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), `ksync-bench-${tool.name}-`));
  const pair = await createPair(tool, work);
  try {
    if (shape !== undefined) writeTree(pair.local, shape);
    const prepared = await tool.prepare(pair);
    try {
      await body(pair, () => prepared.begin());
    } finally {
      await prepared.close();
    }
  } finally {
    await rm(pair.remoteWork, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}

/** Times `begin` + the first flush; records seconds and the peak RSS (sum of processes). */
async function firstSync(
  tool: Tool,
  begin: () => Promise<Running>,
  rows: { round: number; time: string[]; memory?: string },
): Promise<Running> {
  const holder: { running?: Running } = {};
  const sampler = sampleRss(() => holder.running?.pids() ?? {});
  const started = performance.now();
  const running = await begin();
  holder.running = running;
  await running.flush();
  const seconds = (performance.now() - started) / 1000;
  const peaks = await sampler.stop();
  for (const row of rows.time) record({ row, tool: tool.name, round: rows.round, value: seconds });
  if (rows.memory !== undefined) {
    record({
      row: rows.memory,
      tool: tool.name,
      round: rows.round,
      value: sum(peaks),
      parts: peaks,
    });
  }
  return running;
}

/** Edit → other side latencies in ms, alternating directions, 100 ms apart. */
async function edits(
  pair: Pair,
  options: { dir: string; count: number; tag: string },
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < options.count; i++) {
    const [from, to] = i % 2 === 0 ? [pair.local, pair.remote] : [pair.remote, pair.local];
    const content = `${options.tag} edit ${i} ${Math.random()}\n`;
    const started = performance.now();
    await writeFile(join(from, options.dir, 'edited.txt'), content);
    times.push(
      await timeUntilContent(join(to, options.dir, 'edited.txt'), content, {
        started,
        timeoutMs: TIMEOUT_MS,
      }),
    );
    await sleep(100);
  }
  return times;
}

/** A small tree: the first edit after a start, then edit latency both ways. */
async function small(tool: Tool, round: number): Promise<void> {
  await withPair(tool, { files: params.smallFiles, fileBytes: 1024 }, async (pair, begin) => {
    const running = await begin();
    await running.flush();
    const [first] = await edits(pair, { dir: '', count: 1, tag: 'first' });
    record({ row: 'edit-first-small', tool: tool.name, round, value: first as number });
    for (const value of await edits(pair, { dir: '', count: params.edits, tag: 'small' })) {
      record({ row: 'edit-small', tool: tool.name, round, value });
    }
  });
}

/**
 * The fixed cost of starting a process: the version command, listing the syncs while one runs,
 * and the first file of a one-file tree on the other side, timed from starting the sync (for
 * ksync that includes starting its watch daemon, for Mutagen its daemon already runs).
 */
async function startup(tool: Tool, round: number): Promise<void> {
  const times = async (row: string, body: () => Promise<void>) => {
    for (let i = 0; i < STARTUP_REPEATS; i++) {
      const started = performance.now();
      await body();
      record({ row, tool: tool.name, round, value: performance.now() - started });
    }
  };
  await times('start-version', () => tool.version());
  await withPair(tool, { files: 1, fileBytes: 1024 }, async (pair, begin) => {
    const started = performance.now();
    const running = await begin();
    await waitForSize(join(pair.remote, treePath(0)), 1024, TIMEOUT_MS);
    record({ row: 'start-first-byte', tool: tool.name, round, value: performance.now() - started });
    await running.flush();
    await times('start-list', () => running.list());
  });
}

/** 10k files of 10 KiB: first sync, then a burst of changed files. */
async function medium(tool: Tool, round: number): Promise<void> {
  const shape = { files: params.mediumFiles, fileBytes: params.mediumFileBytes };
  await withPair(tool, shape, async (pair, begin) => {
    const running = await firstSync(tool, begin, { round, time: ['first-medium'] });
    // The remote side had nothing, so every file it hashes is one it wrote itself and could not
    // trust (a racily clean record, stat-cache.ts): the cost of that rule in this scenario.
    const rehashed = async (row: string) => {
      const files = await running.remoteHashedFiles();
      if (files !== undefined) record({ row, tool: tool.name, round, value: files });
    };
    await rehashed('first-medium-hashed');
    const filler = 'y'.repeat(params.mediumFileBytes - 40);
    const content = (i: number) => `burst ${round} ${i}\n${filler}`;
    const paths = Array.from({ length: params.burst }, (_, i) => treePath(i));
    const started = performance.now();
    for (const [i, path] of paths.entries()) await writeFile(join(pair.local, path), content(i));
    await waitForAll(
      paths.map((path) => join(pair.remote, path)),
      content,
      TIMEOUT_MS,
    );
    record({ row: 'burst', tool: tool.name, round, value: (performance.now() - started) / 1000 });
    await running.flush();
    await rehashed('burst-hashed');
  });
}

/** One point of the scaling curve: first sync of `files` files of 1 KiB, time and peak RSS. */
async function scaling(tool: Tool, round: number, files: number): Promise<void> {
  await withPair(tool, { files, fileBytes: 1024 }, async (_pair, begin) => {
    await firstSync(tool, begin, {
      round,
      time: [`scale-time:${files}`],
      memory: `scale-mem:${files}`,
    });
  });
}

/** 100k files: first sync, edits while watching them, idle CPU and memory, a no-op restart. */
async function large(tool: Tool, round: number): Promise<void> {
  const files = params.largeFiles;
  await withPair(tool, { files, fileBytes: 1024 }, async (pair, begin) => {
    const running = await firstSync(tool, begin, {
      round,
      time: ['first-large', `scale-time:${files}`],
      memory: `scale-mem:${files}`,
    });
    const dir = `d${Math.floor(files / 200)}`;
    const [first] = await edits(pair, { dir, count: 1, tag: 'first' });
    record({ row: 'edit-first-large', tool: tool.name, round, value: first as number });
    for (const value of await edits(pair, { dir, count: params.edits, tag: 'large' })) {
      record({ row: 'edit-large', tool: tool.name, round, value });
    }
    await running.flush();
    await sleep(2_000);
    const pids = running.pids();
    const before = await Promise.all(Object.values(pids).map(cpuSeconds));
    await sleep(params.idleSeconds * 1000);
    const after = await Promise.all(Object.values(pids).map(cpuSeconds));
    const cpu: Record<string, number> = {};
    const memory: Record<string, number> = {};
    for (const [i, [name, pid]] of Object.entries(pids).entries()) {
      cpu[name] = (((after[i] ?? 0) - (before[i] ?? 0)) * 60) / params.idleSeconds;
      memory[name] = await rssMiB(pid);
    }
    record({ row: 'idle-cpu', tool: tool.name, round, value: sum(cpu), parts: cpu });
    record({ row: 'mem-large', tool: tool.name, round, value: sum(memory), parts: memory });
    const wireBefore = await running.wireBytes();
    const started = performance.now();
    await running.restart();
    await running.flush();
    record({
      row: 'restart-large',
      tool: tool.name,
      round,
      value: (performance.now() - started) / 1000,
    });
    const wireAfter = await running.wireBytes();
    if (wireBefore !== undefined && wireAfter !== undefined) {
      // The restart opens a new connection; the old one's bytes are gone from `ss`.
      record({ row: 'restart-wire', tool: tool.name, round, value: wireAfter / 1e6 });
    }
  });
}

/** Moves a big file each way (throughput, peak RSS), then changes one byte of it. */
async function big(tool: Tool, round: number): Promise<void> {
  const bytes = params.bigMiB * 1024 * 1024;
  await withPair(tool, undefined, async (pair, begin) => {
    const running = await begin();
    await running.flush();
    const peaks: Record<string, number> = {};
    for (const [row, from, to, name, stage] of [
      ['big-up', pair.local, pair.remote, 'big-a', pair.work],
      ['big-down', pair.remote, pair.local, 'big-b', pair.remoteWork],
    ] as const) {
      // Staged on the same filesystem as its side, so it appears there whole by one rename.
      const staged = join(stage, name);
      await writeBigFile(staged, bytes, round);
      const sampler = sampleRss(() => running.pids());
      const started = performance.now();
      await rename(staged, join(from, name));
      await waitForSize(join(to, name), bytes, TIMEOUT_MS);
      const seconds = (performance.now() - started) / 1000;
      for (const [process, peak] of Object.entries(await sampler.stop())) {
        peaks[process] = Math.max(peaks[process] ?? 0, peak);
      }
      if ((await hashFileHex(join(from, name))) !== (await hashFileHex(join(to, name)))) {
        throw new Error(`${tool.name}: ${name} differs after the transfer`);
      }
      record({ row, tool: tool.name, round, value: params.bigMiB / seconds });
      await running.flush();
    }
    record({
      row: 'mem-big',
      tool: tool.name,
      round,
      value: Math.max(...Object.values(peaks)),
      parts: peaks,
    });
    const wireBefore = await running.wireBytes();
    const offset = Math.floor(bytes / 2);
    const started = performance.now();
    const value = await flipByte(join(pair.local, 'big-a'), offset);
    await waitForByte(join(pair.remote, 'big-a'), { offset, value, timeoutMs: TIMEOUT_MS });
    record({
      row: 'delta-time',
      tool: tool.name,
      round,
      value: (performance.now() - started) / 1000,
    });
    await running.flush();
    const wireAfter = await running.wireBytes();
    if (wireBefore !== undefined && wireAfter !== undefined) {
      record({ row: 'delta-wire', tool: tool.name, round, value: (wireAfter - wireBefore) / 1e6 });
    }
  });
}

function machineFacts(): { go: string; loadBefore: string } {
  let go = 'not installed';
  try {
    go = execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    // reported as such
  }
  return {
    go,
    loadBefore: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
}

/** Runs every scenario (and the profiles, with `--profile`); the results. */
async function measure(): Promise<Results> {
  const startedAt = new Date();
  const facts = machineFacts();
  const tools: Tool[] = [ksyncTool()];
  const mutagenBinary = join(
    process.env.KSYNC_CACHE ?? join(process.env.HOME ?? '/root', '.cache/ksync'),
    'mutagen-v0.18.1/mutagen',
  );
  if (values['no-mutagen']) notRun.push('Mutagen: not run (`--no-mutagen`).');
  else if (quick && !existsSync(mutagenBinary))
    notRun.push('Mutagen: not run (`--quick` and not built; run bench/mutagen.sh).');
  else tools.push(mutagenTool(await buildMutagen()));
  const clusterWhy = await clusterUnavailable();
  if (clusterWhy !== undefined) {
    notRun.push(
      `Cluster baselines (\`kubectl cp\`, tar over \`kubectl exec\`, \`kubectl exec -i\` stdin): not run (${clusterWhy}).`,
    );
  }
  if (values['no-kube']) notRun.push('ksync-kube (through port-forward): not run (`--no-kube`).');
  else if (clusterWhy !== undefined)
    notRun.push(`ksync-kube (through port-forward): not run (${clusterWhy}).`);
  const kube = values['no-kube'] || clusterWhy !== undefined ? undefined : await startKsyncKube();
  if (kube !== undefined) tools.push(kube.tool);

  console.log(`bench: ${tools.map((t) => t.name).join(' vs ')}, ${JSON.stringify(params)}`);
  // The kube tool's namespace goes however the rounds end.
  try {
    for (let round = 0; round < params.rounds; round++) {
      const order = round % 2 === 0 ? tools : [...tools].reverse();
      const scenarios: [string, (tool: Tool) => Promise<void>][] = [
        ['startup', (tool) => startup(tool, round)],
        ['small tree', (tool) => small(tool, round)],
        ['medium tree', (tool) => medium(tool, round)],
        // A point at least as big as the large tree is a large scenario: it runs in those rounds.
        ...params.scaling
          .filter((files) => files < params.largeFiles || round < params.largeRounds)
          .map((files): [string, (tool: Tool) => Promise<void>] => [
            `scaling ${files}`,
            (tool) => scaling(tool, round, files),
          ]),
        ['big file', (tool) => big(tool, round)],
      ];
      if (round < params.largeRounds) scenarios.push(['large tree', (tool) => large(tool, round)]);
      if (clusterWhy === undefined && wanted('cluster')) {
        console.log(`round ${round + 1}/${params.rounds}: cluster baselines`);
        await clusterBaselines({
          edits: Math.ceil(params.edits / 3),
          medium: { files: params.mediumFiles, fileBytes: params.mediumFileBytes },
          bigMiB: params.bigMiB,
          record: (row, value) => record({ row, tool: 'cluster', round, value }),
        });
      }
      for (const [name, scenario] of scenarios.filter(([name]) =>
        wanted(name.split(' ')[0] as string),
      )) {
        for (const tool of order) {
          console.log(
            `round ${round + 1}/${params.rounds}: ${name}, ${tool.name} (load ${loadavg()[0]?.toFixed(2)})`,
          );
          try {
            await scenario(tool);
          } catch (error) {
            // One failed scenario must not lose the rest of a long run; the doc lists it.
            const failure = `${name}, ${tool.name}, round ${round + 1}: failed: ${String(error).split('\n')[0]}`;
            console.log(`  ${failure}`);
            failures.push(failure);
          }
        }
      }
    }
  } finally {
    await kube?.close();
  }
  const profiled =
    values.profile && wanted('profile')
      ? await profileKsync({ ...params, edits: quick ? 3 : 10, outDir })
      : { profiles: [], traffic: [] };

  return {
    machine: {
      date: startedAt.toISOString(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: totalmem() / 2 ** 30,
      kernel: release(),
      node: process.version,
      go: facts.go,
      loadBefore: facts.loadBefore,
      loadAfter: loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
      minutes: (Date.now() - startedAt.getTime()) / 60_000,
    },
    params,
    tools: tools.map((t) => t.name),
    samples,
    notRun,
    failures,
    ...profiled,
  };
}

/** Saved results, the first file's run with the samples of the others added. */
async function loadResults(files: string): Promise<Results> {
  const [first, ...others] = await Promise.all(
    files.split(',').map(async (file) => JSON.parse(await readFile(file, 'utf8')) as Results),
  );
  return mergeResults(first as Results, others);
}

const results = values.report === undefined ? await measure() : await loadResults(values.report);
if (values.report === undefined) {
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
}
const written = await writeReport(results, docDir);
console.log(`bench: wrote ${written.join(', ')}`);
