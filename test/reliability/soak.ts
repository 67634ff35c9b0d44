/**
 * The soak: random edits on both sides for a bounded time, a fault from the matrix every minute
 * (those that leave the daemon's process alone, so its memory curve is one process's), the CLI
 * daemon's and the agent's resident memory and open file descriptors sampled every few seconds,
 * and the oracle over everything at the end.
 */
import { readFile, readdir } from 'node:fs/promises';
import { FAULTS, SOAK_FAULTS } from './faults.ts';
import {
  agentOn,
  containerPid,
  measureRecovery,
  prepareFault,
  settleAndJudge,
  sleep,
  targetPod,
  type RunContext,
} from './harness.ts';

/** One sample of both processes (MiB, fd counts); undefined where the process was not found. */
export interface Sample {
  /** Seconds since the soak started. */
  readonly t: number;
  readonly daemonMiB?: number;
  readonly daemonFds?: number;
  readonly agentMiB?: number;
  readonly agentFds?: number;
}

/** What the soak found. */
export interface SoakResult {
  readonly minutes: number;
  readonly written: number;
  readonly lost: number;
  readonly diverged: number;
  readonly uncertain: number;
  readonly savedByConflict: number;
  readonly faults: readonly { t: number; name: string; recoveryMs: number | undefined }[];
  readonly samples: readonly Sample[];
  readonly details: readonly string[];
}

async function rssMiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) / 1024;
}

async function fdCount(pid: number): Promise<number | undefined> {
  return (await readdir(`/proc/${pid}/fd`).catch(() => undefined))?.length;
}

/** Samples both processes every `everyMs` until `stop()`. */
function startSampler(ctx: RunContext, t0: number, everyMs: number) {
  const samples: Sample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const daemon = await ctx.daemonPid().catch(() => undefined);
      const agent = await targetPod(ctx)
        .then((t) => agentOn(t.node))
        .then((a) => containerPid(a.containerId))
        .catch(() => undefined);
      samples.push({
        t: (Date.now() - t0) / 1000,
        ...(daemon === undefined
          ? {}
          : { daemonMiB: await rssMiB(daemon), daemonFds: await fdCount(daemon) }),
        ...(agent === undefined
          ? {}
          : { agentMiB: await rssMiB(agent), agentFds: await fdCount(agent) }),
      } as Sample);
      await sleep(everyMs);
    }
  })();
  return {
    samples,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Runs the soak for `minutes`, a fault every `faultEveryMs`. */
export async function runSoak(
  ctx: RunContext,
  options: { minutes: number; faultEveryMs: number },
): Promise<SoakResult> {
  const prefix = 'soak';
  const t0 = Date.now();
  const end = t0 + options.minutes * 60_000;
  const from = ctx.log.records().length;
  const sampler = startSampler(ctx, t0, 5000);
  const faults: { t: number; name: string; recoveryMs: number | undefined }[] = [];
  ctx.editor.start(prefix);
  try {
    for (let i = 0; Date.now() + options.faultEveryMs < end; i++) {
      await sleep(Math.max(0, t0 + (i + 1) * options.faultEveryMs - Date.now()));
      const fault = FAULTS.find((f) => f.name === SOAK_FAULTS[i % SOAK_FAULTS.length]);
      if (fault === undefined)
        throw new Error(`unknown soak fault ${SOAK_FAULTS[i % SOAK_FAULTS.length]}`);
      const t = (Date.now() - t0) / 1000;
      await prepareFault(ctx, fault, prefix);
      await fault.inject(ctx);
      faults.push({
        t,
        name: fault.name,
        recoveryMs: await measureRecovery(ctx, `${prefix}/probes`),
      });
      ctx.editor.release('remote');
      await fault.restore?.(ctx);
    }
    await sleep(Math.max(0, end - Date.now()));
  } finally {
    // A failed soak must not leave the sampler keeping the test process alive.
    await sampler.stop();
  }
  const verdict = await settleAndJudge(ctx, prefix, from);
  return {
    minutes: options.minutes,
    written: verdict.written,
    lost: verdict.lost.length,
    diverged: verdict.diverged.length,
    uncertain: verdict.uncertain,
    savedByConflict: verdict.savedByConflict,
    faults,
    samples: sampler.samples,
    details: [
      ...verdict.lost.map((w) => `lost: ${w.side} ${w.path}`),
      ...verdict.diverged.map((p) => `diverged: ${p}`),
    ],
  };
}

/** Growth of a series: the mean of its last fifth over the mean of its second fifth. */
export function growth(values: readonly number[]): number | undefined {
  if (values.length < 10) return undefined;
  const fifth = Math.floor(values.length / 5);
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return mean(values.slice(-fifth)) / mean(values.slice(fifth, 2 * fifth));
}
