// A hostile container on the real cluster: a root process in the synced pod plants special
// files, odd names, a hard link to a file outside the sync root, symlinks to `/` and to the
// node's filesystem, and swaps a directory for such a symlink in a loop while ksync writes into
// it. Driven through bin/ksync (create, watch, flush, describe) and checked with kubectl exec and
// the node's own filesystem: nothing outside the root is read or written (sentinels in the
// container, on its volume and on the node stay as they were, and none of their content reaches
// local), each bad path is a problem on that path, and the sync goes on for the others.
//
// Sizes: KSYNC_HOSTILE_ENTRIES entries in one synced directory (default 20,000) and
// KSYNC_HOSTILE_HUGE entries in one directory the agent scans (default 100,000;
// docs/reliability-hostile.md gives the figures of a run with 1,000,000).

import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectRemoteEndpoint } from '@ksync/agent/client';
import { AGENT_SELECTOR, NAMESPACE, readAgentToken } from '@ksync/kube';
import {
  createNamespace,
  deleteNamespace,
  kubectl,
  readClusterInfo,
  runKubectl,
  waitFor,
  waitPodFile,
  waitPodReady,
} from './helpers/cluster.ts';
import {
  adminTarget,
  agentDialer,
  containerTarget,
  ksync,
  ksyncOk,
  readPod,
} from './helpers/ksync.ts';

const ENTRIES = Number(process.env.KSYNC_HOSTILE_ENTRIES ?? 20_000);
const HUGE = Number(process.env.KSYNC_HOSTILE_HUGE ?? 100_000);

/** A root pod of the test-app image (busybox) with an emptyDir at /data. */
function hostilePod(): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'hostile', labels: { app: 'hostile' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      securityContext: { runAsUser: 0, runAsGroup: 0 },
      containers: [
        {
          name: 'main',
          image: readClusterInfo().images.testApp,
          imagePullPolicy: 'Never',
          command: ['sleep', '100000'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
      volumes: [{ name: 'data', emptyDir: {} }],
    },
  });
}

interface Problem {
  path: string;
  message: string;
  side?: string;
}

/** Every file below `dir` with its content, by relative path (directories end in /). */
async function readLocal(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name).slice(dir.length + 1);
    if (entry.isDirectory()) out.set(`${path}/`, '');
    else if (entry.isFile() && !path.startsWith('big/')) {
      out.set(path, await readFile(join(dir, path), 'utf8'));
    } else out.set(path, `(${entry.isSymbolicLink() ? 'symlink' : 'other'})`);
  }
  return out;
}

/** Restart counts of the agent pods, by pod name. */
async function agentRestarts(): Promise<string> {
  return kubectl([
    '-n',
    NAMESPACE,
    'get',
    'pods',
    '-l',
    AGENT_SELECTOR,
    '-o',
    'jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].restartCount} {end}',
  ]);
}

describe('a hostile container', { timeout: 1_200_000 }, () => {
  let ns = '';
  let local = '';
  /** A directory on the node itself (this machine), which the container points symlinks at. */
  let host = '';
  let restarts = '';
  const exec = (script: string) =>
    kubectl(['-n', ns, 'exec', 'hostile', '--', 'sh', '-c', script], { timeoutMs: 600_000 });

  const describeSync = async () =>
    JSON.parse((await ksyncOk(['describe', 'hostile', '-o', 'json'])).stdout) as {
      state: string;
      problems: Problem[];
    };

  before(async () => {
    await ksyncOk(['init']);
    restarts = await agentRestarts();
    host = await mkdtemp(join(tmpdir(), 'ksync-hostile-node-'));
    await writeFile(join(host, 'secret'), 'node sentinel\n');
    ns = await createNamespace('ksync-hostile');
    await kubectl(['-n', ns, 'apply', '-f', '-'], { input: hostilePod() });
    await waitPodReady(ns, 'hostile');
    const started = Date.now();
    await exec(
      [
        'set -e',
        'mkdir -p /data/app /data/outside /sentinel',
        'echo top secret > /data/outside/secret && chmod 600 /data/outside/secret',
        'echo container sentinel > /sentinel/file',
        'cd /data/app',
        'echo ok > ok.txt',
        'mkfifo fifo',
        'mknod null-dev c 1 3',
        'ln /data/outside/secret hard',
        'ln -s / to-root',
        `ln -s /proc/1/root${host} to-node`,
        `printf 'x\\n' > "$(printf 'new\\nline')"`,
        `printf 'x\\n' > "$(printf 'bad\\377utf8')"`,
        `echo long > "$(printf 'a%.0s' $(seq 1 255))"`,
        // Names e1, e2, …: a bare 4913 is vim's probe file, which ksync ignores by default.
        `mkdir big && cd big && seq 1 ${ENTRIES} | sed 's/^/e/' | xargs touch`,
      ].join('\n'),
    );
    console.log(`hostile tree with ${ENTRIES} entries made in ${(Date.now() - started) / 1000} s`);
    local = await mkdtemp(join(tmpdir(), 'ksync-e2e-hostile-'));
    await ksyncOk([
      'create',
      '--name',
      'hostile',
      '-l',
      'app=hostile',
      '-n',
      ns,
      local,
      '/data/app',
    ]);
    await ksyncOk(['watch', '--daemon']);
  });
  after(async () => {
    await ksync(['stop']);
    if (ns !== '') await deleteNamespace(ns);
    await rm(host, { recursive: true, force: true });
  });

  it('syncs what can be synced, and makes each hostile entry a problem on its path', async () => {
    const started = Date.now();
    // Not in sync, and says why: flush fails naming the problems.
    const flush = await ksync(['flush', 'hostile', '--timeout', '600s'], 700_000);
    console.log(`first sync with ${ENTRIES} entries: ${(Date.now() - started) / 1000} s`);
    assert.equal(flush.code, 1, flush.stderr);
    assert.match(flush.stderr, /hostile is not in sync/);
    const view = await describeSync();
    const problems = view.problems.map((p) => `${p.side ?? ''} ${p.path}: ${p.message}`).sort();
    assert.deepEqual(
      problems.filter((p) => !p.includes('bad')),
      [
        'remote fifo: special file (FIFO, socket or device); not synced',
        'remote null-dev: special file (FIFO, socket or device); not synced',
        'remote to-node: symlink points outside the sync root; not synced',
        'remote to-root: symlink points outside the sync root; not synced',
      ],
    );
    assert.equal(
      problems.filter((p) => /bad.*utf8: name is not valid UTF-8; not synced/.test(p)).length,
      1,
      problems.join('\n'),
    );
    // The terminal shows them one per line, control characters escaped.
    const table = (await ksyncOk(['describe', 'hostile'])).stdout;
    assert.match(table, /Problems: +5/);
    assert.match(table, /remote +fifo +special file/);
    const files = await readLocal(local);
    assert.equal(files.get('ok.txt'), 'ok\n');
    assert.equal(files.get('new\nline'), 'x\n', 'a newline is a valid name');
    assert.equal(files.get('a'.repeat(255)), 'long\n', 'a 255-byte name');
    assert.equal(
      files.get('hard'),
      'top secret\n',
      'a hard link is the file under a name in the root',
    );
    for (const name of files.keys()) {
      assert.ok(!/^(fifo|null-dev|to-root|to-node|bad)/.test(name), `${name} must not be synced`);
    }
    // The sync goes on past the problems until every entry is across.
    await waitFor(`${ENTRIES} entries in big/`, 120_000, async () => {
      return (await readdir(join(local, 'big'))).length === ENTRIES;
    });
  });

  it('never changes the other name of a hard link', async () => {
    await chmod(join(local, 'hard'), 0o755);
    await ksync(['flush', 'hostile', '--timeout', '120s']);
    await waitFor(
      'hard to be executable in the container',
      60_000,
      async () => (await exec('stat -c %a /data/app/hard')).trim() === '700',
    );
    await writeFile(join(local, 'hard'), 'changed locally\n');
    await waitPodFile(ns, 'hostile', '/data/app/hard', 'changed locally\n');
    assert.equal(
      await exec('stat -c "%a %h" /data/outside/secret; cat /data/outside/secret'),
      '600 1\ntop secret\n',
    );
  });

  it('a directory swapped for a symlink to / or to the node while ksync writes into it', async () => {
    const script = [
      'rm -f /data/stop',
      'n=0',
      'while [ ! -e /data/stop ]; do',
      '  n=$((n + 1)); echo $n > /data/race-swaps',
      '  rm -rf /data/app/race; mkdir /data/app/race; sleep 0.05',
      '  rm -rf /data/app/race; ln -s / /data/app/race; sleep 0.05',
      `  rm -f /data/app/race; ln -s /proc/1/root${host} /data/app/race; sleep 0.05`,
      'done',
      'rm -rf /data/app/race',
    ].join('\n');
    // The loop is the foreground of one long exec: a process left in the background does not
    // outlive its exec here, and kubectl's stdin did not reach `cat > file`.
    const loop = runKubectl(['-n', ns, 'exec', 'hostile', '--', 'sh', '-c', script], {
      timeoutMs: 120_000,
    });
    await waitFor('the swapping loop to run', 30_000, async () => {
      const swaps = await runKubectl([
        '-n',
        ns,
        'exec',
        'hostile',
        '--',
        'cat',
        '/data/race-swaps',
      ]);
      return Number(swaps.stdout) > 0;
    });
    await mkdir(join(local, 'race'), { recursive: true });
    const until = Date.now() + 20_000;
    let written = 0;
    while (Date.now() < until) {
      await mkdir(join(local, 'race'), { recursive: true });
      await writeFile(join(local, 'race', `f${written++}`), `race ${written}\n`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await exec('touch /data/stop');
    const ended = await loop;
    assert.equal(ended.code, 0, `the swapping loop: ${ended.stderr}`);
    const swaps = (await exec('cat /data/race-swaps')).trim();
    console.log(`symlink race: ${written} local writes into race/ during ${swaps} swap rounds`);
    // The sync goes on: a new file reaches the container.
    await writeFile(join(local, 'after-race.txt'), 'still syncing\n');
    await waitPodFile(ns, 'hostile', '/data/app/after-race.txt', 'still syncing\n');
    // Nothing landed in the container's / or on the node, and the sentinels are as they were.
    const rootListing = await exec('ls -a /');
    assert.ok(!/^f\d+$/m.test(rootListing), rootListing);
    assert.equal(
      await exec('ls -a /sentinel; cat /sentinel/file'),
      '.\n..\nfile\ncontainer sentinel\n',
    );
    assert.deepEqual(await readdir(host), ['secret']);
    assert.equal(await readFile(join(host, 'secret'), 'utf8'), 'node sentinel\n');
  });

  it('nothing from outside the root reached local, and the agent never restarted', async () => {
    const files = await readLocal(local);
    for (const [name, content] of files) {
      assert.ok(!/sentinel/.test(content), `${name} holds a sentinel's content`);
      assert.ok(
        !/^(to-root|to-node|race\/(etc|proc|secret))/.test(name),
        `${name} came through a symlink`,
      );
    }
    assert.equal(await agentRestarts(), restarts);
  });

  it(`the agent scans a directory of ${HUGE.toLocaleString('en')} entries`, async () => {
    const made = Date.now();
    await exec(
      `mkdir -p /data/huge && cd /data/huge && seq 1 ${HUGE} | sed 's/^/e/' | xargs touch`,
    );
    console.log(`${HUGE} entries made in ${(Date.now() - made) / 1000} s`);
    const target = adminTarget();
    const pod = await readPod(ns, 'hostile');
    const remote = await connectRemoteEndpoint({
      url: 'ws://ksync-agent',
      dial: await agentDialer(target, pod.spec?.nodeName ?? ''),
      token: await readAgentToken(target),
      root: '/data/huge',
      ignore: [],
      target: containerTarget(pod, 'main'),
    });
    try {
      const started = Date.now();
      const result = await remote.scan({ full: true });
      console.log(`agent scan of ${HUGE} entries: ${(Date.now() - started) / 1000} s`);
      assert.equal(result.snapshot.size, HUGE + 1);
      assert.deepEqual(result.problems, []);
    } finally {
      await remote.close();
    }
    assert.equal(await agentRestarts(), restarts);
  });
});
