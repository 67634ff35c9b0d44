/**
 * The ancestor on disk: a base file (`ancestor.snap`) holding a whole snapshot, and a log
 * (`ancestor.log`) of the updates made since it was written. Loading reads both in one pass each
 * and parses the entries as a few large JSON arrays, where nedb (which it replaces for the
 * ancestor) parsed, checked and indexed one document per path: 100,000 paths took seconds to open.
 *
 * Both files are lines of `<crc32 hex> <JSON>`. The first line of each is a header naming the
 * format and an epoch; the base's header also counts its lines. Every later line is an array of
 * records: `[path, 'd']`, `[path, 'f', digest, size, executable (0|1)]`, `[path, 'l', target]`, and
 * in the log `[path]` for a removal. The format is this module's own, converted to and from
 * `Entry` here, so the in-memory representation can change without touching stored state.
 *
 * Invariants (a wrong ancestor loses edits: it could claim synced a state that never was):
 * - The state loaded is always one the store held after some call returned: the base, plus the
 *   log's records up to the first that is torn, corrupt or fails to decode. Records are whole
 *   `update` batches, so a batch is never half applied. Everything after a bad record is dropped
 *   (and cut from the file before the next append), never skipped over, because a later record
 *   applied without an earlier one could mix two states. A state older than the last one is
 *   safe: where both sides agree reconcile catches the ancestor up, and where they differ a
 *   missing agreement makes a conflict that keeps both versions (session-store comment).
 * - A base is used only whole: its header's line count and every line's checksum must match.
 *   A base that fails is treated as empty (again older, so safe) and the caller is warned.
 * - The log belongs to the base with the same epoch. Compaction writes the new base under the
 *   next epoch to a temp name, fsyncs it and renames it over the old one, and only then starts a
 *   new log; a crash between the two leaves the old log, whose epoch no longer matches, so it is
 *   ignored (the new base already holds it all).
 * - Appends are not fsynced: a lost append only makes the ancestor older.
 */
import { crc32 } from 'node:zlib';
import { appendFile, open, readFile, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ROOT,
  validatePath,
  validateSnapshot,
  type AncestorUpdate,
  type Entry,
  type Snapshot,
} from '@ksync/core';

const BASE = 'ancestor.snap';
const LOG = 'ancestor.log';
const FORMAT_VERSION = 1;
/** Records per base line: large enough that parsing is a few big `JSON.parse` calls. */
const RECORDS_PER_LINE = 4096;
/** The log is folded into a new base once it outgrows the base and this. */
const MIN_COMPACT_BYTES = 1 << 20;

type WireRecord = readonly unknown[];

interface Header {
  readonly ksync: 'ancestor' | 'ancestor-log';
  readonly version: number;
  readonly epoch: number;
  /** Base only: how many record lines follow the header. */
  readonly lines?: number;
}

/** How to open the ancestor files. */
export interface AncestorLogOptions {
  /** Told when stored state was unreadable and is being ignored (an older state is used). */
  readonly onWarning?: (message: string) => void;
}

/** The ancestor of one session, kept in `dir` and in memory. */
export class AncestorLog {
  readonly #dir: string;
  readonly #snapshot: Map<string, Entry>;
  #epoch: number;
  #baseBytes: number;
  #logBytes: number;
  /** Writes run one at a time, in call order, so the log's records keep the calls' order. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    dir: string,
    state: { snapshot: Map<string, Entry>; epoch: number; baseBytes: number; logBytes: number },
  ) {
    this.#dir = dir;
    this.#snapshot = state.snapshot;
    this.#epoch = state.epoch;
    this.#baseBytes = state.baseBytes;
    this.#logBytes = state.logBytes;
  }

  /**
   * Opens the ancestor in `dir` (which exists): the base, then the log's good records. Repairs
   * what it must before anything is appended: a log cut after its last good record, a fresh log
   * when none matches the base. `seed` fills a store that has no base yet (a migration); it is
   * written as the first base.
   */
  static async open(
    dir: string,
    options: AncestorLogOptions & { seed?: () => Promise<Snapshot | undefined> } = {},
  ): Promise<AncestorLog> {
    const warn = options.onWarning ?? (() => undefined);
    const base = await readBase(join(dir, BASE));
    if (base === 'invalid') {
      warn(`${join(dir, BASE)} is unreadable; starting from an empty last agreed state`);
    }
    const seed = base === undefined ? await options.seed?.() : undefined;
    const snapshot = new Map(base === undefined || base === 'invalid' ? seed : base.snapshot);
    const epoch = base === undefined || base === 'invalid' ? 0 : base.epoch;
    const log = new AncestorLog(dir, {
      snapshot,
      epoch,
      baseBytes: base === undefined || base === 'invalid' ? 0 : base.bytes,
      logBytes: 0,
    });
    if (base === 'invalid' || seed !== undefined) {
      await log.#compact();
      return log;
    }
    const replayed = await replayLog(join(dir, LOG), snapshot, epoch);
    if (replayed.cut) warn(`${join(dir, LOG)} ends in a torn or corrupt record; it was dropped`);
    try {
      validateSnapshot(snapshot);
    } catch (error) {
      warn(`${join(dir, BASE)}: ${String(error)}; starting from an empty last agreed state`);
      snapshot.clear();
      await log.#compact();
      return log;
    }
    if (replayed.goodBytes === undefined) await log.#startLog();
    else {
      if (replayed.cut) await truncate(join(dir, LOG), replayed.goodBytes);
      log.#logBytes = replayed.goodBytes;
    }
    return log;
  }

  /** A copy of the ancestor. */
  snapshot(): Map<string, Entry> {
    return new Map(this.#snapshot);
  }

  /** Records one batch of updates (later updates of a path win); folds the log when large. */
  update(updates: readonly AncestorUpdate[]): Promise<void> {
    return this.#exclusive(() => this.#update(updates));
  }

  /** Forgets the whole ancestor. */
  clear(): Promise<void> {
    return this.#exclusive(async () => {
      this.#snapshot.clear();
      await this.#compact();
    });
  }

  async #update(updates: readonly AncestorUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const records: WireRecord[] = [];
    for (const { path, entry } of updates) {
      const valid = validatePath(path);
      records.push(entry === undefined ? [valid] : encodeRecord(valid, entry));
      if (entry === undefined) this.#snapshot.delete(valid);
      else this.#snapshot.set(valid, entry);
    }
    const line = frame(records);
    const bytes = Buffer.byteLength(line);
    // A log that would outgrow the base is folded into a new base instead (a first sync's one
    // big batch goes straight into the base, so the next start parses it once, not twice).
    if (this.#logBytes + bytes > Math.max(MIN_COMPACT_BYTES, this.#baseBytes)) {
      await this.#compact();
      return;
    }
    await appendFile(join(this.#dir, LOG), line);
    this.#logBytes += bytes;
  }

  #exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Writes the in-memory ancestor as the next epoch's base, durably, then starts its log. */
  async #compact(): Promise<void> {
    const epoch = this.#epoch + 1;
    const records = [...this.#snapshot].map(([path, entry]) => encodeRecord(path, entry));
    const lines: string[] = [];
    for (let i = 0; i < records.length; i += RECORDS_PER_LINE) {
      lines.push(frame(records.slice(i, i + RECORDS_PER_LINE)));
    }
    const header: Header = {
      ksync: 'ancestor',
      version: FORMAT_VERSION,
      epoch,
      lines: lines.length,
    };
    const text = frame(header) + lines.join('');
    const path = join(this.#dir, BASE);
    await writeDurably(path, text);
    await syncDirectory(this.#dir);
    this.#epoch = epoch;
    this.#baseBytes = Buffer.byteLength(text);
    await this.#startLog();
  }

  /** Replaces the log with an empty one for the current epoch. */
  async #startLog(): Promise<void> {
    const header: Header = { ksync: 'ancestor-log', version: FORMAT_VERSION, epoch: this.#epoch };
    const text = frame(header);
    const path = join(this.#dir, LOG);
    await writeFile(`${path}.tmp`, text, { mode: 0o600 });
    await rename(`${path}.tmp`, path);
    this.#logBytes = Buffer.byteLength(text);
  }
}

/** One line: the CRC-32 of the JSON, a space, the JSON, a newline. */
function frame(value: unknown): string {
  const json = JSON.stringify(value);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/**
 * The lines of `buffer` that carry their checksum, in order, each with the offset just past it;
 * stops at the first line that is torn (no newline) or fails its checksum or JSON.
 */
function* readLines(buffer: Buffer): Generator<{ value: unknown; end: number }> {
  let at = 0;
  while (at < buffer.length) {
    const newline = buffer.indexOf(0x0a, at);
    if (newline < 0 || newline - at < 10 || buffer[at + 8] !== 0x20) return;
    const json = buffer.subarray(at + 9, newline);
    const crc = Number.parseInt(buffer.toString('latin1', at, at + 8), 16);
    if (crc32(json) !== crc) return;
    let value: unknown;
    try {
      value = JSON.parse(json.toString('utf8'));
    } catch {
      return;
    }
    at = newline + 1;
    yield { value, end: at };
  }
}

function isHeader(value: unknown, ksync: Header['ksync']): value is Header {
  const header = value as Partial<Header> | null;
  return (
    typeof header === 'object' &&
    header !== null &&
    header.ksync === ksync &&
    header.version === FORMAT_VERSION &&
    Number.isSafeInteger(header.epoch)
  );
}

/** The base: undefined when there is none, 'invalid' when it does not check out whole. */
async function readBase(
  path: string,
): Promise<{ snapshot: Map<string, Entry>; epoch: number; bytes: number } | 'invalid' | undefined> {
  const buffer = await readIfExists(path);
  if (buffer === undefined) return undefined;
  const lines = readLines(buffer);
  const first = lines.next();
  if (first.done === true || !isHeader(first.value.value, 'ancestor')) return 'invalid';
  const header = first.value.value;
  const snapshot = new Map<string, Entry>();
  let count = 0;
  let end = first.value.end;
  try {
    for (const line of lines) {
      applyRecords(snapshot, line.value, false);
      count++;
      end = line.end;
    }
  } catch {
    return 'invalid';
  }
  if (count !== header.lines || end !== buffer.length) return 'invalid';
  return { snapshot, epoch: header.epoch, bytes: buffer.length };
}

/**
 * Applies the log's good records to `snapshot` when its epoch is `epoch`. `goodBytes` is where
 * the good records end (undefined: no usable log, start a new one), `cut` whether anything
 * after them was dropped.
 */
async function replayLog(
  path: string,
  snapshot: Map<string, Entry>,
  epoch: number,
): Promise<{ goodBytes: number | undefined; cut: boolean }> {
  const buffer = await readIfExists(path);
  if (buffer === undefined) return { goodBytes: undefined, cut: false };
  const lines = readLines(buffer);
  const first = lines.next();
  if (first.done === true || !isHeader(first.value.value, 'ancestor-log')) {
    return { goodBytes: undefined, cut: buffer.length > 0 };
  }
  if (first.value.value.epoch !== epoch) return { goodBytes: undefined, cut: false };
  let end = first.value.end;
  for (const line of lines) {
    // A batch is applied whole or not at all: decode it apart first.
    const batch = new Map<string, Entry | undefined>();
    try {
      applyRecords(batch, line.value, true);
    } catch {
      break;
    }
    for (const [p, entry] of batch) {
      if (entry === undefined) snapshot.delete(p);
      else snapshot.set(p, entry);
    }
    end = line.end;
  }
  return { goodBytes: end, cut: end !== buffer.length };
}

/** Decodes one line's records into `into`; throws on anything malformed. */
function applyRecords(
  into: Map<string, Entry | undefined>,
  value: unknown,
  removals: boolean,
): void {
  if (!Array.isArray(value)) throw new Error('not an array');
  for (const record of value as unknown[]) {
    if (!Array.isArray(record)) throw new Error('not a record');
    const path = validatePath(record[0] as string);
    if (record.length === 1 && removals) into.set(path, undefined);
    else into.set(path, decodeEntry(record));
  }
}

function encodeRecord(path: string, entry: Entry): WireRecord {
  switch (entry.kind) {
    case 'directory':
      return [path, 'd'];
    case 'file':
      return [path, 'f', entry.digest, entry.size, entry.executable ? 1 : 0];
    case 'symlink':
      return [path, 'l', entry.target];
  }
}

function decodeEntry(record: readonly unknown[]): Entry {
  const [path, kind, a, b, c] = record;
  if (kind === 'd' && record.length === 2) return { kind: 'directory' };
  if (kind === 'l' && record.length === 3 && typeof a === 'string') {
    return { kind: 'symlink', target: a };
  }
  if (
    kind === 'f' &&
    record.length === 5 &&
    typeof a === 'string' &&
    a !== '' &&
    Number.isSafeInteger(b) &&
    (b as number) >= 0 &&
    (c === 0 || c === 1)
  ) {
    return { kind: 'file', digest: a, size: b as number, executable: c === 1 };
  }
  throw new Error(`bad record for ${String(path === ROOT ? '/' : path)}`);
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes `text` to a temp name, fsyncs it and renames it over `path`. */
async function writeDurably(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/** Makes a rename in `dir` durable. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
