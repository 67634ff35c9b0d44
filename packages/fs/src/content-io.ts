/**
 * Content streams with verification. Every byte that ksync writes into a root is hashed on the
 * way in and compared with the digest it was announced as, so a source that changed mid-read, a
 * corrupted transfer or a swapped local copy can never land under the wrong digest.
 */
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { UserError } from '@ksync/core';
import { CHUNK_SIZE, READ_FLAGS, createDigest } from './hash.ts';

/** Flags for creating a new temp file that must not exist yet (and is never a symlink). */
export const CREATE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A fresh random temp name with our prefix, e.g. `.ksync-tmp-3f9a0c1b2d4e`. */
export function tempName(prefix: string): string {
  // One `randomBytes` call per name cost 4% of the agent's time in a first sync of 10k files
  // (a syscall and a buffer each); names are cut from a pool instead, as unguessable as before
  // (a planted name only makes the O_EXCL create fail, and that file is retried).
  if (namePoolOffset + 6 > namePool.length) {
    namePool = randomBytes(NAME_POOL_BYTES);
    namePoolOffset = 0;
  }
  namePoolOffset += 6;
  return `${prefix}${namePool.toString('hex', namePoolOffset - 6, namePoolOffset)}`;
}

const NAME_POOL_BYTES = 6 * 1024;
let namePool = Buffer.alloc(0);
let namePoolOffset = 0;

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
  const small = readSmall(absolute, label);
  if (small !== undefined) {
    if (createDigest().update(small).digest('hex') !== digest) throw changedSince(label);
    yield small;
    return;
  }
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
    if (hash.digest('hex') !== digest) throw changedSince(label);
  } finally {
    await handle.close();
  }
}

/**
 * Streams exactly `size` bytes of the regular file at `absolute` (never following a symlink
 * there), without hashing: the receiver verifies (content-stream.ts). Throws before yielding
 * anything when the file is not a regular file of that size any more, so that it is sent as
 * missing. Each chunk is a fresh buffer the consumer owns.
 */
export async function* readUnverified(absolute: string, size: number): AsyncGenerator<Uint8Array> {
  if (size <= SMALL_FILE) {
    const small = readSmall(absolute, absolute);
    if (small === undefined || small.length !== size)
      throw new UserError(`${absolute} changed size`);
    yield small;
    return;
  }
  const handle = await open(absolute, READ_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile() || stats.size !== size) throw new UserError(`${absolute} changed size`);
    for (let left = size; left > 0;) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK_SIZE, left));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      left -= bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Files up to this size are read and written with synchronous calls in one piece: for the many
 * small files of a source tree, the thread-pool round trips of async I/O cost several times the
 * I/O itself (sync-design.md B2: hashing 100k small files took 0.8 s sync vs 3.6 s async), and
 * a 64 KiB read blocks the event loop for microseconds.
 */
const SMALL_FILE = 64 * 1024;

/** The whole content of a regular file of at most SMALL_FILE bytes; undefined when larger. */
function readSmall(absolute: string, label: string): Buffer | undefined {
  const fd = openSync(absolute, READ_FLAGS);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new UserError(`${label} is no longer a regular file`);
    if (stats.size > SMALL_FILE) return undefined;
    // One byte more than expected, so a file that grew meanwhile shows up as a digest mismatch.
    const buffer = Buffer.allocUnsafe(stats.size + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

function changedSince(label: string): DigestMismatchError {
  return new DigestMismatchError(
    `${label} changed since it was scanned; it will be sent on the next cycle`,
  );
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
  if (size !== undefined && size <= SMALL_FILE) {
    await writeSmall({ ...options, size });
    return;
  }
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

/** `writeVerified` for a known small size: gathers the chunks, checks them, writes in one go. */
async function writeSmall(options: {
  readonly absolute: string;
  readonly chunks: AsyncIterable<Uint8Array>;
  readonly digest: string;
  readonly size: number;
  readonly mode?: number;
}): Promise<void> {
  const { digest, size } = options;
  const parts: Uint8Array[] = [];
  let written = 0;
  for await (const chunk of options.chunks) {
    written += chunk.byteLength;
    if (written > size) {
      throw new DigestMismatchError(
        `content for ${digest.slice(0, 12)} is longer than ${size} bytes`,
      );
    }
    parts.push(chunk);
  }
  if (written !== size) {
    throw new DigestMismatchError(
      `content for ${digest.slice(0, 12)} has ${written} bytes, expected ${size}`,
    );
  }
  const content = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
  if (createDigest().update(content).digest('hex') !== digest) {
    throw new DigestMismatchError(`content did not match its digest ${digest.slice(0, 12)}`);
  }
  const fd = openSync(options.absolute, CREATE_FLAGS, options.mode ?? 0o600);
  try {
    let offset = 0;
    while (offset < content.byteLength) {
      offset += writeSync(fd, content, offset, content.byteLength - offset);
    }
  } catch (error) {
    closeSync(fd);
    unlinkSync(options.absolute);
    throw error;
  }
  closeSync(fd);
}
