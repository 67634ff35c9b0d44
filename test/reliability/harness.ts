/**
 * A reliability run on the real local cluster, driven through `bin/ksync` the way a user drives
 * it: one sync (`rel`) by selector between a local directory on a small tmpfs of its own and
 * /data/app in the pod of test/e2e/fixtures/reliability-app.yaml. Phases run one after another;
 * each edits both sides under its own path prefix while one fault strikes, then measures how long
 * until a fresh edit crosses each way again (the recovery), waits for the sync to converge, and
 * asks the oracle whether anything was lost.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { AGENT_SELECTOR, NAMESPACE } from '@ksync/kube';
import {
  REPO_ROOT,
  createNamespace,
  deleteNamespace,
  kubectl,
  readClusterInfo,
  readFixture,
  waitFor,
} from '../e2e/helpers/cluster.ts';
import { daemonPid, runKsync, type CliResult } from '../integration/helpers/cli-process.ts';
import { Editor, seededRandom } from './editor.ts';
import {
  WriteLog,
  digestOf,
  judgeSentinels,
  judgeSync,
  type SavedVersions,
  type Verdict,
} from './oracle.ts';
import { LocalSide, PodSide, underPrefix } from './sides.ts';

const execFileAsync = promisify(execFile);

/** The sync every run creates. */
export const SYNC = 'rel';

/** Everything a fault may touch. */
export interface RunContext {
  readonly namespace: string;
  readonly home: string;
  /** The tmpfs holding the local root, its sentinels and room for a filler file. */
  readonly localBase: string;
  readonly localRoot: string;
  readonly local: LocalSide;
  readonly remote: PodSide;
  readonly log: WriteLog;
  readonly editor: Editor;
  /** Runs `bin/ksync ...args` with this run's KSYNC_HOME. */
  ksync(args: readonly string[], timeoutMs?: number): Promise<CliResult>;
  /** Like `ksync`, but throws unless it exits 0. */
  ksyncOk(args: readonly string[], timeoutMs?: number): Promise<CliResult>;
  /** The watch daemon's pid. */
  daemonPid(): Promise<number>;
  /** `ksync get rel -o json`. */
  view(): Promise<SyncViewJson>;
}

/** The part of `ksync get -o json` the harness reads. */
export interface SyncViewJson {
  state: string;
  error?: string;
  problems: { path: string; message: string; side?: string }[];
  targets?: { pod: string; node: string; state: string; error?: string }[];
}

/** One fault of the matrix. */
export interface Fault {
  readonly name: string;
  /** The row's text in docs/reliability.md. */
  readonly title: string;
  /**
   * Hold container edits and flush before the fault: for faults that replace the container's
   * disk (a deleted pod), where unsynced container writes are lost by the fault itself.
   */
  readonly holdRemote?: boolean;
  /** Strikes, and returns once the cause is gone; the text goes to the report's notes. */
  inject(ctx: RunContext): Promise<string | undefined>;
  /** Puts anything the fault changed back, after the phase was judged. */
  restore?(ctx: RunContext): Promise<void>;
}

/** What one phase found. */
export interface PhaseResult {
  readonly name: string;
  readonly title: string;
  readonly written: number;
  readonly lost: number;
  readonly diverged: number;
  readonly uncertain: number;
  readonly savedByConflict: number;
  readonly unpropagatedDeletions: number;
  /** From the cause gone to a fresh edit seen across both ways; undefined if it never was. */
  readonly recoveryMs: number | undefined;
  readonly note?: string;
  /** Lost or diverged paths, for the report. */
  readonly details: readonly string[];
}

/** Waits `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sets up the namespace, the pod, the tmpfs, the sync and the daemon. */
export async function openRun(options: { seed: number }): Promise<RunContext> {
  const home = await mkdtemp(join(tmpdir(), 'ksync-rel-home-'));
  const localBase = await mkdtemp(join(tmpdir(), 'ksync-rel-local-'));
  await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=192m', 'tmpfs', localBase]);
  const localRoot = join(localBase, 'root');
  await mkdir(join(localBase, 'sentinel', 'deep'), { recursive: true });
  await mkdir(localRoot);
  await writeFile(join(localBase, 'sentinel', 'one'), 'one\n');
  await writeFile(join(localBase, 'sentinel', 'deep', 'two'), 'two\n');

  const namespace = await createNamespace('ksync-rel');
  await kubectl(['-n', namespace, 'apply', '-f', '-'], {
    input: readFixture('reliability-app.yaml'),
  });
  await kubectl(['-n', namespace, 'rollout', 'status', 'deployment/rel', '--timeout=120s'], {
    timeoutMs: 130_000,
  });
  const ksync = (args: readonly string[], timeoutMs = 120_000) =>
    runKsync(args, { home, cwd: REPO_ROOT, timeoutMs });
  const ksyncOk = async (args: readonly string[], timeoutMs?: number) => {
    const r = await ksync(args, timeoutMs);
    if (r.code !== 0) throw new Error(`ksync ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r;
  };
  const log = new WriteLog();
  const local = new LocalSide({ root: localRoot, sentinel: join(localBase, 'sentinel') });
  const remote = new PodSide({
    namespace,
    selector: 'app=rel',
    container: 'app',
    root: '/data/app',
    sentinel: '/data/sentinel',
  });
  const editor = new Editor({
    sides: { local, remote },
    log,
    random: seededRandom(options.seed),
    intervalMs: { local: 150, remote: 400 },
  });
  await ksyncOk(['init']);
  await ksyncOk([
    'create',
    '--name',
    SYNC,
    '-l',
    'app=rel',
    '-n',
    namespace,
    localRoot,
    '/data/app',
  ]);
  await ksyncOk(['watch', '--daemon']);
  await ksyncOk(['flush', SYNC, '--timeout', '90s']);
  return {
    namespace,
    home,
    localBase,
    localRoot,
    local,
    remote,
    log,
    editor,
    ksync,
    ksyncOk,
    async daemonPid() {
      const pid = await daemonPid(home);
      if (pid === undefined) throw new Error('no watch daemon is running');
      return pid;
    },
    async view() {
      return JSON.parse((await ksyncOk(['get', SYNC, '-o', 'json'])).stdout) as SyncViewJson;
    },
  };
}

/** Stops the daemon, deletes the namespace and unmounts the tmpfs; keeps KSYNC_HOME if asked. */
export async function closeRun(ctx: RunContext, options: { keepHome: boolean }): Promise<void> {
  await ctx.editor.stop();
  await ctx.ksync(['stop']);
  await deleteNamespace(ctx.namespace);
  await execFileAsync('umount', [ctx.localBase]).catch(() => undefined);
  await rm(ctx.localBase, { recursive: true, force: true });
  if (!options.keepHome) await rm(ctx.home, { recursive: true, force: true });
}

/** The conflicts ksync holds, with the digests of what each saved aside. */
export async function readConflicts(ctx: RunContext): Promise<SavedVersions[]> {
  const list = JSON.parse((await ctx.ksyncOk(['conflicts', SYNC, '-o', 'json'])).stdout) as {
    path: string;
    savedIn?: string;
  }[];
  const out: SavedVersions[] = [];
  for (const c of list) {
    const digests: string[] = [];
    if (c.savedIn !== undefined) {
      for (const file of await filesUnder(c.savedIn)) digests.push(digestOf(await readFile(file)));
    }
    out.push({ path: c.path, digests });
  }
  return out;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out;
}

/** The sentinel trees of both sides, and anything on the local tmpfs outside root and sentinel. */
export async function readOutside(ctx: RunContext): Promise<{
  local: Map<string, string>;
  remote: Map<string, string>;
  strays: string[];
}> {
  const strays = (await readdir(ctx.localBase)).filter(
    (n) => !['root', 'sentinel', 'lost+found'].includes(n),
  );
  return {
    local: await ctx.local.readSentinels(),
    remote: await ctx.remote.readSentinels(),
    strays: strays.map((n) => relative(ctx.localBase, join(ctx.localBase, n))),
  };
}

/**
 * Writes a probe each way and returns how long until both were seen on the other side. Each
 * measurement's probes have names of their own: a replaced pod starts without the earlier
 * probes, so a probe written there again under an old name, before the new pod's first sync,
 * would be a true conflict with local's copy (both kept, the local one in place) and never
 * cross, which measures conflict handling, not recovery.
 */
export async function measureRecovery(
  ctx: RunContext,
  prefix: string,
  timeoutMs = 240_000,
): Promise<number | undefined> {
  const t0 = Date.now();
  const token = `probe ${t0}\n`;
  const [toRemoteProbe, toLocalProbe] = [`probe-local-${t0}`, `probe-remote-${t0}`];
  let toRemote = false;
  let toLocal = false;
  for (;;) {
    // A probe write can fail while the fault's effects last (the pod not back yet): retry it.
    if (!toRemote) toRemote = await ctx.editor.write('local', `${prefix}/${toRemoteProbe}`, token);
    if (!toLocal) toLocal = await ctx.editor.write('remote', `${prefix}/${toLocalProbe}`, token);
    if (toRemote && toLocal) break;
    if (Date.now() - t0 > timeoutMs) return undefined;
    await sleep(500);
  }
  const localPath = join(ctx.localRoot, prefix, toLocalProbe);
  try {
    await waitFor('the probes to cross', timeoutMs - (Date.now() - t0), async () => {
      const here = await readFile(localPath, 'utf8').catch(() => undefined);
      if (here !== token) return false;
      const there = await ctx.remote.sh('cat "$1"', `/data/app/${prefix}/${toRemoteProbe}`);
      return there.ok && there.stdout === token;
    });
  } catch {
    return undefined;
  }
  return Date.now() - t0;
}

/**
 * Flushes until both sides' trees agree under `prefix`, apart from paths under a conflict (a
 * blocked conflict leaves each side's version in place), or the time is up.
 */
export async function converge(
  ctx: RunContext,
  prefix: string,
  timeoutMs = 180_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await ctx.ksync(['flush', SYNC, '--timeout', '60s'], 90_000);
    const [l, r, conflicts] = await Promise.all([
      ctx.local.readTree(),
      ctx.remote.readTree().catch(() => undefined),
      readConflicts(ctx).catch(() => []),
    ]);
    const settled = (tree: ReadonlyMap<string, string>) =>
      new Map(
        [...underPrefix(tree, prefix)].filter(
          ([path]) => !conflicts.some((c) => path === c.path || path.startsWith(`${c.path}/`)),
        ),
      );
    if (r !== undefined && sameTree(settled(l), settled(r))) return;
    await sleep(2000);
  }
}

function sameTree(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  return a.size === b.size && [...a].every(([p, d]) => b.get(p) === d);
}

/**
 * Before a fault that replaces the container's disk: both sides hold while the sync catches up
 * (it cannot converge under a stream of local edits), then local edits go on through the fault
 * while container edits wait for the recovery.
 */
export async function prepareFault(ctx: RunContext, fault: Fault, prefix: string): Promise<void> {
  if (fault.holdRemote !== true) return;
  ctx.editor.hold('local');
  ctx.editor.hold('remote');
  await converge(ctx, prefix);
  ctx.editor.release('local');
}

/** Stops the edits, waits for both sides to agree under `prefix`, and judges the writes since `from`. */
export async function settleAndJudge(
  ctx: RunContext,
  prefix: string,
  from: number,
): Promise<Verdict> {
  await ctx.editor.stop();
  await converge(ctx, prefix);
  const [l, r, conflicts] = await Promise.all([
    ctx.local.readTree(),
    ctx.remote.readTree(),
    readConflicts(ctx),
  ]);
  return judgeSync({
    writes: ctx.log.since(from),
    local: underPrefix(l, prefix),
    remote: underPrefix(r, prefix),
    conflicts: conflicts.filter((c) => c.path === prefix || c.path.startsWith(`${prefix}/`)),
  });
}

/** Runs one phase: edits under its prefix, the fault, the recovery, convergence and the oracle. */
export async function runPhase(
  ctx: RunContext,
  options: { fault: Fault; index: number; warmupMs: number; afterMs: number },
): Promise<PhaseResult> {
  const { fault } = options;
  const prefix = `p${String(options.index).padStart(2, '0')}-${fault.name}`;
  const from = ctx.log.records().length;
  ctx.editor.start(prefix);
  await sleep(options.warmupMs);
  await prepareFault(ctx, fault, prefix);
  const note = await fault.inject(ctx);
  const recoveryMs = await measureRecovery(ctx, prefix);
  ctx.editor.release('remote');
  await sleep(options.afterMs);
  const verdict = await settleAndJudge(ctx, prefix, from);
  await fault.restore?.(ctx);
  return {
    name: fault.name,
    title: fault.title,
    written: verdict.written,
    lost: verdict.lost.length,
    diverged: verdict.diverged.length,
    uncertain: verdict.uncertain,
    savedByConflict: verdict.savedByConflict,
    unpropagatedDeletions: verdict.unpropagatedDeletions.length,
    recoveryMs,
    ...(note === undefined ? {} : { note }),
    details: [
      ...verdict.lost.map(
        (w) => `lost: ${w.side} ${w.path} (${w.digest?.slice(0, 12) ?? 'deletion'})`,
      ),
      ...verdict.diverged.map((p) => `diverged: ${p}`),
    ],
  };
}

/** Judges the whole run: every write, both trees, the conflicts and the sentinels. */
export async function judgeRun(
  ctx: RunContext,
  sentinelsBefore: { local: Map<string, string>; remote: Map<string, string> },
) {
  // Settled first, as every phase is: a part that failed may have left edits flowing.
  await ctx.editor.stop();
  await converge(ctx, '');
  const [l, r, conflicts, outside] = await Promise.all([
    ctx.local.readTree(),
    ctx.remote.readTree(),
    readConflicts(ctx),
    readOutside(ctx),
  ]);
  const verdict = judgeSync({ writes: ctx.log.records(), local: l, remote: r, conflicts });
  const touched = [
    ...judgeSentinels(sentinelsBefore.local, outside.local).map((p) => `local sentinel/${p}`),
    ...judgeSentinels(sentinelsBefore.remote, outside.remote).map((p) => `remote sentinel/${p}`),
    ...outside.strays.map((p) => `local ${p}`),
  ];
  return { verdict, touched };
}

/** The host pid of a container's first process, found by its id in /proc/<pid>/cgroup. */
export async function containerPid(containerId: string): Promise<number> {
  const id = containerId.replace(/^[a-z]+:\/\//, '');
  const inside = new Set<number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cgroup = await readFile(`/proc/${name}/cgroup`, 'utf8').catch(() => '');
    if (cgroup.includes(id)) inside.add(Number(name));
  }
  // The first process is the oldest one whose parent is outside: a probe or `kubectl exec` in
  // the container has an outside parent too, but started later (and may be gone by the kill).
  let first: { pid: number; started: number } | undefined;
  for (const pid of inside) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [ppid, started] = [Number(fields[1]), Number(fields[19])];
    if (stat === '' || inside.has(ppid)) continue;
    if (first === undefined || started < first.started) first = { pid, started };
  }
  if (first === undefined) throw new Error(`no process of container ${id} on this machine`);
  return first.pid;
}

/** The agent pod on `node`, and its container id. */
export async function agentOn(node: string): Promise<{ pod: string; containerId: string }> {
  const list = JSON.parse(
    await kubectl([
      '-n',
      NAMESPACE,
      'get',
      'pods',
      '-l',
      AGENT_SELECTOR,
      '--field-selector',
      `spec.nodeName=${node}`,
      '-o',
      'json',
    ]),
  ) as {
    items: {
      metadata: { name: string; deletionTimestamp?: string };
      status?: { containerStatuses?: { containerID?: string; state?: { running?: object } }[] };
    }[];
  };
  const pod = list.items.find(
    (p) =>
      p.metadata.deletionTimestamp === undefined &&
      p.status?.containerStatuses?.[0]?.state?.running,
  );
  const containerId = pod?.status?.containerStatuses?.[0]?.containerID;
  if (pod === undefined || containerId === undefined)
    throw new Error(`no running agent on ${node}`);
  return { pod: pod.metadata.name, containerId };
}

/** The target pod's name, node, container id and restart count. */
export async function targetPod(ctx: RunContext): Promise<{
  pod: string;
  node: string;
  containerId: string;
  restarts: number;
}> {
  const pod = await ctx.remote.pod();
  const json = JSON.parse(
    await kubectl(['-n', ctx.namespace, 'get', 'pod', pod, '-o', 'json']),
  ) as {
    spec: { nodeName: string };
    status: { containerStatuses: { name: string; containerID?: string; restartCount: number }[] };
  };
  const status = json.status.containerStatuses.find((c) => c.name === 'app');
  return {
    pod,
    node: json.spec.nodeName,
    containerId: status?.containerID ?? '',
    restarts: status?.restartCount ?? 0,
  };
}

/** The kubelet component (scripts/cluster) of a node: kubelet, kubelet-node2, ... */
export function kubeletOf(node: string): string {
  const index = readClusterInfo().nodes.findIndex((n) => n.name === node);
  return index <= 0 ? 'kubelet' : `kubelet-node${index + 1}`;
}
