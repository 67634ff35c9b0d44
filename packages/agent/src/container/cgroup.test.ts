import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { matchContainerCgroup, parseCgroupPaths, parseContainerId } from './cgroup.ts';

const ID = '3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899';
const OTHER_ID = 'aa'.repeat(32);
const UID = '8d1c2b3a-4f5e-4d6c-8b7a-0123456789ab';
const UID_ = UID.replaceAll('-', '_');
const OTHER_UID = '11111111-2222-4333-8444-555555555555';
const QUERY = { containerId: ID, podUid: UID };

type Runtime = 'containerd' | 'cri-o' | 'docker';
type Driver = 'systemd' | 'cgroupfs';
type Qos = 'guaranteed' | 'burstable' | 'besteffort';

/** The container's cgroup path as the kubelet and runtime lay it out. */
function containerPath(runtime: Runtime, driver: Driver, qos: Qos, id = ID, uid = UID): string {
  if (driver === 'systemd') {
    const podSlice =
      qos === 'guaranteed'
        ? `/kubepods.slice/kubepods-pod${uid.replaceAll('-', '_')}.slice`
        : `/kubepods.slice/kubepods-${qos}.slice/kubepods-${qos}-pod${uid.replaceAll('-', '_')}.slice`;
    const scope = { containerd: 'cri-containerd', 'cri-o': 'crio', docker: 'docker' }[runtime];
    return `${podSlice}/${scope}-${id}.scope`;
  }
  const pod = qos === 'guaranteed' ? `/kubepods/pod${uid}` : `/kubepods/${qos}/pod${uid}`;
  return `${pod}/${runtime === 'cri-o' ? `crio-${id}` : id}`;
}

/** A v1 file: one line per hierarchy, all in the container's cgroup (as runc sets it up). */
function v1(path: string): string {
  const controllers = [
    'name=systemd',
    'pids',
    'blkio',
    'freezer',
    'devices',
    'memory',
    'cpuset',
    'cpuacct',
    'cpu',
  ];
  return (
    controllers.map((c, i) => `${controllers.length - i}:${c}:${path}`).join('\n') + '\n0::/\n'
  );
}

/** A v2 file; `nested` shows it as a reader in another cgroup namespace sees it. */
function v2(path: string, nested = false): string {
  if (!nested) return `0::${path}\n`;
  const tail = path.split('/').slice(-2).join('/');
  return `0::/../../${tail}\n`;
}

describe('parseContainerId', () => {
  it('splits the three runtimes of the pod status', () => {
    assert.deepEqual(parseContainerId(`containerd://${ID}`), { runtime: 'containerd', id: ID });
    assert.deepEqual(parseContainerId(`cri-o://${ID}`), { runtime: 'cri-o', id: ID });
    assert.deepEqual(parseContainerId(`docker://${ID}`), { runtime: 'docker', id: ID });
  });

  it('refuses anything else', () => {
    for (const bad of [
      ID,
      `rkt://${ID}`,
      `containerd://${ID.slice(1)}`,
      `containerd://${ID}0`,
      `containerd://${ID.toUpperCase()}`,
      `containerd:/${ID}`,
      '',
    ]) {
      assert.equal(parseContainerId(bad), undefined, bad);
    }
  });
});

describe('parseCgroupPaths', () => {
  it('keeps colons inside the path', () => {
    assert.deepEqual(parseCgroupPaths('1:name=systemd:/a.slice:cri-containerd:x\n0::/b\n'), [
      '/a.slice:cri-containerd:x',
      '/b',
    ]);
  });
});

describe('matchContainerCgroup', () => {
  for (const runtime of ['containerd', 'cri-o', 'docker'] as const) {
    for (const driver of ['systemd', 'cgroupfs'] as const) {
      for (const qos of ['guaranteed', 'burstable', 'besteffort'] as const) {
        const path = containerPath(runtime, driver, qos);
        it(`matches ${runtime}, ${driver} driver, ${qos}, cgroup v1 and v2`, () => {
          assert.equal(matchContainerCgroup(v1(path), QUERY), 'match');
          assert.equal(matchContainerCgroup(v2(path), QUERY), 'match');
          assert.equal(matchContainerCgroup(v2(path, true), QUERY), 'match');
        });
        it(`does not match another container or pod: ${runtime}, ${driver}, ${qos}`, () => {
          const other = containerPath(runtime, driver, qos, OTHER_ID);
          assert.equal(matchContainerCgroup(v1(other), QUERY), 'none');
          assert.equal(matchContainerCgroup(v2(other), QUERY), 'none');
          const otherPod = containerPath(runtime, driver, qos, ID, OTHER_UID);
          assert.equal(matchContainerCgroup(v1(otherPod), QUERY), 'other-pod');
          assert.equal(matchContainerCgroup(v2(otherPod), QUERY), 'other-pod');
        });
      }
    }
  }

  it("skips CRI-O's conmon, with either driver and cgroup version", () => {
    const systemd = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${ID}.scope`;
    const cgroupfs = `/kubepods/burstable/pod${UID}/crio-conmon-${ID}`;
    for (const path of [systemd, cgroupfs]) {
      assert.equal(matchContainerCgroup(v1(path), QUERY), 'none', path);
      assert.equal(matchContainerCgroup(v2(path), QUERY), 'none', path);
    }
  });

  it("matches CRI-O's `container` child cgroup", () => {
    const path = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope/container`;
    assert.equal(matchContainerCgroup(v2(path), QUERY), 'match');
  });

  it('matches containerd with the cgroupfs driver under a systemd kubelet (`:cri-containerd:`)', () => {
    const path = `/system.slice/containerd.service/kubepods-burstable-pod${UID_}.slice:cri-containerd:${ID}`;
    assert.equal(matchContainerCgroup(v1(path), QUERY), 'match');
    const otherPod = `/system.slice/containerd.service/kubepods-burstable-pod${OTHER_UID.replaceAll('-', '_')}.slice:cri-containerd:${ID}`;
    assert.equal(matchContainerCgroup(v1(otherPod), QUERY), 'other-pod');
  });

  it('never matches the ID as a substring of a segment', () => {
    for (const path of [
      `/kubepods/besteffort/pod${UID}/x${ID}`,
      `/kubepods/besteffort/pod${UID}/${ID}.scope`,
      `/kubepods/besteffort/pod${UID}/cri-containerd-${ID}.scope.bak`,
      `/kubepods/besteffort/pod${UID}/${ID}/child`,
      `/kubepods/besteffort/pod${UID}/crio-${ID}.scopex`,
      `/kubepods/besteffort/pod${UID}/crio-${ID}/containerx`,
    ]) {
      assert.equal(matchContainerCgroup(v2(path), QUERY), 'none', path);
    }
  });

  it('needs the pod as a whole segment, with dashes (cgroupfs) or underscores (systemd)', () => {
    const dashedSlice = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID}.slice/cri-containerd-${ID}.scope`;
    assert.equal(matchContainerCgroup(v2(dashedSlice), QUERY), 'other-pod');
    const underscoredDir = `/kubepods/besteffort/pod${UID_}/${ID}`;
    assert.equal(matchContainerCgroup(v2(underscoredDir), QUERY), 'other-pod');
    const podInName = `/kubepods/besteffort/xpod${UID}/${ID}`;
    assert.equal(matchContainerCgroup(v2(podInName), QUERY), 'other-pod');
  });

  it('ignores host processes and the root cgroup', () => {
    assert.equal(matchContainerCgroup('0::/system.slice/containerd.service\n', QUERY), 'none');
    assert.equal(matchContainerCgroup('0::/\n', QUERY), 'none');
    assert.equal(matchContainerCgroup('', QUERY), 'none');
    assert.equal(matchContainerCgroup('garbage\n', QUERY), 'none');
  });
});

/** A capture from the local cluster (containerd, cgroupfs driver, cgroup v1; see fixtures/). */
interface Capture {
  readonly qos: string;
  readonly podUid: string;
  readonly containerId: string;
  /** `/proc/<pid>/cgroup` of the container's main process. */
  readonly cgroup: string;
  /** The cgroup files of the pod's other processes: the sandbox (pause) and the app's children. */
  readonly podSiblings: readonly string[];
}

describe('matchContainerCgroup on captures from a real node', () => {
  const dir = new URL('./fixtures/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  it('has a capture for each QoS class', () => {
    assert.deepEqual(files.map((f) => f.replace(/^.*-|\.json$/g, '')).sort(), [
      'besteffort',
      'burstable',
      'guaranteed',
    ]);
  });
  for (const file of files) {
    const capture = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as Capture;
    it(`matches the container and not the sandbox: ${file}`, () => {
      const ref = parseContainerId(capture.containerId);
      assert.ok(ref);
      const query = { containerId: ref.id, podUid: capture.podUid };
      assert.equal(matchContainerCgroup(capture.cgroup, query), 'match');
      // The app's own child processes match too; the sandbox's processes do not.
      for (const text of capture.podSiblings) {
        assert.equal(matchContainerCgroup(text, query), text.includes(ref.id) ? 'match' : 'none');
      }
      // The pause container of the sandbox is among the siblings and does not match.
      assert.ok(capture.podSiblings.some((text) => !text.includes(ref.id)));
      assert.equal(
        matchContainerCgroup(capture.cgroup, { ...query, podUid: OTHER_UID }),
        'other-pod',
      );
    });
  }
});
