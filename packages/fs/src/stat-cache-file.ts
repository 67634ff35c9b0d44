/**
 * The stat cache on disk: the file records of a root (path, digest, and the lstat facts the
 * digest was derived from), so that a restart re-hashes only files that changed while no ksync
 * process watched them. Mutagen keeps its cache the same way (cache.proto, saved after scans).
 *
 * What makes it safe to trust a record written by another process:
 * - it is only ever used as the `previous` of a full scan (scan.ts): a file's digest is reused
 *   only when its lstat now shows the same size, mtime, ctime, inode and type as recorded, and
 *   the record is not racy (stat-cache.ts); anything else is hashed again. A file rewritten
 *   while ksync was down moved its ctime, which nobody can set back;
 * - the file names the root and its device and inode: a cache of another root, or of a root
 *   that was deleted and made again, or of another filesystem mounted there (a new container's
 *   overlay has a new device), is not read at all. Owners also key the file by what they serve
 *   (the agent: one file per served root path, and a restarted container has a new pid in it);
 * - a SHA-256 of the contents is checked before anything is decoded: a torn or corrupt file is
 *   ignored, which costs only hashing. So writes need no fsync: they go to a temp name and are
 *   renamed over the old file, and a crash leaves the old file, the new one, or one that fails
 *   its checksum.
 *
 * Directory and symlink records are not kept: directories carry no digest, and a symlink's
 * target is read again by any scan.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Entry } from '@ksync/core';
import type { StatRecord } from './stat-cache.ts';

const MAGIC = Buffer.from('ksync-stat-cache 1\n', 'latin1');
const CHECKSUM_BYTES = 32;
const DIGEST_BYTES = 32;
// flags, digest, size, mtime, ctime, inode, mode (after the path's length and bytes).
const FIXED_BYTES = 1 + DIGEST_BYTES + 8 + 8 + 8 + 8 + 4;
const EXECUTABLE = 1;
const RACY = 2;
const HEX_DIGEST = /^[0-9a-f]{64}$/;

/** The header of a saved cache: which root it describes. */
interface Header {
  readonly root: string;
  readonly dev: string;
  readonly ino: string;
}

// Writes in flight per file: a read of the same file waits for them (the agent closes one
// connection's endpoint and opens the next one's on the same root).
const writing = new Map<string, Promise<void>>();

/**
 * Encodes the file records of `records` for `root` (whose lstat is taken first). Call it where
 * nothing changes the records meanwhile (the endpoint's queue); they are read in one go.
 */
export async function encodeStatCache(
  root: string,
  records: Iterable<readonly [string, StatRecord]>,
): Promise<Buffer> {
  const rootStats = await lstat(root, { bigint: true });
  const header = Buffer.from(
    JSON.stringify({
      root,
      dev: String(rootStats.dev),
      ino: String(rootStats.ino),
    } satisfies Header),
  );
  const files: [Buffer, StatRecord, string][] = [];
  let bytes = MAGIC.length + CHECKSUM_BYTES + 4 + header.length + 4;
  for (const [path, record] of records) {
    const entry = record.entry;
    if (entry.kind !== 'file' || !HEX_DIGEST.test(entry.digest)) continue;
    const name = Buffer.from(path);
    files.push([name, record, entry.digest]);
    bytes += 4 + name.length + FIXED_BYTES;
  }
  const out = Buffer.allocUnsafe(bytes);
  let at = MAGIC.copy(out, 0) + CHECKSUM_BYTES;
  const body = at;
  at = out.writeUInt32LE(header.length, at);
  at += header.copy(out, at);
  at = out.writeUInt32LE(files.length, at);
  for (const [name, record, digest] of files) {
    at = out.writeUInt32LE(name.length, at);
    at += name.copy(out, at);
    const executable = record.entry.kind === 'file' && record.entry.executable;
    at = out.writeUInt8((executable ? EXECUTABLE : 0) | (record.racy ? RACY : 0), at);
    at += out.write(digest, at, DIGEST_BYTES, 'hex');
    at = out.writeDoubleLE(record.size, at);
    at = out.writeBigInt64LE(record.mtimeNs, at);
    at = out.writeBigInt64LE(record.ctimeNs, at);
    at = out.writeBigUInt64LE(record.ino, at);
    at = out.writeUInt32LE(record.mode, at);
  }
  createHash('sha256').update(out.subarray(body)).digest().copy(out, MAGIC.length);
  return out;
}

/** Writes an encoded cache to `file` (temp name, then rename); creates its directory. */
export async function writeStatCacheFile(file: string, encoded: Buffer): Promise<void> {
  const previous = writing.get(file) ?? Promise.resolve();
  const done = previous.then(async () => {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    try {
      await writeFile(temp, encoded, { mode: 0o600 });
      await rename(temp, file);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  });
  const settled = done.catch(() => undefined);
  writing.set(file, settled);
  void settled.then(() => {
    if (writing.get(file) === settled) writing.delete(file);
  });
  return done;
}

/**
 * Reads the records saved for `root`; undefined when there is no file, it is corrupt, or it
 * describes another root or another object at the root's path.
 */
export async function readStatCacheFile(
  file: string,
  root: string,
): Promise<Map<string, StatRecord> | undefined> {
  await writing.get(file);
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch {
    return undefined;
  }
  if (data.length < MAGIC.length + CHECKSUM_BYTES || !data.subarray(0, MAGIC.length).equals(MAGIC))
    return undefined;
  const body = MAGIC.length + CHECKSUM_BYTES;
  const checksum = createHash('sha256').update(data.subarray(body)).digest();
  if (!checksum.equals(data.subarray(MAGIC.length, body))) return undefined;
  try {
    let at = body;
    const headerLength = data.readUInt32LE(at);
    at += 4;
    const header = JSON.parse(data.toString('utf8', at, at + headerLength)) as Header;
    at += headerLength;
    const rootStats = await lstat(root, { bigint: true }).catch(() => undefined);
    if (
      header.root !== root ||
      rootStats === undefined ||
      header.dev !== String(rootStats.dev) ||
      header.ino !== String(rootStats.ino)
    ) {
      return undefined;
    }
    const count = data.readUInt32LE(at);
    at += 4;
    const records = new Map<string, StatRecord>();
    for (let i = 0; i < count; i++) {
      const nameLength = data.readUInt32LE(at);
      at += 4;
      const path = data.toString('utf8', at, at + nameLength);
      at += nameLength;
      const flags = data.readUInt8(at);
      at += 1;
      const digest = data.toString('hex', at, at + DIGEST_BYTES);
      at += DIGEST_BYTES;
      const size = data.readDoubleLE(at);
      const entry: Entry = Object.freeze({
        kind: 'file',
        digest,
        executable: (flags & EXECUTABLE) !== 0,
        size,
      });
      records.set(path, {
        entry,
        size,
        mtimeNs: data.readBigInt64LE(at + 8),
        ctimeNs: data.readBigInt64LE(at + 16),
        ino: data.readBigUInt64LE(at + 24),
        mode: data.readUInt32LE(at + 32),
        racy: (flags & RACY) !== 0,
      });
      at += 36;
    }
    return at === data.length ? records : undefined;
  } catch {
    // A checksum that matches over a file this code cannot parse: another format; start cold.
    return undefined;
  }
}
