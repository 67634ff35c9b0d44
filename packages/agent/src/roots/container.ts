/**
 * Kubernetes mode: an `open` names a container (pod UID, container ID from the pod status, node)
 * and a path inside it. The agent finds the container's main process in /proc and serves
 * `/proc/<pid>/root/<path>`, which is the container's own view of its filesystem, volumes
 * included (proc_pid_root(5)).
 *
 * Invariants:
 * - Only a target on this agent's node is served (`wrong-node` otherwise), only a process whose
 *   cgroup names both the container and the pod (container/proc.ts), and never a sandboxed
 *   runtime whose files the node cannot see (kata, gVisor: `target-sandboxed`).
 * - Below `/proc/<pid>/root` nothing is followed if it is a symlink (safe-path.ts): a container
 *   can plant absolute links, which the kernel would resolve against the agent's own root.
 * - The process is re-checked (pid and start time) before every request: once it is gone every
 *   request fails with `target-gone`, and the client resolves the container again.
 * - After a restart the client asks which paths may hold the container's own edits: the
 *   container's mounts (from the process's mountinfo, whose mount points are paths in the
 *   container, like the root) and its start time (container/start-time.ts).
 */
import { ROOT, validateRemoteRoot, wireError } from '@ksync/core';
import { readFileSync } from 'node:fs';
import { parseContainerId } from '../container/cgroup.ts';
import { parseMountPoints, relativeMounts } from '../container/mountinfo.ts';
import { readContainerProcess, readProcessAlive } from '../container/proc.ts';
import { readStartedAtNs } from '../container/start-time.ts';
import { resolveRootBelow, type RootResolver } from './resolver.ts';

/** Runtime classes whose containers run in a VM or a user-space kernel. */
const SANDBOXED_RUNTIME = /kata|gvisor|runsc/i;

/** Options for `createContainerResolver`. */
export interface ContainerResolverOptions {
  /** This agent's node (from `KSYNC_NODE_NAME`, the downward API). */
  readonly nodeName: string;
  /** Where the host's /proc is (default `/proc`; the agent pod has `hostPID`). */
  readonly proc?: string;
}

/** Serves paths inside the containers running on this node. */
export function createContainerResolver(options: ContainerResolverOptions): RootResolver {
  const proc = options.proc ?? '/proc';
  return {
    resolve(open) {
      const target = open.target;
      if (target === undefined) {
        return {
          ok: false,
          error: wireError(
            'bad-root',
            'this agent serves containers: the open must name a container target',
          ),
        };
      }
      const name = `container ${target.container} of pod ${target.namespace}/${target.pod}`;
      if (target.nodeName !== options.nodeName) {
        return {
          ok: false,
          error: wireError(
            'wrong-node',
            `${name} runs on node ${target.nodeName}, but this agent runs on ${options.nodeName}: connect to the agent on ${target.nodeName}`,
          ),
        };
      }
      if (
        target.runtimeClassName !== undefined &&
        SANDBOXED_RUNTIME.test(target.runtimeClassName)
      ) {
        return {
          ok: false,
          error: wireError(
            'target-sandboxed',
            `${name} runs in the sandboxed runtime class ${target.runtimeClassName}, whose files the node cannot reach; ksync cannot serve it`,
          ),
        };
      }
      if (validateRemoteRoot(open.root) === ROOT) {
        // The container's `/` holds /proc, /sys and /dev of the container; and served as
        // `/proc/<pid>/root` itself it would be the magic link rather than a directory.
        return {
          ok: false,
          error: wireError('bad-root', `${name}: sync a directory inside the container, not /`),
        };
      }
      const ref = parseContainerId(target.containerId);
      if (ref === undefined) {
        return { ok: false, error: wireError('bad-message', `${name}: bad container ID`) };
      }
      const found = readContainerProcess({ containerId: ref.id, podUid: target.podUid }, proc);
      if (!found.ok) return found;
      const { pid } = found.process;
      const below = resolveRootBelow(`${proc}/${pid}/root/.`, open.root);
      if (!below.ok) return below;
      return {
        ok: true,
        served: {
          root: below.absolute,
          fields: { target: `${target.namespace}/${target.pod}/${target.container}`, pid },
          check: () =>
            readProcessAlive(found.process, proc)
              ? undefined
              : wireError(
                  'target-gone',
                  `${name} stopped (its process ${pid} is gone); the container may have restarted: resolve its ID again`,
                ),
          readRestartFacts: () => {
            const startedAtNs = readStartedAtNs(found.process, proc);
            if (startedAtNs === undefined) throw new Error(`${proc}/stat has no boot time`);
            const mountinfo = readFileSync(`${proc}/${pid}/mountinfo`, 'utf8');
            return { mounts: relativeMounts(parseMountPoints(mountinfo), open.root), startedAtNs };
          },
        },
      };
    },
  };
}
