/**
 * Content hashing: SHA-256 from node:crypto, streamed in bounded memory. SHA-256 because digests
 * drive dedup (a digest match means "same bytes", so it must be collision-resistant), and with
 * SHA-NI it runs at ~1.7 GB/s on our target machines (sync-design.md B2; `bench/fs-hash.ts`).
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs';
import { open } from 'node:fs/promises';

/** The digest algorithm of every `FileEntry.digest` (hex). */
export const DIGEST_ALGORITHM = 'sha256';

/** Read size for hashing and streaming content. */
export const CHUNK_SIZE = 256 * 1024;

/** Files up to this size are hashed with synchronous reads (4× faster for small files). */
const SYNC_HASH_LIMIT = 1024 * 1024;

/** Flags for reading a file whose last component must not be a symlink (or a blocking FIFO). */
export const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A fresh SHA-256 hash object. */
export function createDigest(): Hash {
  return createHash(DIGEST_ALGORITHM);
}

/** Hex SHA-256 of an in-memory buffer. */
export function digestBytes(bytes: Uint8Array | string): string {
  return createDigest().update(bytes).digest('hex');
}

/**
 * Hashes the file at an absolute path, which the caller lstat'ed as `expected`. Returns
 * undefined when the file is not the one that was lstat'ed or changed while being read (the scan
 * then reports it and retries next cycle). Throws the I/O error when the file cannot be read.
 */
export type FileHasher = (absolute: string, expected: BigIntStats) => Promise<string | undefined>;

function sameFile(a: BigIntStats, b: BigIntStats): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.isFile();
}

const syncBuffer = Buffer.allocUnsafe(CHUNK_SIZE);

/** The default hasher: synchronous reads for small files, async streaming for big ones. */
export const hashFile: FileHasher = async (absolute, expected) => {
  if (expected.size <= SYNC_HASH_LIMIT) {
    const fd = openSync(absolute, READ_FLAGS);
    try {
      const before = fstatSync(fd, { bigint: true });
      if (!sameFile(before, expected)) return undefined;
      const hash = createDigest();
      for (;;) {
        const n = readSync(fd, syncBuffer, 0, CHUNK_SIZE, null);
        if (n === 0) break;
        hash.update(syncBuffer.subarray(0, n));
      }
      const after = fstatSync(fd, { bigint: true });
      return sameFile(after, expected) ? hash.digest('hex') : undefined;
    } finally {
      closeSync(fd);
    }
  }
  const handle = await open(absolute, READ_FLAGS);
  try {
    const before = await handle.stat({ bigint: true });
    if (!sameFile(before, expected)) return undefined;
    const hash = createDigest();
    const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_SIZE, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
    const after = await handle.stat({ bigint: true });
    return sameFile(after, expected) ? hash.digest('hex') : undefined;
  } finally {
    await handle.close();
  }
};
