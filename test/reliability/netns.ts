/**
 * A slow, lossy path between the CLI daemon and the API server, built on this machine only. The
 * daemon runs in a network namespace of the run's own, whose loopback is its whole world: the API
 * server's address there (127.0.0.1:6443) is a relay (relay.ts) that hands each connection
 * through a unix socket to a relay in the host namespace, which dials the real API server. Every
 * port-forward and watch the daemon makes crosses the namespace's loopback, and the fault shapes
 * that loopback: a token bucket (tc tbf) for a slow link and an nftables rule dropping a share of
 * packets at random for a lossy one. Nothing leaves the machine.
 *
 * netem (delay and loss in one qdisc) is what one would reach for, but this kernel has no
 * sch_netem: `tc qdisc add dev lo root netem delay 50ms` answers "Specified qdisc kind is
 * unknown" (and there is no modprobe). tbf and nftables' `numgen random` do the same job here.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, loadKubeConfig } from '../e2e/helpers/cluster.ts';
import { runProgram } from '../integration/helpers/cli-process.ts';
import { sleep, type RunContext } from './harness.ts';

const run = promisify(execFile);

/** The shaping the fault applies. */
const RATE = '1mbit';
const DROP_PERCENT = 5;

/** A daemon moved into a namespace whose loopback can be degraded and restored. */
export interface DegradedPath {
  degrade(): Promise<void>;
  restore(): Promise<void>;
  /** Moves the daemon back to the host namespace and removes the namespace and relays. */
  close(): Promise<void>;
  describe(): string;
}

/** Starts the relays and the namespace, and restarts the daemon inside it. */
export async function degradedPath(ctx: RunContext): Promise<DegradedPath> {
  const ns = `ksync-rel-${process.pid}`;
  const server = new URL(loadKubeConfig().getCurrentCluster()?.server ?? 'https://127.0.0.1:6443');
  const apiserver = `${server.hostname}:${server.port || '443'}`;
  const socket = join(ctx.home, 'api.sock');
  const relay = join(REPO_ROOT, 'test/reliability/relay.ts');
  const ip = (...args: string[]) => run('ip', args);
  const inNs = (...args: string[]) => run('ip', ['netns', 'exec', ns, ...args]);

  await ip('netns', 'add', ns);
  // An Ethernet-sized MTU: loopback's 64 KiB packets would never fit the token bucket's burst.
  await inNs('ip', 'link', 'set', 'lo', 'mtu', '1500', 'up');
  const relays: ChildProcess[] = [
    spawn(process.execPath, [relay, 'unix-to-tcp', socket, apiserver], { stdio: 'ignore' }),
  ];
  await sleep(500);
  relays.push(
    spawn('ip', ['netns', 'exec', ns, process.execPath, relay, 'tcp-to-unix', apiserver, socket], {
      stdio: 'ignore',
    }),
  );
  await sleep(500);
  const daemon = async (prefix: readonly string[]) => {
    await ctx.ksyncOk(['stop']);
    const [command, ...args] = [...prefix, join(REPO_ROOT, 'bin/ksync'), 'watch', '--daemon'];
    const r = await runProgram(command ?? '', args, {
      cwd: REPO_ROOT,
      env: { KSYNC_HOME: ctx.home, NO_COLOR: '1' },
      timeoutMs: 120_000,
    });
    if (r.code !== 0)
      throw new Error(`${[command, ...args].join(' ')} exited ${r.code}: ${r.stderr}`);
  };
  await daemon(['ip', 'netns', 'exec', ns]);

  return {
    async degrade() {
      await inNs(
        'tc',
        'qdisc',
        'add',
        'dev',
        'lo',
        'root',
        'tbf',
        'rate',
        RATE,
        'burst',
        '32kbit',
        'latency',
        '400ms',
      );
      await inNs('nft', 'add', 'table', 'inet', 'lossy');
      await inNs(
        'nft',
        'add',
        'chain',
        'inet',
        'lossy',
        'out',
        '{ type filter hook output priority 0; }',
      );
      await inNs(
        'nft',
        'add',
        'rule',
        'inet',
        'lossy',
        'out',
        'numgen',
        'random',
        'mod',
        '100',
        '<',
        String(DROP_PERCENT),
        'drop',
      );
    },
    async restore() {
      await inNs('tc', 'qdisc', 'del', 'dev', 'lo', 'root').catch(() => undefined);
      await inNs('nft', 'delete', 'table', 'inet', 'lossy').catch(() => undefined);
    },
    async close() {
      await daemon([]);
      for (const r of relays) r.kill('SIGTERM');
      await ip('netns', 'del', ns).catch(() => undefined);
    },
    describe() {
      return `daemon in network namespace ${ns}, its loopback shaped by tc tbf ${RATE} and an nftables rule dropping ${DROP_PERCENT} % of packets (netem: not in this kernel)`;
    },
  };
}
