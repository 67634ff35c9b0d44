/**
 * Conflict content on disk: the losing side's files of conflict `id` are kept under
 * `<dir>/<id>/<sync path>`, outside both sync roots (sync-design.md Part C: no conflict copies in
 * the tree, where compilers and bundlers would pick them up). Writes are atomic (temp file, then
 * rename), ids and paths are validated, and no component under `<dir>` is ever followed.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, TEMP_PREFIX, UserError, validatePath, type ConflictContentStore } from '@ksync/core';
import { CREATE_FLAGS, tempName } from './content-io.ts';
import { CHUNK_SIZE, READ_FLAGS } from './hash.ts';
import { resolveConfined } from './safe-path.ts';
import { open } from 'node:fs/promises';

/** Opens the conflict content store rooted at directory `dir` (created on first save). */
export function openConflictContentStore(dir: string): ConflictContentStore {
  return new FileConflictContentStore(dir);
}

class FileConflictContentStore implements ConflictContentStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async save(conflictId: string, path: string, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const base = this.#base(conflictId);
    const valid = validatePath(path);
    if (valid === ROOT) throw new UserError('cannot keep the sync root as a conflict file');
    mkdirSync(base, { recursive: true, mode: 0o700 });
    // Create parents one component at a time, refusing anything that is not a real directory.
    const parts = valid.split('/');
    let current = base;
    for (const part of parts.slice(0, -1)) {
      current = `${current}/${part}`;
      try {
        mkdirSync(current, { mode: 0o700 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const stats = lstatSync(current);
      if (!stats.isDirectory() || stats.isSymbolicLink()) {
        throw new UserError(`conflict store: ${current} is not a directory`);
      }
    }
    const target = `${current}/${parts[parts.length - 1] as string}`;
    const temp = `${current}/${tempName(TEMP_PREFIX)}`;
    const handle = await open(temp, CREATE_FLAGS, 0o600);
    try {
      for await (const chunk of chunks) {
        let offset = 0;
        while (offset < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
          offset += bytesWritten;
        }
      }
      await handle.sync();
      await handle.close();
      await rename(temp, target);
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  }

  async *read(conflictId: string, path: string): AsyncGenerator<Uint8Array> {
    const resolved = resolveConfined(this.#base(conflictId), path);
    if (!resolved.ok) throw new UserError(`conflict store: ${resolved.problem.message}`);
    const handle = await open(resolved.absolute, READ_FLAGS);
    try {
      for (;;) {
        const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
        const { bytesRead } = await handle.read(buffer, 0, CHUNK_SIZE, null);
        if (bytesRead === 0) break;
        yield buffer.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }

  async remove(conflictId: string): Promise<void> {
    await rm(this.#base(conflictId), { recursive: true, force: true });
  }

  locate(conflictId: string): string {
    return this.#base(conflictId);
  }

  #base(conflictId: string): string {
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(conflictId) || conflictId.length > 200) {
      throw new UserError(`invalid conflict id ${JSON.stringify(conflictId)}`);
    }
    return join(this.#dir, conflictId);
  }
}
