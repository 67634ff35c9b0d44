// Recipes for the images ksync builds itself: pure functions from host inputs (paths found
// by the caller) to an ImageSpec. The agent image reuses nodeBaseEntries and adds its files.

import { posix } from 'node:path';
import type { ImageEntry, ImageSpec } from './build-image.ts';

/** The non-root user in the test-app and node images, for ownership tests. */
export const APP_USER = { name: 'app', uid: 1000, gid: 1000, home: '/home/app' } as const;

/** A shared library to copy: where the loader looks for it in the image, and the host file. */
export interface LibraryFile {
  path: string;
  source: string;
}

// Default command of the test-app and node images: an idle shell that exits on SIGTERM, so
// deleting a pod takes milliseconds instead of the grace period (PID 1 ignores unhandled
// signals).
const IDLE_SHELL = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; sleep 2147483647 & wait'];

/** /etc/passwd, /etc/group, /tmp and the app home: what tools expect of a Linux root. */
export function baseSystemEntries(): ImageEntry[] {
  const { name, uid, gid, home } = APP_USER;
  return [
    {
      type: 'file',
      path: '/etc/passwd',
      content: `root:x:0:0:root:/root:/bin/sh\n${name}:x:${uid}:${gid}:${name}:${home}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n`,
    },
    {
      type: 'file',
      path: '/etc/group',
      content: `root:x:0:\n${name}:x:${gid}:\nnogroup:x:65534:\n`,
    },
    { type: 'dir', path: '/tmp', mode: 0o1777 },
    { type: 'dir', path: '/root', mode: 0o700 },
    { type: 'dir', path: home, mode: 0o755, uid, gid },
  ];
}

/** busybox at /bin/busybox plus one /bin symlink per applet (sh, tar, ... for exec and cp). */
export function busyboxEntries(busybox: string, applets: readonly string[]): ImageEntry[] {
  const entries: ImageEntry[] = [
    { type: 'file', path: '/bin/busybox', source: busybox, mode: 0o755 },
  ];
  for (const applet of new Set(applets)) {
    if (applet === 'busybox' || applet.includes('/')) continue;
    entries.push({ type: 'symlink', path: `/bin/${applet}`, target: 'busybox' });
  }
  return entries;
}

/** The sandbox (pause) image: a static busybox sleeping; containerd stops sandboxes with SIGKILL. */
export function planPauseImage(opts: { tag: string; busybox: string }): ImageSpec {
  return {
    repoTags: [opts.tag],
    entries: [{ type: 'file', path: '/bin/busybox', source: opts.busybox, mode: 0o755 }],
    config: { entrypoint: ['/bin/busybox', 'sleep', '2147483647'] },
  };
}

/** busybox with every applet, a non-root user (uid 1000) and an idle default command. */
export function planTestAppImage(opts: {
  tag: string;
  busybox: string;
  applets: readonly string[];
}): ImageSpec {
  return {
    repoTags: [opts.tag],
    entries: [...baseSystemEntries(), ...busyboxEntries(opts.busybox, opts.applets)],
    config: { cmd: IDLE_SHELL, workingDir: '/' },
  };
}

/**
 * The Node base: the node binary at /usr/local/bin/node, the glibc libraries and loader it
 * links against, and busybox so `kubectl exec` and `kubectl cp` work in the agent's pod.
 */
export function nodeBaseEntries(opts: {
  node: string;
  libraries: readonly LibraryFile[];
  busybox: string;
  applets: readonly string[];
}): ImageEntry[] {
  const libs: ImageEntry[] = opts.libraries.map((lib) => ({
    type: 'file',
    path: posix.normalize(lib.path),
    source: lib.source,
    mode: 0o755,
  }));
  return [
    ...baseSystemEntries(),
    ...busyboxEntries(opts.busybox, opts.applets),
    ...libs,
    { type: 'file', path: '/usr/local/bin/node', source: opts.node, mode: 0o755 },
  ];
}

/** The Node 24 image the agent builds on. */
export function planNodeImage(opts: {
  tag: string;
  node: string;
  libraries: readonly LibraryFile[];
  busybox: string;
  applets: readonly string[];
}): ImageSpec {
  return {
    repoTags: [opts.tag],
    entries: nodeBaseEntries(opts),
    config: { cmd: IDLE_SHELL, env: ['NODE_ENV=production'], workingDir: '/' },
  };
}

/** Where the agent's single-file bundle lives in its image. */
export const AGENT_BUNDLE_PATH = '/usr/local/lib/ksync/ksync-agent.mjs';

/**
 * The agent image: the Node base plus the bundled agent (`agent.mjs` of packages/cli/build.ts). The
 * entrypoint is the agent itself; the DaemonSet passes its arguments (`--containers
 * --token-file …`), and the exec probe runs the entrypoint with `probe`.
 */
export function planAgentImage(opts: {
  tag: string;
  node: string;
  libraries: readonly LibraryFile[];
  busybox: string;
  applets: readonly string[];
  bundle: string;
}): ImageSpec {
  return {
    repoTags: [opts.tag],
    entries: [
      ...nodeBaseEntries(opts),
      { type: 'file', path: AGENT_BUNDLE_PATH, source: opts.bundle, mode: 0o644 },
    ],
    config: {
      // A 2 MB semi-space: a full scan of 100,000 files grows V8's young generation to ~128 MB,
      // which the process never gives back (RSS +189 MiB against +77 MiB with the flag).
      entrypoint: ['/usr/local/bin/node', '--max-semi-space-size=2', AGENT_BUNDLE_PATH],
      env: ['NODE_ENV=production'],
      workingDir: '/',
    },
  };
}

/**
 * Parses `ldd` output into the files the image needs: each `name => /path` line and the
 * loader line (`/lib64/ld-linux-x86-64.so.2`). linux-vdso has no file and is skipped. Pure.
 */
export function parseLdd(output: string): string[] {
  const paths: string[] = [];
  for (const line of output.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(0x/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path !== undefined) paths.push(path);
  }
  return paths;
}
