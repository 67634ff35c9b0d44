/**
 * Staging: content kept for a later change of the same apply batch (content that arrived for a
 * change that could not take it, or a removed file whose content a later rename needs). The
 * endpoint clears it when the batch ends, so nothing staged for a refused change stays behind.
 * Staged files live in `<root>/.ksync-tmp-staging/`
 * so that moving them into place is a same-filesystem rename, and the temp prefix keeps scans and
 * watchers away. While the root does not exist yet (a first sync into a fresh container path),
 * content is staged in a private directory under the owner's staging directory instead (the
 * agent's or $KSYNC_HOME's, which their owner empties at start and stop, so a crash leaks
 * nothing for long) and copied into place.
 * Every staged file was verified against its digest and size while it was written.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { TEMP_PREFIX, UserError } from '@ksync/core';
import { tempName, writeVerified } from './content-io.ts';

/** Content to stage: it must hash to `digest` and be `size` bytes long. */
export interface StageRequest {
  readonly digest: string;
  readonly size: number;
  readonly chunks: AsyncIterable<Uint8Array>;
}

/** Name of the staging directory inside the root. */
export const STAGING_DIR = `${TEMP_PREFIX}staging`;

/** Staged content of one endpoint, keyed by digest. */
export class Staging {
  readonly #root: string;
  readonly #stagingDir: string;
  readonly #files = new Map<string, string>();
  #fallback: string | undefined;

  /** Stages into `<root>/.ksync-tmp-staging`, or under `stagingDir` while the root is missing. */
  constructor(root: string, stagingDir: string) {
    this.#root = root;
    this.#stagingDir = stagingDir;
  }

  /** The staged file for `digest`, if any. */
  get(digest: string): string | undefined {
    return this.#files.get(digest);
  }

  /** Forgets a staged file the caller moved away (renamed into place). */
  forget(digest: string): void {
    this.#files.delete(digest);
  }

  /** Takes back a staged file that was moved out by an apply that then failed. */
  restore(digest: string, absolute: string): void {
    this.#files.set(digest, absolute);
  }

  /**
   * Moves a checked file that is about to be removed into staging, when a later change in the
   * same batch needs its content (a rename or move then costs no transfer and no copy). Returns
   * false when it could not be moved (another filesystem), and the caller removes it instead.
   */
  async adopt(digest: string, absolute: string): Promise<boolean> {
    if (this.#files.has(digest)) return false;
    const target = join(await this.#directory(), tempName(`${digest.slice(0, 16)}-`));
    try {
      await rename(absolute, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EXDEV') return false;
      throw error;
    }
    this.#files.set(digest, target);
    return true;
  }

  /** Receives and verifies content; rejects (keeping nothing) when it does not match. */
  async stage(request: StageRequest): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(request.digest)) {
      throw new UserError(`invalid content digest ${JSON.stringify(request.digest)}`);
    }
    if (this.#files.has(request.digest)) {
      // Already staged: drain the stream so the sender is not left hanging.
      for await (const _chunk of request.chunks) void _chunk;
      return;
    }
    const dir = await this.#directory();
    const absolute = join(dir, tempName(`${request.digest.slice(0, 16)}-`));
    await writeVerified({
      absolute,
      chunks: request.chunks,
      digest: request.digest,
      size: request.size,
    });
    this.#files.set(request.digest, absolute);
  }

  /** Removes all staged content (and the staging directories). */
  async clear(): Promise<void> {
    this.#files.clear();
    await rm(join(this.#root, STAGING_DIR), { recursive: true, force: true });
    if (this.#fallback) await rm(this.#fallback, { recursive: true, force: true });
    this.#fallback = undefined;
  }

  /**
   * The directory to stage into: inside the root when the root is a directory, else a private
   * fallback. The in-root directory is created 0700 and must be a real directory, never a
   * symlink someone planted under our name.
   */
  async #directory(): Promise<string> {
    let rootIsDirectory: boolean;
    try {
      rootIsDirectory = lstatSync(this.#root).isDirectory();
    } catch {
      rootIsDirectory = false;
    }
    if (!rootIsDirectory) {
      if (this.#fallback === undefined) {
        await mkdir(this.#stagingDir, { recursive: true, mode: 0o700 });
        this.#fallback = await mkdtemp(join(this.#stagingDir, 'ksync-staging-'));
      }
      return this.#fallback;
    }
    const dir = join(this.#root, STAGING_DIR);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const stats = lstatSync(dir);
    if (!stats.isDirectory()) {
      // Not ours (a file or symlink with our reserved name): move it out of the way.
      await rename(dir, join(this.#root, tempName(TEMP_PREFIX)));
      mkdirSync(dir, { mode: 0o700 });
    }
    return dir;
  }
}
