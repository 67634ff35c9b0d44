/**
 * The two sides a reliability run edits and reads: a local directory (plain fs calls, as editors
 * make them) and a directory in a container of the pod a selector picks (through `kubectl exec`,
 * as a user or a container process would). Each reads its tree as content digests, the form the
 * oracle judges, and its sentinel tree: the directory beside the sync root that nothing may touch.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { TEMP_PREFIX } from '@ksync/core';
import { kubectl, runKubectl } from '../e2e/helpers/cluster.ts';
import { digestOf, type DigestTree, type Side } from './oracle.ts';

/** One side of the sync, as the harness edits and reads it. */
export interface EditSide {
  readonly side: Side;
  /** Writes `content` to `path` (relative to the root), making parents; false when it failed. */
  write(path: string, content: string): Promise<boolean>;
  /** Deletes the file at `path`; false when the command failed (a missing file is no failure). */
  remove(path: string): Promise<boolean>;
  /** Every file under the root as path → digest, ksync's temp files left out. */
  readTree(): Promise<Map<string, string>>;
  /** Every file under the sentinel directory beside the root, as path → digest. */
  readSentinels(): Promise<Map<string, string>>;
}

/** Files of `tree` under `prefix/` (all of them for the empty prefix): one phase's share of a run. */
export function underPrefix(tree: DigestTree, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, digest] of tree) {
    if (prefix === '' || path.startsWith(`${prefix}/`)) out.set(path, digest);
  }
  return out;
}

/** A local directory. */
export class LocalSide implements EditSide {
  readonly side = 'local';
  readonly #root: string;
  readonly #sentinel: string;

  constructor(options: { root: string; sentinel: string }) {
    this.#root = options.root;
    this.#sentinel = options.sentinel;
  }

  async write(path: string, content: string): Promise<boolean> {
    try {
      await mkdir(dirname(join(this.#root, path)), { recursive: true });
      await writeFile(join(this.#root, path), content);
      return true;
    } catch {
      return false;
    }
  }

  async remove(path: string): Promise<boolean> {
    try {
      await rm(join(this.#root, path), { force: true });
      return true;
    } catch {
      return false;
    }
  }

  readTree(): Promise<Map<string, string>> {
    return readDigests(this.#root);
  }

  readSentinels(): Promise<Map<string, string>> {
    return readDigests(this.#sentinel);
  }
}

/** Every file under `dir` as relative path → digest, skipping ksync's temp files. */
async function readDigests(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(d: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return; // removed while we walked: a concurrent deletion
    }
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const content = await readFile(path).catch(() => undefined);
        if (content !== undefined) out.set(relative(dir, path), digestOf(content));
      }
    }
  }
  await walk(dir);
  return out;
}

/** The files of the pod's container under a root, through kubectl exec. */
export class PodSide implements EditSide {
  readonly side = 'remote';
  readonly #namespace: string;
  readonly #selector: string;
  readonly #container: string;
  readonly #root: string;
  readonly #sentinel: string;
  /** When set, every written file's mtime is moved this far ahead (a container clock ahead). */
  mtimeAheadS = 0;
  #pod: string | undefined;

  constructor(options: {
    namespace: string;
    selector: string;
    container: string;
    root: string;
    sentinel: string;
  }) {
    this.#namespace = options.namespace;
    this.#selector = options.selector;
    this.#container = options.container;
    this.#root = options.root;
    this.#sentinel = options.sentinel;
  }

  /** The running, not terminating pod the selector picks (looked up again after a failure). */
  async pod(): Promise<string> {
    if (this.#pod !== undefined) return this.#pod;
    const list = JSON.parse(
      await kubectl(['-n', this.#namespace, 'get', 'pods', '-l', this.#selector, '-o', 'json']),
    ) as { items: V1Pod[] };
    const pod = list.items.find(
      (p) =>
        p.metadata?.deletionTimestamp == null &&
        p.status?.containerStatuses?.find((c) => c.name === this.#container)?.state?.running !==
          undefined,
    );
    if (pod?.metadata?.name === undefined) throw new Error(`no running pod for ${this.#selector}`);
    this.#pod = pod.metadata.name;
    return this.#pod;
  }

  /** Forgets the pod, so the next command looks it up again (after the pod was replaced). */
  forget(): void {
    this.#pod = undefined;
  }

  /** Runs a shell script in the container; false (and the pod looked up again) on failure. */
  async sh(script: string, ...args: string[]): Promise<{ ok: boolean; stdout: string }> {
    let pod: string;
    try {
      pod = await this.pod();
    } catch {
      return { ok: false, stdout: '' };
    }
    const r = await runKubectl(
      [
        '-n',
        this.#namespace,
        'exec',
        pod,
        '-c',
        this.#container,
        '--',
        'sh',
        '-c',
        script,
        'sh',
        ...args,
      ],
      { timeoutMs: 30_000 },
    );
    if (r.code !== 0) this.#pod = undefined;
    return { ok: r.code === 0, stdout: r.stdout };
  }

  async write(path: string, content: string): Promise<boolean> {
    const touch =
      this.mtimeAheadS > 0 ? ` && touch -d "@$(( $(date +%s) + ${this.mtimeAheadS} ))" "$1"` : '';
    const r = await this.sh(
      `mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1"${touch}`,
      `${this.#root}/${path}`,
      content,
    );
    return r.ok;
  }

  async remove(path: string): Promise<boolean> {
    return (await this.sh('rm -f "$1"', `${this.#root}/${path}`)).ok;
  }

  readTree(): Promise<Map<string, string>> {
    return this.#digests(this.#root);
  }

  /** How many of ksync's own temp files (staged content) are under the root. */
  async stagedFiles(): Promise<number> {
    const r = await this.sh(`find "$1" -path '*/${TEMP_PREFIX}*' -type f | wc -l`, this.#root);
    return Number(r.stdout.trim());
  }

  readSentinels(): Promise<Map<string, string>> {
    return this.#digests(this.#sentinel);
  }

  async #digests(dir: string): Promise<Map<string, string>> {
    const r = await this.sh(
      `cd "$1" && find . -name '${TEMP_PREFIX}*' -prune -o -type f -exec sha256sum {} +`,
      dir,
    );
    if (!r.ok) throw new Error(`cannot read ${dir} in the container`);
    const out = new Map<string, string>();
    for (const line of r.stdout.split('\n')) {
      const m = /^([0-9a-f]{64}) {2}\.\/(.*)$/.exec(line);
      if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[2], m[1]);
    }
    return out;
  }
}
