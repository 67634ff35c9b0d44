/**
 * Content streams with verification. Every byte that ksync writes into a root is hashed on the
 * way in and compared with the digest it was announced as, so a source that changed mid-read, a
 * corrupted transfer or a swapped local copy can never land under the wrong digest.
 */
import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { UserError } from '@ksync/core';
import { CHUNK_SIZE, READ_FLAGS, createDigest } from './hash.ts';

/** Flags for creating a new temp file that must not exist yet (and is never a symlink). */
export const CREATE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A fresh random temp name with our prefix, e.g. `.ksync-tmp-3f9a0c1b2d4e`. */
export function tempName(prefix: string): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

/** Thrown when content does not hash to its announced digest; nothing was kept. */
export class DigestMismatchError extends UserError {}

/**
 * Streams the regular file at `absolute` (never following a symlink there) in CHUNK_SIZE
 * chunks, each a fresh buffer the consumer owns; throws `DigestMismatchError` at the end when the
 * bytes read do not hash to `digest` (the file changed since it was scanned).
 */
export async function* readVerified(
  absolute: string,
  digest: string,
  label: string,
): AsyncGenerator<Uint8Array> {
  const handle = await open(absolute, READ_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new UserError(`${label} is no longer a regular file`);
    const hash = createDigest();
    for (;;) {
      const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_SIZE, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      yield chunk;
    }
    if (hash.digest('hex') !== digest) {
      throw new DigestMismatchError(
        `${label} changed since it was scanned; it will be sent on the next cycle`,
      );
    }
  } finally {
    await handle.close();
  }
}

/**
 * Writes `chunks` into a new file at `absolute` (which must not exist), verifying size and
 * digest while writing; on any failure the partial file is deleted and the error rethrown.
 * Memory stays bounded: each chunk is written before the next is pulled.
 */
export async function writeVerified(options: {
  readonly absolute: string;
  readonly chunks: AsyncIterable<Uint8Array>;
  readonly digest: string;
  readonly size: number | undefined;
  readonly mode?: number;
}): Promise<void> {
  const { absolute, digest, size } = options;
  let handle: FileHandle | undefined = await open(absolute, CREATE_FLAGS, options.mode ?? 0o600);
  try {
    const hash = createDigest();
    let written = 0;
    for await (const chunk of options.chunks) {
      written += chunk.byteLength;
      if (size !== undefined && written > size) {
        throw new DigestMismatchError(
          `content for ${digest.slice(0, 12)} is longer than ${size} bytes`,
        );
      }
      hash.update(chunk);
      let offset = 0;
      while (offset < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
        offset += bytesWritten;
      }
    }
    if (size !== undefined && written !== size) {
      throw new DigestMismatchError(
        `content for ${digest.slice(0, 12)} has ${written} bytes, expected ${size}`,
      );
    }
    if (hash.digest('hex') !== digest) {
      throw new DigestMismatchError(`content did not match its digest ${digest.slice(0, 12)}`);
    }
    await handle.close();
    handle = undefined;
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(absolute).catch(() => undefined);
    throw error;
  }
}

/** Copies a file into a new file, verifying the digest (see `writeVerified`). */
export async function copyVerified(options: {
  readonly from: string;
  readonly to: string;
  readonly digest: string;
  readonly size: number;
}): Promise<void> {
  await writeVerified({
    absolute: options.to,
    chunks: readVerified(options.from, options.digest, options.from),
    digest: options.digest,
    size: options.size,
  });
}
