/**
 * The mounts a container's process sees, from `/proc/<pid>/mountinfo` (proc_pid_mountinfo(5)).
 * A container restart puts its root filesystem back to the image, but not what is mounted on it:
 * volumes (emptyDir, PVC, hostPath...) and the files the runtime binds in keep their content. A
 * rebase must know them (core's rebase.ts), so the agent reports the mount points inside the root
 * it serves.
 *
 * Mount points in the file are relative to the process's root directory, which for a container's
 * main process is the container's `/`: the same paths as the remote root a client names.
 */
import { ROOT, isWithin, pathProblem, validateRemoteRoot } from '@ksync/core';

/** Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`). */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

/** The mount point (field 5) of every line of a mountinfo file, unescaped, in file order. */
export function parseMountPoints(text: string): string[] {
  const points: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined) points.push(unescapeOctal(field));
  }
  return points;
}

/**
 * The mounts that cover part of `root` (an absolute path in the container, such as `/app`), as
 * paths relative to it, sorted and unique: the root's own filesystem (the mount at `/`) is left
 * out; a mount at or above `root` covers all of it and is reported as ROOT. A mount point that
 * is not a valid sync path is left out: nothing below it can be synced either (pure).
 */
export function relativeMounts(mountPoints: readonly string[], root: string): string[] {
  const base = validateRemoteRoot(root);
  const found = new Set<string>();
  for (const point of mountPoints) {
    const path = point.replace(/^\/+/, '');
    if (path === ROOT) continue; // the container's own root filesystem
    if (isWithin(base, path)) found.add(ROOT);
    else if (isWithin(path, base)) {
      const relative = base === ROOT ? path : path.slice(base.length + 1);
      if (pathProblem(relative) === undefined) found.add(relative);
    }
  }
  return [...found].sort();
}
