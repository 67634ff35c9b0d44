/**
 * The long-running side of `watch` and `run`: takes the home lock, writes the pid file, starts
 * the supervisor (live) and serves the control socket until Ctrl-C, SIGTERM or `ksync stop`.
 * Progress is a spinner on a terminal and plain log lines otherwise (the daemon's log file).
 */
import { rm, writeFile } from 'node:fs/promises';
import { errorMessage } from '@ksync/core';
import { systemClock } from '@ksync/fs';
import { sleepUnlessAborted } from '../sleep-unless-aborted.ts';
import type { CommandContext } from '../command.ts';
import { pingWatch } from '../control-client.ts';
import { UserError } from '../errors.ts';
import { formatBytes, formatProblems, formatTransfer } from '../format.ts';
import type { Progress } from '../output.ts';
import { openSyncEndpoints } from '../sync-endpoints.ts';
import type { SyncView, TargetView } from '../view.ts';
import { serveControl } from './control-server.ts';
import { DaemonMetrics, serveMetrics, type MetricsServer } from './metrics.ts';
import { tryLock, type HeldLock } from './lock.ts';
import { Supervisor } from './supervisor.ts';

/** What to serve. */
export interface ServeOptions {
  /** Only this spec (`run NAME`). */
  readonly only?: string;
  /** `watch` or `run NAME`, for messages and ping. */
  readonly role: string;
  /** Where to serve Prometheus metrics (`--metrics-addr`); none by default. */
  readonly metrics?: { readonly host: string; readonly port: number };
}

/** Runs until stopped; resolves when everything is shut down. */
export async function serveSyncs(ctx: CommandContext, options: ServeOptions): Promise<void> {
  const { output, home } = ctx;
  const running = await pingWatch(home);
  if (running !== undefined) {
    throw new UserError(
      `ksync ${running.role} is already running (pid ${running.pid}); stop it with: ksync stop`,
    );
  }
  const lock = await waitForLock(ctx);
  if (lock === undefined) return;
  const stop = new AbortController();
  ctx.signal.addEventListener('abort', () => stop.abort(), { once: true });
  let progress: Progress | undefined;
  const log = (level: 'info' | 'warn', message: string): void => {
    const text = level === 'warn' ? `warning: ${message}` : message;
    if (progress !== undefined) progress.log(text);
    else output.log(text);
  };
  let supervisor: Supervisor | undefined;
  // On a terminal, redraw the spinner line on every status (state changes and each transferred
  // file). Without one, log a line when a sync settles after doing work, or pauses.
  const logged = new Map<string, string>();
  /** Problem causes already logged per sync since it was last in sync. */
  const toldCauses = new Map<string, Set<string>>();
  const progressLoggedAt = new Map<string, number>();
  const onStatus = (view: SyncView): void => {
    if (output.interactive) {
      if (supervisor !== undefined) progress?.update(summarize(supervisor.liveViews()));
      return;
    }
    // A long transfer logs its progress every 10 s rather than staying silent until it ends;
    // a Kubernetes sync's containers each log their own.
    const transfers = [
      ...(view.transfer === undefined ? [] : [{ who: view.name, transfer: view.transfer }]),
      ...(view.targets ?? []).flatMap((t) =>
        t.transfer === undefined
          ? []
          : [{ who: `${view.name}@${t.pod}/${t.container}`, transfer: t.transfer }],
      ),
    ];
    if (transfers.length > 0) {
      const at = Date.now();
      for (const { who, transfer } of transfers) {
        if (at - (progressLoggedAt.get(who) ?? 0) < 10_000) continue;
        progressLoggedAt.set(who, at);
        output.log(`${who}: ${formatTransfer(transfer)}`);
      }
      return;
    }
    if (view.state === 'problems') {
      // Once per cause (side and message) until the sync is in sync again, not once per set of
      // failing paths: under a stream of edits a full disk fails new paths every cycle, and
      // racing edits come and go beside it; the user needs to hear about the disk once.
      const told = toldCauses.get(view.name) ?? new Set<string>();
      const causes = view.problems.map((p) => `${p.side ?? ''} ${p.message}`);
      if (causes.every((c) => told.has(c))) return;
      for (const c of causes) told.add(c);
      toldCauses.set(view.name, told);
      logged.set(view.name, 'problems');
      output.log(`warning: ${view.name}: ${formatProblems(view.name, view.problems)}`);
      return;
    }
    const key =
      view.state === 'watching'
        ? `watching ${view.files} ${view.bytes} ${view.transferredFiles} ${view.transferredBytes}`
        : view.state;
    if (logged.get(view.name) === key) return;
    if (view.state === 'watching') {
      logged.set(view.name, key);
      toldCauses.delete(view.name);
      output.log(
        `${view.name}: in sync: ${view.files} files, ${formatBytes(view.bytes)}; transferred ${view.transferredFiles} files, ${formatBytes(view.transferredBytes)} since start`,
      );
    } else if (view.state === 'paused') {
      logged.set(view.name, key);
      output.log(`${view.name}: paused`);
    }
  };
  let server: Awaited<ReturnType<typeof serveControl>> | undefined;
  let metricsServer: MetricsServer | undefined;
  const metrics = new DaemonMetrics();
  try {
    await writeFile(home.pid, `${process.pid}\n`);
    // Staging left by a crashed run is nobody's now (this process holds the lock).
    await rm(home.staging, { recursive: true, force: true });
    // Listening first: a taken port fails the start before any sync begins.
    if (options.metrics !== undefined) {
      metricsServer = await serveMetrics({
        ...options.metrics,
        render: () => metrics.render(supervisor?.liveViews() ?? []),
      });
      output.log(`metrics at http://${metricsServer.address}/metrics`);
    }
    supervisor = await Supervisor.open({
      home,
      live: true,
      ...(options.only === undefined ? {} : { only: options.only }),
      clock: systemClock,
      openEndpoints: openSyncEndpoints,
      log,
      onStatus,
      metrics,
    });

    server = await serveControl({
      socketPath: home.socket,
      backend: supervisor,
      role: options.role,
      onStop: () => stop.abort(),
      log,
    });
    const count = supervisor.liveViews().length;
    output.log(
      `ksync ${options.role} started (pid ${process.pid}); ${count} sync${count === 1 ? '' : 's'}; state in ${home.root}`,
    );
    if (output.interactive) progress = await output.progress(summarize(supervisor.liveViews()));
    // A ref'd timer keeps the process alive while only unref'd session timers are pending.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    await new Promise<void>((resolve) => {
      if (stop.signal.aborted) resolve();
      stop.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    clearInterval(keepAlive);
  } finally {
    progress?.stop();
    progress = undefined;
    await metricsServer?.close();
    await server
      ?.close()
      .catch((e: unknown) => log('warn', `closing the control socket: ${errorMessage(e)}`));
    await supervisor?.close();
    await rm(home.staging, { recursive: true, force: true });
    await rm(home.pid, { force: true });
    lock.release();
    output.log(`ksync ${options.role} stopped`);
  }
}

/** Takes the home lock, waiting (bounded) while a command holds it. */
async function waitForLock(ctx: CommandContext): Promise<HeldLock | undefined> {
  const deadline = Date.now() + 60_000;
  let told = false;
  for (;;) {
    const attempt = tryLock(ctx.home.lock);
    if ('held' in attempt) return attempt.held;
    if (Date.now() > deadline) {
      throw new UserError(
        `another ksync (pid ${attempt.holder}) holds ${ctx.home.lock}; stop it, or if no ksync runs, remove that file`,
      );
    }
    if (!told) {
      ctx.output.log(`waiting for another ksync (pid ${attempt.holder}) to finish`);
      told = true;
    }
    await sleepUnlessAborted(200, ctx.signal);
    if (ctx.signal.aborted) return undefined;
  }
}

/**
 * One spinner line for every sync; a Kubernetes sync shows each container's own progress (its
 * initial sync, files and bytes), since each target transfers on its own.
 */
export function summarize(views: readonly SyncView[]): string {
  if (views.length === 0) return 'no syncs yet; add one with ksync create';
  return views
    .map((v) => {
      if (v.targets !== undefined && v.targets.length > 0) {
        return `${v.name}: ${v.targets.map((t) => `${t.pod}/${t.container} ${describeTarget(t)}`).join(', ')}`;
      }
      if (v.transfer !== undefined) return `${v.name}: ${formatTransfer(v.transfer)}`;
      if (v.state === 'watching')
        return `${v.name}: in sync (${v.files} files, ${formatBytes(v.bytes)})`;
      if (v.state === 'problems') {
        return `${v.name}: ${v.problems.length} problem${v.problems.length === 1 ? '' : 's'}; see: ksync describe ${v.name}`;
      }
      if (v.halt !== undefined) return `${v.name}: ${v.state}; see: ksync describe ${v.name}`;
      return `${v.name}: ${v.state}${v.error === undefined ? '' : ` (${v.error})`}`;
    })
    .join(' | ');
}

/** What one container of a Kubernetes sync is doing, for the spinner line. */
function describeTarget(t: TargetView): string {
  if (t.transfer !== undefined) return formatTransfer(t.transfer);
  if (t.state === 'watching') return `in sync (${t.files} files, ${formatBytes(t.bytes)})`;
  return `${t.state}${t.error === undefined ? '' : ` (${t.error})`}`;
}
