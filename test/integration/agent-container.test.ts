/**
 * The agent in container mode against a real process that looks like a container to it, without
 * Kubernetes: a `sleep` chrooted into a temp root, in its own mount namespace (unshare) with a
 * tmpfs "volume" mounted at /app/vol, and moved into a cgroup named the way the kubelet and
 * containerd name one (`.../kubepods/besteffort/pod<uid>/<id>`). A process of the node's mount
 * namespace sits in the same cgroup first (as CRI-O's conmon would) and must never be served.
 * Needs root (unshare, mount, cgroups), which the test machines give.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chown,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  rmdir,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { UserError, type ContainerTarget } from '@ksync/core';
import { RemoteError } from '@ksync/agent';
import { connectRemoteEndpoint } from '@ksync/agent/client';
import { parseLdd } from '../../deploy/image/images.ts';
import {
  makeAgentFixture,
  startAgent,
  waitUntil,
  type AgentFixture,
  type AgentProcess,
} from './helpers/agent-process.ts';
import { startAgentSession } from './helpers/agent-session.ts';

const run = promisify(execFile);

/** A process that passes for a container: chrooted, own mount namespace, kubepods cgroup. */
interface FakeContainer {
  readonly rootfs: string;
  readonly pid: number;
  readonly target: ContainerTarget;
  stop(): Promise<void>;
}

/** The cgroup hierarchy to place processes in: v2's unified tree or v1's pids controller. */
function cgroupBase(): string {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/pids';
}

async function childPids(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function startFakeContainer(nodeName: string): Promise<FakeContainer> {
  const rootfs = await mkdtemp(join(tmpdir(), 'ksync-fake-container-'));
  await mkdir(join(rootfs, 'app/vol'), { recursive: true });
  // A file of the "image": older than the container's start by more than the second the start
  // time may be early by (container/start-time.ts).
  await writeFile(join(rootfs, 'app/image.txt'), 'from the image\n');
  await new Promise((resolve) => setTimeout(resolve, 1100));
  // /sleep and the libraries it links against, at the same paths inside.
  await copyFile('/usr/bin/sleep', join(rootfs, 'sleep'));
  await run('chmod', ['755', join(rootfs, 'sleep')]);
  for (const lib of parseLdd((await run('ldd', ['/usr/bin/sleep'])).stdout)) {
    await mkdir(join(rootfs, dirname(lib)), { recursive: true });
    await copyFile(lib, join(rootfs, lib));
  }
  const podUid = randomUUID();
  const id = randomBytes(32).toString('hex');
  const top = join(cgroupBase(), `ksync-test-${process.pid}-${id.slice(0, 8)}`);
  const cgroup = join(top, `kubepods/besteffort/pod${podUid}/${id}`);
  await mkdir(cgroup, { recursive: true });
  // A process of the node's mount namespace joins the cgroup first, like CRI-O's conmon.
  const monitor = spawn('sleep', ['3600'], { stdio: 'ignore' });
  await writeFile(join(cgroup, 'cgroup.procs'), String(monitor.pid));
  const launcher: ChildProcess = spawn(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      '--fork',
      'sh',
      '-c',
      'mount -t tmpfs tmpfs "$1/app/vol" && exec chroot "$1" /sleep 3600',
      'sh',
      rootfs,
    ],
    { stdio: 'ignore' },
  );
  let pid = 0;
  await waitUntil(
    async () => {
      for (const child of await childPids(launcher.pid as number)) {
        const root = await readlink(`/proc/${child}/root`).catch(() => '');
        if (root === rootfs) pid = child;
      }
      return pid !== 0;
    },
    10_000,
    'the fake container to chroot',
  );
  await writeFile(join(cgroup, 'cgroup.procs'), String(pid));
  return {
    rootfs,
    pid,
    target: {
      kind: 'container',
      namespace: 'default',
      pod: 'fake',
      podUid,
      container: 'app',
      containerId: `containerd://${id}`,
      nodeName,
    },
    async stop() {
      for (const child of [launcher, monitor]) child.kill('SIGKILL');
      if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
      await waitUntil(() => !existsSync(`/proc/${pid}`), 10_000, 'the fake container to exit');
      await waitUntil(
        async () => (await readFile(join(cgroup, 'cgroup.procs'), 'utf8')).trim() === '',
        10_000,
        'the cgroup to empty',
      );
      for (let dir = cgroup; dir.startsWith(top); dir = dirname(dir)) await rmdir(dir);
      await rm(rootfs, { recursive: true, force: true });
    },
  };
}

/** The error code behind a refused first connection. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof UserError, String(error));
    assert.ok(error.cause instanceof RemoteError, String(error.cause));
    return error.cause.code;
  }
  throw new Error('the open was not refused');
}

describe('agent: container mode against a real chrooted, namespaced process', () => {
  let fixture: AgentFixture;
  let agent: AgentProcess;
  let url: string;
  let container: FakeContainer;

  before(async () => {
    fixture = await makeAgentFixture();
    agent = await startAgent({ tokenFile: fixture.tokenFile, nodeName: 'test-node' });
    url = agent.url;
    container = await startFakeContainer('test-node');
  });

  after(async () => {
    await container.stop();
    assert.deepEqual(await agent.stop(), { code: 0, signal: null });
    await fixture.cleanup();
  });

  const open = (root: string, target: ContainerTarget = container.target) =>
    connectRemoteEndpoint({ url, token: fixture.token, root, ignore: [], target });
  const session = (remoteRoot: string) =>
    startAgentSession({ url, token: fixture.token, remoteRoot, target: container.target });

  it('syncs both ways with the container root, volumes included', async () => {
    const s = await session('/app');
    try {
      await writeFile(join(s.local, 'hello.txt'), 'from local\n');
      await mkdir(join(s.local, 'vol'));
      await writeFile(join(s.local, 'vol/inner.txt'), 'into the volume\n');
      const inContainer = `/proc/${container.pid}/root/app`;
      await waitUntil(() => existsSync(join(inContainer, 'vol/inner.txt')), 20_000, 'the file');
      assert.equal(await readFile(join(container.rootfs, 'app/hello.txt'), 'utf8'), 'from local\n');
      // The tmpfs exists only in the container's mount namespace: the write went through it.
      assert.equal(existsSync(join(container.rootfs, 'app/vol/inner.txt')), false);
      assert.equal(existsSync('/app/hello.txt'), false);
      // A write by the container itself comes back.
      await writeFile(join(inContainer, 'vol/by-container.txt'), 'from the container\n');
      await waitUntil(() => existsSync(join(s.local, 'vol/by-container.txt')), 20_000, 'write');
    } finally {
      await s.stop();
    }
  });

  it('tells a rebase which paths are on a volume and which changed since the start', async () => {
    await writeFile(join(container.rootfs, 'app/written.txt'), 'after the start\n');
    await writeFile(`/proc/${container.pid}/root/app/vol/v.txt`, 'on the volume\n');
    const remote = await open('/app');
    try {
      const scan = await remote.scan({ full: true });
      assert.ok(scan.snapshot.has('image.txt') && scan.snapshot.has('vol/v.txt'));
      const facts = await remote.readRestartFacts();
      assert.deepEqual(facts.mounts, ['vol']);
      const changed = facts.changed ?? [];
      assert.ok(changed.includes('written.txt'), String(facts.changed));
      assert.ok(!changed.includes('image.txt'), 'the image file is not changed');
      assert.ok(!changed.some((p) => p.startsWith('vol')), 'the volume is left out');
    } finally {
      await remote.close();
    }
  });

  it('gives new files the owner of their parent directory inside the container', async () => {
    await mkdir(join(container.rootfs, 'app/owned'));
    await chown(join(container.rootfs, 'app/owned'), 1000, 1000);
    const s = await session('/app/owned');
    try {
      await writeFile(join(s.local, 'mine.txt'), 'for uid 1000\n');
      const file = join(container.rootfs, 'app/owned/mine.txt');
      await waitUntil(async () => existsSync(file), 20_000, 'the owned file');
      const st = await stat(file);
      assert.deepEqual([st.uid, st.gid], [1000, 1000]);
    } finally {
      await s.stop();
    }
  });

  it('never follows a symlink planted in the container', async () => {
    const hostDir = await mkdtemp(join(tmpdir(), 'ksync-escape-target-'));
    try {
      await symlink('/', join(container.rootfs, 'app/to-root'));
      await symlink(hostDir, join(container.rootfs, 'app/to-host'));
      await symlink('../..', join(container.rootfs, 'app/up'));
      const remote = await open('/app');
      try {
        const changes = ['to-root/escaped', 'to-host/escaped', 'up/escaped'].map((path) => ({
          path,
          old: undefined,
          new: { kind: 'directory' as const },
        }));
        const result = await remote.apply(changes);
        assert.deepEqual(result.applied, []);
        assert.equal(result.problems.length, 3);
        for (const p of result.problems) assert.match(p.message, /symlink|changed/);
        assert.equal(existsSync('/escaped'), false);
        assert.equal(existsSync(join(hostDir, 'escaped')), false);
        assert.equal(existsSync(join(container.rootfs, 'escaped')), false);
      } finally {
        await remote.close();
      }
      assert.equal(await refusal(open('/app/to-root')), 'bad-root');
      assert.equal(await refusal(open('/app/to-host/x')), 'bad-root');
    } finally {
      await rm(hostDir, { recursive: true, force: true });
    }
  });

  it('refuses targets it cannot serve, with a code for each', async () => {
    const t = container.target;
    assert.equal(await refusal(open('/app', { ...t, nodeName: 'other-node' })), 'wrong-node');
    assert.equal(
      await refusal(open('/app', { ...t, runtimeClassName: 'kata-qemu' })),
      'target-sandboxed',
    );
    assert.equal(await refusal(open('/app', { ...t, podUid: randomUUID() })), 'target-gone');
    assert.equal(
      await refusal(open('/app', { ...t, containerId: `containerd://${'0'.repeat(64)}` })),
      'target-gone',
    );
    assert.equal(await refusal(open('/')), 'bad-root');
    const direct = connectRemoteEndpoint({ url, token: fixture.token, root: '/app', ignore: [] });
    assert.equal(await refusal(direct), 'bad-root');
  });

  it('fails every request with target-gone once the process is gone', async () => {
    const other = await startFakeContainer('test-node');
    const remote = await open('/app', other.target);
    try {
      await remote.scan({ full: true });
      process.kill(other.pid, 'SIGKILL');
      await waitUntil(() => !existsSync(`/proc/${other.pid}`), 10_000, 'the process to exit');
      await assert.rejects(remote.scan({ full: true }), (error) => {
        assert.ok(error instanceof RemoteError);
        assert.equal(error.code, 'target-gone');
        assert.match(error.message, /resolve its ID again/);
        return true;
      });
    } finally {
      await remote.close();
      await other.stop();
    }
  });
});
