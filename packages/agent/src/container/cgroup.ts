/**
 * Deciding from the text of `/proc/<pid>/cgroup` whether a process belongs to a given container
 * of a given pod. Pure: no I/O, so every runtime × cgroup driver × cgroup version is tested on
 * fixtures (cgroup.test.ts, with real captures under fixtures/).
 *
 * Invariants:
 * - The container ID must be a whole cgroup path segment in one of the runtimes' forms
 *   (`cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`, `crio-<id>`, `<id>`,
 *   or the `<pod slice>:cri-containerd:<id>` form of containerd's cgroupfs driver under a
 *   systemd kubelet), optionally followed by CRI-O's `container` child. Never a substring:
 *   CRI-O's monitor lives in `crio-conmon-<id>.scope`, in the node's mount namespace, and a loose
 *   match would serve the node's root filesystem.
 * - The same path must name the pod: `pod<uid>` (cgroupfs) or `…-pod<uid with underscores>.slice`
 *   (systemd), above the container segment. An ID alone is not enough: the client says which
 *   pod it means, and the agent serves only a container of that pod.
 * - cgroup v1 files have one line per hierarchy, v2 one `0::` line; a process matches when any
 *   line does. Paths seen from another cgroup namespace start with `/..` segments; only the
 *   segments that name the pod and the container matter.
 */

/** The container runtimes whose IDs Kubernetes reports. */
export type Runtime = 'containerd' | 'cri-o' | 'docker';

/** A container ID as the pod status gives it (`containerd://<id>`), split. */
export interface ContainerRef {
  readonly runtime: Runtime;
  /** 64 lowercase hex digits. */
  readonly id: string;
}

/** Which container of which pod a cgroup file is checked against. */
export interface CgroupQuery {
  /** The bare 64-hex container ID. */
  readonly containerId: string;
  /** The pod UID with dashes, as in `metadata.uid`. */
  readonly podUid: string;
}

/**
 * The verdict on one cgroup file: the process is in the container (`match`), in a cgroup
 * named after the container but outside the pod (`other-pod`: refused), or unrelated (`none`).
 */
export type CgroupVerdict = 'match' | 'other-pod' | 'none';

const RUNTIME_SCHEMES: Readonly<Record<string, Runtime>> = {
  'containerd://': 'containerd',
  'cri-o://': 'cri-o',
  'docker://': 'docker',
};

/** Parses `containerd://<id>`, `cri-o://<id>` or `docker://<id>`; undefined for anything else. */
export function parseContainerId(value: string): ContainerRef | undefined {
  const match = /^([a-z-]+:\/\/)([0-9a-f]{64})$/.exec(value);
  const runtime = match ? RUNTIME_SCHEMES[match[1] as string] : undefined;
  return runtime === undefined
    ? undefined
    : { runtime, id: (match as RegExpExecArray)[2] as string };
}

/** The cgroup paths in a `/proc/<pid>/cgroup` text, one per hierarchy line. */
export function parseCgroupPaths(text: string): string[] {
  const paths: string[] = [];
  for (const line of text.split('\n')) {
    // `hierarchy-ID:controllers:path`; the path itself may contain colons.
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    paths.push(line.slice(second + 1));
  }
  return paths;
}

/** Decides whether the process whose cgroup file is `text` runs in the queried container. */
export function matchContainerCgroup(text: string, query: CgroupQuery): CgroupVerdict {
  let verdict: CgroupVerdict = 'none';
  for (const path of parseCgroupPaths(text)) {
    const line = matchPath(path, query);
    if (line === 'match') return 'match';
    if (line === 'other-pod') verdict = 'other-pod';
  }
  return verdict;
}

function matchPath(path: string, query: CgroupQuery): CgroupVerdict {
  const segments = path.split('/').filter((s) => s.length > 0 && s !== '..');
  // CRI-O (systemd driver) may put the process in a `container` child of the container scope.
  if (segments.at(-1) === 'container') segments.pop();
  const last = segments.pop();
  if (last === undefined) return 'none';
  const id = query.containerId;
  const forms = [`cri-containerd-${id}.scope`, `crio-${id}.scope`, `docker-${id}.scope`];
  let above: string[];
  if (last === id || last === `crio-${id}` || forms.includes(last)) {
    above = segments;
  } else if (last.endsWith(`:cri-containerd:${id}`)) {
    // `kubepods-<qos>-pod<uid>.slice:cri-containerd:<id>`: the pod slice is the prefix.
    above = [...segments, last.slice(0, last.length - `:cri-containerd:${id}`.length)];
  } else {
    return 'none';
  }
  return above.some((segment) => namesPod(segment, query.podUid)) ? 'match' : 'other-pod';
}

/** True when a cgroup segment is the pod's own cgroup (cgroupfs or systemd naming). */
function namesPod(segment: string, podUid: string): boolean {
  if (segment === `pod${podUid}`) return true;
  const slice = `-pod${podUid.replaceAll('-', '_')}.slice`;
  return segment.endsWith(slice) && segment.includes('kubepods');
}
