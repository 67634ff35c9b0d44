/**
 * The fault matrix: each fault strikes while edits flow both ways and returns once its cause is
 * gone. Processes are found by what this run started (the daemon's pid file, the containers of
 * this run's pods by their ids in /proc/<pid>/cgroup) and signalled by pid, never by name.
 */
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TEMP_PREFIX } from '@ksync/core';
import { AGENT_NAME, NAMESPACE } from '@ksync/kube';
import { REPO_ROOT, kubectl, waitFor } from '../e2e/helpers/cluster.ts';
import { runProgram } from '../integration/helpers/cli-process.ts';
import {
  agentOn,
  containerPid,
  kubeletOf,
  sleep,
  targetPod,
  type Fault,
  type RunContext,
} from './harness.ts';
import { degradedPath } from './netns.ts';

/** Runs scripts/cluster/restart.sh COMPONENT and fails with its output unless it exits 0. */
async function restartComponent(component: string): Promise<void> {
  const r = await runProgram(join(REPO_ROOT, 'scripts/cluster/restart.sh'), [component], {
    cwd: REPO_ROOT,
    env: {},
    timeoutMs: 180_000,
  });
  if (r.code !== 0) throw new Error(`restart.sh ${component} exited ${r.code}: ${r.stderr}`);
}

/** Waits until the agent DaemonSet has a ready pod on every node again. */
async function agentsReady(): Promise<void> {
  await kubectl(
    ['-n', NAMESPACE, 'rollout', 'status', `daemonset/${AGENT_NAME}`, '--timeout=120s'],
    { timeoutMs: 130_000 },
  );
}

/** Waits for the target container to run again after its restart count passed `restarts`. */
async function containerBack(ctx: RunContext, restarts: number): Promise<void> {
  await waitFor('the container to restart', 120_000, async () => {
    const t = await targetPod(ctx).catch(() => undefined);
    return t !== undefined && t.restarts > restarts;
  });
  await kubectl(['-n', ctx.namespace, 'rollout', 'status', 'deployment/rel', '--timeout=120s'], {
    timeoutMs: 130_000,
  });
}

/**
 * Waits (polling the local disk, which costs nothing) until `seen()` says the daemon is in the
 * middle of what the fault wants to interrupt, then SIGKILLs it and starts it again.
 */
async function killDaemonWhen(
  ctx: RunContext,
  what: string,
  seen: () => Promise<boolean>,
): Promise<string> {
  const pid = await ctx.daemonPid();
  const deadline = Date.now() + 120_000;
  let caught = await seen();
  while (!caught && Date.now() < deadline) {
    await sleep(10);
    caught = await seen();
  }
  process.kill(pid, 'SIGKILL');
  await sleep(1000);
  await ctx.ksyncOk(['watch', '--daemon']);
  return caught ? `killed ${what}` : `did not see it ${what} within 120 s; killed anyway`;
}

/** Sizes of the files in the local root's staging directory (content arriving from the pod). */
async function stagedSizes(ctx: RunContext): Promise<number[]> {
  const dir = join(ctx.localRoot, `${TEMP_PREFIX}staging`);
  const names = await readdir(dir).catch(() => []);
  const sizes = await Promise.all(
    names.map((n) =>
      stat(join(dir, n)).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  return sizes;
}

/** The lines of the daemon's log written since `from` (a length from an earlier read). */
async function logSince(ctx: RunContext, from: number): Promise<string[]> {
  const text = await readFile(join(ctx.home, 'watch.log'), 'utf8').catch(() => '');
  return text
    .slice(from)
    .split('\n')
    .filter((l) => l !== '');
}

async function logLength(ctx: RunContext): Promise<number> {
  return (await readFile(join(ctx.home, 'watch.log'), 'utf8').catch(() => '')).length;
}

/** Fills a disk with `fill`, keeps editing `ms`, reports what the user was told, then frees it. */
async function diskFull(
  ctx: RunContext,
  options: { fill: () => Promise<void>; free: () => Promise<void>; side: string; ms: number },
): Promise<string> {
  const logFrom = await logLength(ctx);
  await options.fill();
  let shown: string | undefined;
  const until = Date.now() + options.ms;
  while (Date.now() < until) {
    const view = await ctx.view().catch(() => undefined);
    const p = view?.problems.find((x) => /space|ENOSPC/i.test(x.message));
    shown ??= p === undefined ? undefined : `${p.side ?? ''} ${p.path}: ${p.message}`;
    await sleep(2000);
  }
  const told = (await logSince(ctx, logFrom)).filter((l) => /space|ENOSPC/i.test(l));
  await options.free();
  return `${options.side} disk full: the daemon's log said so ${told.length} time(s)${
    told[0] === undefined ? '' : ` ("${told[0].replace(/^\S+ /, '').slice(0, 200)}")`
  }; ksync get listed ${shown === undefined ? 'no such problem' : `"${shown.slice(0, 160)}"`}`;
}

/** How long the daemon stays stopped in the SIGSTOP fault (KSYNC_REL_STOP_S, default 60). */
const STOP_S = Number(process.env['KSYNC_REL_STOP_S'] ?? 60);

/** Ten years, the container's clock ahead of the laptop's. */
const AHEAD_S = 10 * 365 * 24 * 3600;

/** Every fault of the matrix, in the order the matrix runs them. */
export const FAULTS: readonly Fault[] = [
  {
    name: 'agent-pod-deleted',
    title: 'agent pod deleted (the DaemonSet replaces it)',
    async inject(ctx) {
      const { node } = await targetPod(ctx);
      const { pod } = await agentOn(node);
      await kubectl(['-n', NAMESPACE, 'delete', 'pod', pod, '--wait=false']);
      await waitFor('a new agent pod', 120_000, async () => {
        const next = await agentOn(node).catch(() => undefined);
        return next !== undefined && next.pod !== pod;
      });
      await agentsReady();
      return undefined;
    },
  },
  {
    name: 'agent-killed',
    title: 'agent process SIGKILLed (the container restarts)',
    async inject(ctx) {
      const { node } = await targetPod(ctx);
      const { containerId } = await agentOn(node);
      process.kill(await containerPid(containerId), 'SIGKILL');
      await waitFor('the agent container to come back', 120_000, async () => {
        const next = await agentOn(node).catch(() => undefined);
        return next !== undefined && next.containerId !== containerId;
      });
      await agentsReady();
      return undefined;
    },
  },
  {
    name: 'target-pod-deleted',
    title: 'target pod deleted (the Deployment replaces it; its emptyDir starts empty)',
    holdRemote: true,
    async inject(ctx) {
      const { pod } = await targetPod(ctx);
      await kubectl(['-n', ctx.namespace, 'delete', 'pod', pod, '--wait=false']);
      ctx.remote.forget();
      await waitFor('a replacement pod', 120_000, async () => {
        const next = await ctx.remote.pod().catch(() => pod);
        if (next === pod) ctx.remote.forget();
        return next !== pod;
      });
      return 'container edits held from a flush before the deletion until the recovery probe';
    },
  },
  {
    name: 'target-container-killed',
    title: 'target container SIGKILLed (restarted in place; the emptyDir stays)',
    async inject(ctx) {
      const { containerId, restarts } = await targetPod(ctx);
      process.kill(await containerPid(containerId), 'SIGKILL');
      await containerBack(ctx, restarts);
      return undefined;
    },
  },
  {
    name: 'apiserver-restarted',
    title: 'kube-apiserver restarted (every port-forward and exec cut)',
    async inject() {
      await restartComponent('kube-apiserver');
      return undefined;
    },
  },
  {
    name: 'kubelet-restarted',
    title: "the target node's kubelet restarted (its port-forward streams cut)",
    async inject(ctx) {
      await restartComponent(kubeletOf((await targetPod(ctx)).node));
      return undefined;
    },
  },
  {
    name: 'daemon-killed-transfer',
    title: 'CLI daemon SIGKILLed mid-transfer (a 40 MiB file from the container), then restarted',
    async inject(ctx) {
      const path = `${ctx.editor.prefix}/big.bin`;
      const start = ctx.log.now();
      const r = await ctx.remote.sh(
        'dd if=/dev/urandom of="$1" bs=1M count=40 2>/dev/null && sha256sum "$1"',
        `/data/app/${path}`,
      );
      const digest = /^[0-9a-f]{64}/.exec(r.stdout)?.[0];
      if (!r.ok || digest === undefined) throw new Error('could not write big.bin in the pod');
      ctx.log.record({ side: 'remote', path, content: { digest }, landed: true, start });
      const size = 40 * 1024 * 1024;
      return killDaemonWhen(ctx, 'with part of the file staged locally', async () =>
        (await stagedSizes(ctx)).some((s) => s > 0 && s < size),
      );
    },
  },
  {
    name: 'daemon-killed-apply',
    title: 'CLI daemon SIGKILLed mid-apply (1,500 container files arriving), then restarted',
    async inject(ctx) {
      const dir = `${ctx.editor.prefix}/bulk`;
      const start = ctx.log.now();
      const r = await ctx.remote.sh(
        `mkdir -p "$1" && i=0; while [ $i -lt 1500 ]; do echo "bulk $i" > "$1/$i"; i=$((i+1)); done`,
        `/data/app/${dir}`,
      );
      for (let i = 0; i < 1500; i++) {
        ctx.log.record({
          side: 'remote',
          path: `${dir}/${i}`,
          content: `bulk ${i}\n`,
          landed: r.ok,
          start,
        });
      }
      return killDaemonWhen(ctx, 'with some of the 1,500 files in place locally', async () => {
        const n = (await readdir(join(ctx.localRoot, dir)).catch(() => [])).length;
        return n > 0 && n < 1500;
      });
    },
  },
  {
    name: 'daemon-stopped',
    title: `CLI daemon SIGSTOPped for ${STOP_S} s, then resumed`,
    async inject(ctx) {
      const pid = await ctx.daemonPid();
      process.kill(pid, 'SIGSTOP');
      await sleep(STOP_S * 1000);
      process.kill(pid, 'SIGCONT');
      return undefined;
    },
  },
  {
    name: 'container-disk-full',
    title: "the container's disk full (160 MiB tmpfs emptyDir filled), then freed",
    async inject(ctx) {
      return diskFull(ctx, {
        side: 'container',
        ms: 20_000,
        fill: async () =>
          void (await ctx.remote.sh('dd if=/dev/zero of=/data/fill bs=1M 2>/dev/null; sync; true')),
        free: async () => void (await ctx.remote.sh('rm -f /data/fill')),
      });
    },
  },
  {
    name: 'local-disk-full',
    title: 'the local disk full (the local root on a 192 MiB tmpfs, filled), then freed',
    async inject(ctx) {
      const fill = join(ctx.localBase, 'fill');
      return diskFull(ctx, {
        side: 'local',
        ms: 20_000,
        fill: async () => {
          await runProgram('dd', ['if=/dev/zero', `of=${fill}`, 'bs=1M'], {
            cwd: REPO_ROOT,
            env: {},
            timeoutMs: 60_000,
          });
        },
        free: () => rm(fill, { force: true }),
      });
    },
  },
  {
    name: 'slow-lossy-network',
    title: 'the port-forward path slow and lossy (1 Mbit/s, 5 % of packets dropped) for 40 s',
    async inject(ctx) {
      const path = await degradedPath(ctx);
      activePath = path;
      await path.degrade();
      const t0 = Date.now();
      const probe = `${ctx.editor.prefix}/under-fault`;
      await ctx.editor.write('local', probe, `sent at ${t0}\n`);
      let crossedMs: number | undefined;
      await waitFor('the probe under the fault', 40_000, async () => {
        const r = await ctx.remote.sh('cat "$1"', `/data/app/${probe}`);
        if (r.ok) crossedMs = Date.now() - t0;
        return r.ok;
      }).catch(() => undefined);
      await sleep(Math.max(0, 40_000 - (Date.now() - t0)));
      await path.restore();
      return `a local edit crossed ${crossedMs === undefined ? 'not within 40 s' : `in ${(crossedMs / 1000).toFixed(1)} s`} under the fault; ${path.describe()}`;
    },
    async restore() {
      await activePath?.close();
      activePath = undefined;
    },
  },
  {
    name: 'container-clock-ahead',
    title: "the container's clock 10 years ahead (every container write's mtime set 10 years on)",
    async inject(ctx) {
      ctx.remote.mtimeAheadS = AHEAD_S;
      await sleep(30_000);
      ctx.remote.mtimeAheadS = 0;
      return 'mtimes moved with touch -d: a container cannot run its own wall clock here (below)';
    },
  },
];

let activePath: Awaited<ReturnType<typeof degradedPath>> | undefined;

/** The faults the soak draws from, one a minute: those that leave the daemon's process alone. */
export const SOAK_FAULTS: readonly string[] = [
  'agent-pod-deleted',
  'target-container-killed',
  'apiserver-restarted',
  'kubelet-restarted',
  'agent-killed',
  'target-pod-deleted',
  'container-clock-ahead',
];
