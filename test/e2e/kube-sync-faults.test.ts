// A Kubernetes sync through the faults a user meets, on the real local cluster through bin/ksync:
// the initial sync of a few hundred MB shows each target's progress on a real terminal (tmux);
// no agent on the target's node (the DaemonSet kept off it by a nodeSelector) is one line with
// `run 'ksync init'` in `get` and the watch log, and syncing starts once the agent is back; the
// API server made unreachable while the watch runs (its kubeconfig points at a TCP relay that the
// test stops and starts again) is retried with backoff, shown by `get`, and recovered from; and
// a conflict of a pod that is gone stays listed and is settled with `--keep local`.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NAMESPACE } from '@ksync/kube';
import {
  REPO_ROOT,
  agentPodNames,
  createNamespace,
  deleteNamespace,
  kubeconfigPath,
  kubectl,
  runningPods,
  waitFor,
  waitPodFile,
} from './helpers/cluster.ts';
import { KSYNC_BIN, runKsync, type CliResult } from '../integration/helpers/cli-process.ts';
import { startTerminal, type Terminal } from '../integration/helpers/tmux.ts';

/** A KSYNC_HOME of its own, so that each case can run its own watch. */
async function makeHome(): Promise<{
  home: string;
  ksync: (args: readonly string[]) => Promise<CliResult>;
  ok: (args: readonly string[]) => Promise<CliResult>;
}> {
  const home = await mkdtemp(join(tmpdir(), 'ksync-e2e-faults-'));
  const ksync = (args: readonly string[]) =>
    runKsync(args, { home, cwd: REPO_ROOT, timeoutMs: 240_000 });
  return {
    home,
    ksync,
    ok: async (args) => {
      const r = await ksync(args);
      assert.equal(r.code, 0, `ksync ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return r;
    },
  };
}

interface TargetJson {
  pod: string;
  state: string;
  error?: string;
  reconnects: number;
  lastError?: string;
}

interface GetJson {
  state: string;
  error?: string;
  targets?: TargetJson[];
}

async function getSync(ok: (a: readonly string[]) => Promise<CliResult>, name: string) {
  return JSON.parse((await ok(['get', name, '-o', 'json'])).stdout) as GetJson;
}

/** A TCP relay on 127.0.0.1 to `host:port` that can be stopped (refusing) and started again. */
class Relay {
  readonly #to: { host: string; port: number };
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(to: { host: string; port: number }) {
    this.#to = to;
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.#to);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  /** Refuses new connections and cuts the open ones, as an API server that went away. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) =>
      server === undefined ? resolve() : server.close(() => resolve()),
    );
  }
}

describe('a Kubernetes sync through faults', { timeout: 900_000 }, () => {
  let ns = '';
  let local = '';
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    const init = await makeHome();
    await init.ok(['init']);
    ns = await createNamespace('ksync-faults');
    await kubectl(['-n', ns, 'apply', '-f', join(REPO_ROOT, 'deploy/examples/demo.yaml')]);
    await kubectl(['-n', ns, 'rollout', 'status', 'deployment/demo', '--timeout=90s'], {
      timeoutMs: 100_000,
    });
    local = await mkdtemp(join(tmpdir(), 'ksync-e2e-faults-src-'));
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    if (ns !== '') await deleteNamespace(ns);
  });

  it('the initial sync shows each target stepping through files and bytes, then in sync', async () => {
    const FILES = 256;
    await mkdir(join(local, 'big'));
    for (let i = 0; i < FILES; i++) {
      await writeFile(
        join(local, 'big', `f${String(i).padStart(3, '0')}.bin`),
        randomBytes(1 << 20),
      );
    }
    const h = await makeHome();
    await h.ok(['create', '--name', 'big', '--selector', 'app=demo', '-n', ns, local, '/app']);
    const [pod] = await runningPods(ns);
    assert.ok(pod);
    const terminal: Terminal = await startTerminal({
      dir: h.home,
      argv: [KSYNC_BIN, 'watch'],
      env: { KSYNC_HOME: h.home, NO_COLOR: '1', KUBECONFIG: kubeconfigPath() },
    });
    cleanups.push(() => terminal.close());
    const progress = new RegExp(
      `big: ${pod}/app transferring ([\\d.]+) (k?B|MB) of 26\\d MB \\((\\d+) of ${FILES} files\\)`,
    );
    const seen: { bytes: string; files: number }[] = [];
    const deadline = Date.now() + 180_000;
    let done = false;
    while (!done && Date.now() < deadline) {
      const screen = await terminal.screen();
      const lines = screen.split('\n').filter((l) => l.trim() !== '');
      const last = lines[lines.length - 1] ?? '';
      const m = progress.exec(last);
      if (m !== null) {
        const step = { bytes: `${m[1]} ${m[2]}`, files: Number(m[3]) };
        const prev = seen[seen.length - 1];
        if (prev === undefined || prev.bytes !== step.bytes) seen.push(step);
      }
      done = new RegExp(`big: ${pod}/app in sync \\(${FILES} files, 26\\d MB\\)`).test(last);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(done, `in sync on screen:\n${await terminal.screen()}`);
    console.log(
      `progress steps seen: ${seen.map((s) => `${s.bytes} (${s.files} files)`).join(', ')}`,
    );
    assert.ok(seen.length >= 3, `at least three progress steps: ${JSON.stringify(seen)}`);
    const files = seen.map((s) => s.files);
    assert.deepEqual(
      files,
      [...files].sort((a, b) => a - b),
      'files only go up',
    );
    assert.ok((files[files.length - 1] ?? 0) > (files[0] ?? 0), 'files stepped');
    const count = await kubectl(['-n', ns, 'exec', pod, '--', 'sh', '-c', 'ls /app/big | wc -l']);
    assert.equal(count.trim(), String(FILES));
    // The later cases start first syncs of their own: not with these.
    await kubectl(['-n', ns, 'exec', pod, '--', 'rm', '-rf', '/app/big']);
    await terminal.send('C-c');
    assert.equal(await terminal.exitCode(), 0, await terminal.screen());
    await rm(join(local, 'big'), { recursive: true, force: true });
  });

  it("no agent on the target's node: one line with run 'ksync init', then it syncs", async () => {
    const h = await makeHome();
    cleanups.push(() => h.ksync(['stop']));
    // Keeps the DaemonSet off every node (a label no node has), or lets it back (null).
    const agentsOff = (off: boolean) =>
      kubectl([
        '-n',
        NAMESPACE,
        'patch',
        'daemonset/ksync-agent',
        '--type',
        'merge',
        '-p',
        JSON.stringify({
          spec: {
            template: { spec: { nodeSelector: { 'ksync-e2e/no-agent': off ? 'true' : null } } },
          },
        }),
      ]);
    cleanups.push(() => agentsOff(false));
    await agentsOff(true);
    await waitFor('the agent pods to go', 60_000, async () => (await agentPodNames()).length === 0);
    await writeFile(join(local, 'agentless.txt'), 'waits for the agent\n');
    await h.ok([
      'create',
      '--name',
      'agentless',
      '--selector',
      'app=demo',
      '-n',
      ns,
      local,
      '/app',
    ]);
    await h.ok(['watch', '--daemon']);
    let view: GetJson | undefined;
    await waitFor('the error in get', 60_000, async () => {
      view = await getSync(h.ok, 'agentless');
      return /run 'ksync init'/.test(view.targets?.[0]?.error ?? '');
    });
    const target = view?.targets?.[0];
    assert.equal(target?.state, 'connecting');
    assert.match(
      target?.error ?? '',
      /^no ksync agent on node \S+: run 'ksync init' \(or 'ksync doctor' to see why\)$/,
    );
    const table = (await h.ok(['get', 'agentless'])).stdout;
    assert.match(table, /connecting/);
    const log = await readFile(join(h.home, 'watch.log'), 'utf8');
    const lines = log.split('\n').filter((l) => l.includes("run 'ksync init'"));
    assert.ok(lines.length >= 1, log);
    assert.match(
      lines[0] ?? '',
      /^\S+Z warning: agentless@\S+\/app: no ksync agent on node \S+: run 'ksync init' .*; retrying in [\d.]+s$/,
    );
    await agentsOff(false);
    const [pod] = await runningPods(ns);
    assert.ok(pod);
    await waitPodFile(ns, pod, '/app/agentless.txt', 'waits for the agent\n');
    await waitFor(
      'watching',
      60_000,
      async () => (await getSync(h.ok, 'agentless')).state === 'watching',
    );
    await h.ok(['stop']);
  });

  it('the API server unreachable while the watch runs: retried with backoff, shown, recovered', async () => {
    const h = await makeHome();
    cleanups.push(() => h.ksync(['stop']));
    const config = JSON.parse(
      await kubectl(['config', 'view', '--raw', '--minify', '--flatten', '-o', 'json']),
    ) as { clusters: { cluster: { server: string } }[] };
    const cluster = config.clusters[0]?.cluster;
    assert.ok(cluster);
    const server = new URL(cluster.server);
    const relay = new Relay({ host: server.hostname, port: Number(server.port || 443) });
    await relay.start();
    cleanups.push(() => relay.stop());
    cluster.server = `https://127.0.0.1:${relay.port}`;
    const kubeconfig = join(h.home, 'relayed-kubeconfig.json');
    await writeFile(kubeconfig, JSON.stringify(config));
    await h.ok([
      'create',
      '--name',
      'relayed',
      '--selector',
      'app=demo',
      '-n',
      ns,
      '--kubeconfig',
      kubeconfig,
      local,
      '/app',
    ]);
    await h.ok(['watch', '--daemon']);
    await waitFor(
      'watching',
      90_000,
      async () => (await getSync(h.ok, 'relayed')).state === 'watching',
    );

    await relay.stop();
    const stoppedAt = Date.now();
    const unreachable = new RegExp(
      `cannot reach the cluster at https://127\\.0\\.0\\.1:${relay.port} \\(context "[^"]+"\\): connection refused; check`,
    );
    let view: GetJson | undefined;
    await waitFor('get to show the cluster unreachable', 60_000, async () => {
      view = await getSync(h.ok, 'relayed');
      return unreachable.test(`${view.error ?? ''}\n${view.targets?.[0]?.error ?? ''}`);
    });
    console.log(
      `unreachable shown ${Date.now() - stoppedAt} ms after the relay stopped: ${view?.error} / ${view?.targets?.[0]?.error}`,
    );
    assert.notEqual(view?.state, 'watching');
    // Retried with backoff: several attempts logged, further apart each time.
    await new Promise((r) => setTimeout(r, 8000));
    const retries = (await readFile(join(h.home, 'watch.log'), 'utf8'))
      .split('\n')
      .filter((l) => /^\S+Z warning: relayed/.test(l) && /retrying/.test(l));
    console.log(retries.slice(0, 8).join('\n'));
    assert.ok(retries.length >= 3, retries.join('\n'));
    const delays = retries.flatMap((l) => /retrying in ([\d.]+)s$/.exec(l)?.[1] ?? []).map(Number);
    assert.ok(
      delays.some((d) => d >= 2),
      `the delay grows: ${delays.join(', ')}`,
    );

    await relay.start();
    const restartedAt = Date.now();
    await writeFile(join(local, 'after-outage.txt'), 'back\n');
    const [pod] = await runningPods(ns);
    assert.ok(pod);
    await waitPodFile(ns, pod, '/app/after-outage.txt', 'back\n');
    await waitFor('watching again', 90_000, async () => {
      const v = await getSync(h.ok, 'relayed');
      return v.state === 'watching' && v.error === undefined;
    });
    console.log(`recovered ${Date.now() - restartedAt} ms after the relay came back`);
    const recovered = await getSync(h.ok, 'relayed');
    assert.ok((recovered.targets?.[0]?.reconnects ?? 0) >= 1);
    assert.match(recovered.targets?.[0]?.lastError ?? '', /lost the agent/);
    await h.ok(['stop']);
  });

  it('a conflict of a pod that is gone stays listed; --keep local settles it', async () => {
    const h = await makeHome();
    cleanups.push(() => h.ksync(['stop']));
    await h.ok(['create', '--name', 'gone', '--selector', 'app=demo', '-n', ns, local, '/app']);
    await h.ok(['watch', '--daemon']);
    await waitFor(
      'watching',
      90_000,
      async () => (await getSync(h.ok, 'gone')).state === 'watching',
    );
    const [pod] = await runningPods(ns);
    assert.ok(pod);
    await h.ok(['pause', 'gone']);
    await writeFile(join(local, 'clash.txt'), 'local side\n');
    await kubectl(['-n', ns, 'exec', pod, '--', 'sh', '-c', 'echo pod side > /app/clash.txt']);
    await h.ok(['resume', 'gone']);
    await h.ok(['flush', 'gone', '--timeout', '60s']);
    await kubectl(['-n', ns, 'delete', 'pod', pod, '--wait=false']);
    type Listed = { path: string; target?: string; targetGone?: boolean; savedIn?: string };
    let listed: Listed[] = [];
    await waitFor('the conflict listed as gone', 90_000, async () => {
      listed = JSON.parse((await h.ok(['conflicts', 'gone', '-o', 'json'])).stdout) as Listed[];
      return listed.some((c) => c.targetGone === true);
    });
    assert.deepEqual(
      listed.map((c) => [c.path, c.target, c.targetGone]),
      [['clash.txt', `${pod}/app`, true]],
    );
    assert.match(
      (await h.ok(['conflicts', 'gone'])).stdout,
      new RegExp(`${pod}/app \\(gone\\)\\s+clash\\.txt`),
    );
    const remote = await h.ksync(['resolve', 'gone', 'clash.txt', '--keep', 'remote']);
    assert.equal(remote.code, 1);
    assert.equal(remote.stderr.trim().split('\n').length, 1, remote.stderr);
    assert.match(
      remote.stderr,
      new RegExp(
        `^error: ${pod}/app is gone, so its version of clash\\.txt cannot be kept; its saved version is in \\S+: copy what you need from there into the local directory, then run: ksync resolve gone clash\\.txt --keep local\\n$`,
      ),
    );
    await h.ok(['resolve', 'gone', 'clash.txt', '--keep', 'local']);
    assert.deepEqual(JSON.parse((await h.ok(['conflicts', 'gone', '-o', 'json'])).stdout), []);
    assert.equal(await readFile(join(local, 'clash.txt'), 'utf8'), 'local side\n');
    // The Deployment's replacement may still be starting: the conflict settles without it.
    let replacement: string | undefined;
    await waitFor('a running replacement pod', 90_000, async () => {
      [replacement] = (await runningPods(ns)).filter((p) => p !== pod);
      return replacement !== undefined;
    });
    assert.ok(replacement);
    await waitPodFile(ns, replacement, '/app/clash.txt', 'local side\n');
    await h.ok(['stop']);
  });
});
