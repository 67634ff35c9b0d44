import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { withTempDir, writeTree, type TreeSpec } from '@ksync/fs/test-helpers';
import { parseProcessStat, readContainerProcess, readProcessAlive } from './proc.ts';

const ID = 'c0ffee'.repeat(10) + 'c0ff';
const UID = '8d1c2b3a-4f5e-4d6c-8b7a-0123456789ab';
const QUERY = { containerId: ID, podUid: UID };
const HOST_MNT = 'mnt:[4026531840]';
const POD_MNT = 'mnt:[4026532999]';
const CONTAINER_CGROUP = `0::/kubepods/besteffort/pod${UID}/${ID}\n`;
const CONMON_CGROUP = `0::/kubepods/besteffort/pod${UID}/crio-conmon-${ID}\n`;

/** One fake /proc/<pid>: its cgroup, mount namespace, stat fields and uid map. */
function proc(options: {
  cgroup: string;
  mnt?: string;
  start: number;
  state?: string;
  uidMap?: string;
  comm?: string;
}): TreeSpec {
  const comm = options.comm ?? 'sleep';
  // Fields 3..22: state, then 18 numbers, the last of which (field 22) is the start time.
  const fields = [options.state ?? 'S', ...Array.from({ length: 18 }, () => '0'), options.start];
  return {
    cgroup: options.cgroup,
    stat: `42 (${comm}) ${fields.join(' ')} 0 0\n`,
    uid_map: options.uidMap ?? '         0          0 4294967295\n',
    ns: { mnt: { symlink: options.mnt ?? POD_MNT } },
  };
}

async function withProc(tree: TreeSpec, body: (dir: string) => void): Promise<void> {
  await withTempDir(async (dir) => {
    const root = join(dir, 'proc');
    await writeTree(root, {
      '1': proc({ cgroup: '0::/init.scope\n', mnt: HOST_MNT, start: 1 }),
      // The agent itself, in its own mount namespace.
      '2': proc({ cgroup: '0::/agent\n', mnt: 'mnt:[4026530001]', start: 2 }),
      self: { symlink: '2' },
      ...tree,
    });
    body(root);
  });
}

describe('parseProcessStat', () => {
  it('reads state and start time past a command name with spaces and parentheses', () => {
    const text = `7 (a) b (c)) R ${Array.from({ length: 18 }, (_, i) => i).join(' ')} 99123 5 6\n`;
    assert.deepEqual(parseProcessStat(text), { state: 'R', startTime: 99123 });
    assert.equal(parseProcessStat('7 (x) S 1 2'), undefined);
  });
});

describe('readContainerProcess', () => {
  it('takes the oldest process of the container and skips the host mount namespace', async () => {
    await withProc(
      {
        // conmon starts first and runs in the node's mount namespace.
        '90': proc({ cgroup: CONMON_CGROUP, mnt: HOST_MNT, start: 10, comm: 'conmon' }),
        // A process in the container cgroup but in the host mount namespace (never served).
        '95': proc({ cgroup: CONTAINER_CGROUP, mnt: HOST_MNT, start: 11 }),
        '300': proc({ cgroup: CONTAINER_CGROUP, start: 30 }),
        '120': proc({ cgroup: CONTAINER_CGROUP, start: 20 }),
        '130': proc({ cgroup: '0::/kubepods/besteffort/podx/other\n', start: 5 }),
        // A process in the container cgroup sharing the agent's mount namespace.
        '101': proc({ cgroup: CONTAINER_CGROUP, mnt: 'mnt:[4026530001]', start: 12 }),
      },
      (root) => {
        const found = readContainerProcess(QUERY, root);
        assert.deepEqual(found, { ok: true, process: { pid: 120, startTime: 20 } });
        assert.equal(readProcessAlive({ pid: 120, startTime: 20 }, root), true);
        // Same pid, another start time: a recycled pid is not the resolved process.
        assert.equal(readProcessAlive({ pid: 120, startTime: 21 }, root), false);
        assert.equal(readProcessAlive({ pid: 999, startTime: 20 }, root), false);
      },
    );
  });

  it('says target-gone when no process matches, naming why', async () => {
    await withProc(
      { '90': proc({ cgroup: CONMON_CGROUP, mnt: HOST_MNT, start: 10, comm: 'conmon' }) },
      (root) => {
        const found = readContainerProcess(QUERY, root);
        assert.equal(found.ok, false);
        assert.equal(!found.ok && found.error.code, 'target-gone');
        assert.match(!found.ok ? found.error.message : '', /resolve its ID again/);
      },
    );
    await withProc(
      {
        '200': proc({
          cgroup: `0::/kubepods/besteffort/pod11111111-2222-4333-8444-555555555555/${ID}\n`,
          start: 3,
        }),
      },
      (root) => {
        const found = readContainerProcess(QUERY, root);
        assert.equal(!found.ok && found.error.code, 'target-gone');
        assert.match(!found.ok ? found.error.message : '', /another pod/);
      },
    );
  });

  it('says target-not-running when only exited processes are left', async () => {
    await withProc({ '200': proc({ cgroup: CONTAINER_CGROUP, start: 3, state: 'Z' }) }, (root) => {
      const found = readContainerProcess(QUERY, root);
      assert.equal(!found.ok && found.error.code, 'target-not-running');
      assert.equal(readProcessAlive({ pid: 200, startTime: 3 }, root), false);
    });
  });

  it('refuses a pod in a user namespace', async () => {
    await withProc(
      { '200': proc({ cgroup: CONTAINER_CGROUP, start: 3, uidMap: '0 65536 65536\n' }) },
      (root) => {
        const found = readContainerProcess(QUERY, root);
        assert.equal(!found.ok && found.error.code, 'target-user-namespace');
      },
    );
  });
});
