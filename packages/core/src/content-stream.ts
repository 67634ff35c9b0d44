/**
 * The content stream: the contents of many files, back to back in one byte stream, in the order
 * of a list both ends already hold (paths, digests and sizes). It is what an endpoint's
 * `readContents` produces and what `apply` consumes, on one machine or across the wire, so a
 * first sync of 10,000 files is one stream with no acknowledgement per file.
 *
 * Per listed file the stream holds one status byte, then:
 * - `CONTENT_PRESENT` (0): exactly `size` bytes of content follow;
 * - `CONTENT_MISSING` (1): nothing follows: the sender could not provide the file (gone, or no
 *   longer the size it was scanned with).
 * - `CONTENT_DELTA` (2): block-delta instructions follow (block-delta.ts), only for a file whose
 *   request carried the receiver's `base` signature, in segments: a u32 big-endian length (1 to
 *   `MAX_SEGMENT_BYTES`) and that many bytes, ended by a zero length. Their length is not known
 *   in advance (the sender finds matches as it reads), hence the segments.
 *
 * Invariants:
 * - No per-file header beyond the status byte: both ends know the list, so there is nothing to
 *   announce (tar would add 512 to 1,023 bytes per file: 5–10% of a tree of 10 KiB files).
 * - The sender never vouches for content. It sends what it read, padded or cut to the listed
 *   size if the file changed under it; the receiver hashes while it writes and refuses content
 *   that does not match the digest, so a file edited mid-read costs only its own retry.
 * - The reader refuses a stream that breaks the framing (an unknown status byte, a stream that
 *   ends early or carries bytes after the last file): such a peer is broken or hostile.
 */

/** Status byte: the file's content follows. */
export const CONTENT_PRESENT = 0;
/** Status byte: the sender could not provide the file; nothing follows. */
export const CONTENT_MISSING = 1;
/** Status byte: block-delta instructions against the receiver's base follow, in segments. */
export const CONTENT_DELTA = 2;

/** Longest segment of delta instructions (a longer length breaks the stream). */
export const MAX_SEGMENT_BYTES = 1024 * 1024;

/**
 * Files up to this size travel with the apply that needs them without asking first whether the
 * receiver already holds their content: the question would cost a round trip, more than sending
 * them. Larger files are sent only when the receiver lacks them (`Endpoint.missingContent`).
 */
export const INLINE_CONTENT_BYTES = 64 * 1024;

/** A file whose content is asked for: where the sender finds it and what it must be. */
export interface ContentRequest {
  readonly path: string;
  readonly digest: string;
  readonly size: number;
  /**
   * The receiver's signature of the file it holds at `path` (base64 of a packed
   * `BlockSignature`): the sender may then send block-delta instructions against it instead of
   * the content. A sender that cannot sends the content.
   */
  readonly base?: string | undefined;
}

/** One file's part of a content stream, as the reader hands it out. */
export interface IncomingFile {
  /** The chunks are block-delta instructions against the receiver's base, not the content. */
  readonly delta: boolean;
  readonly chunks: AsyncIterable<Uint8Array>;
}

/** Thrown when a content stream breaks the framing. */
export class ContentStreamError extends Error {}

/**
 * Encodes the contents of `files` as a content stream. `open` returns a file's chunks, or throws
 * (before or while yielding) when it cannot read it: a file that cannot be opened is sent as
 * missing, one that fails or changes size midway is padded or cut to its listed size (the
 * receiver's digest check then refuses it).
 */
export async function* encodeContentStream(
  files: readonly ContentRequest[],
  open: (file: ContentRequest) => AsyncIterable<Uint8Array>,
  openDelta?: (file: ContentRequest & { base: string }) => AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  for (const file of files) {
    const base = file.base;
    if (base !== undefined && openDelta !== undefined) {
      yield* encodeDelta(() => openDelta({ ...file, base }));
      continue;
    }
    let iterator: AsyncIterator<Uint8Array>;
    let first: IteratorResult<Uint8Array>;
    try {
      iterator = open(file)[Symbol.asyncIterator]();
      first = await iterator.next();
    } catch {
      yield Uint8Array.of(CONTENT_MISSING);
      continue;
    }
    yield Uint8Array.of(CONTENT_PRESENT);
    let left = file.size;
    try {
      for (let step = first; !step.done && left > 0; step = await iterator.next()) {
        const chunk = step.value.length > left ? step.value.subarray(0, left) : step.value;
        left -= chunk.length;
        if (chunk.length > 0) yield chunk;
      }
    } catch {
      // Padded below: the receiver sees a digest mismatch for this file alone.
    } finally {
      await iterator.return?.();
    }
    for (; left > 0; left -= Math.min(left, PAD.length))
      yield PAD.subarray(0, Math.min(left, PAD.length));
  }
}

const PAD = new Uint8Array(64 * 1024);

/**
 * One file's delta instructions as its part of a content stream: the status byte and segments.
 * A source that fails before its first chunk sends the file as missing; one that fails midway
 * ends the segments early (the receiver's rebuilt file then misses its digest).
 */
export async function* encodeDelta(
  open: () => AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  let iterator: AsyncIterator<Uint8Array>;
  let step: IteratorResult<Uint8Array>;
  try {
    iterator = open()[Symbol.asyncIterator]();
    step = await iterator.next();
  } catch {
    yield Uint8Array.of(CONTENT_MISSING);
    return;
  }
  yield Uint8Array.of(CONTENT_DELTA);
  try {
    for (; !step.done; step = await iterator.next()) {
      for (let at = 0; at < step.value.length; at += MAX_SEGMENT_BYTES) {
        const piece = step.value.subarray(at, at + MAX_SEGMENT_BYTES);
        yield segmentHeader(piece.length);
        yield piece;
      }
    }
  } catch {
    // Ended early below: the receiver's digest check refuses this file alone.
  } finally {
    await iterator.return?.();
  }
  yield segmentHeader(0);
}

function segmentHeader(length: number): Uint8Array {
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, length);
  return header;
}

/** Re-encodes one file taken from a reader as its part of a new content stream. */
export async function* encodeIncoming(file: IncomingFile | undefined): AsyncGenerator<Uint8Array> {
  if (file === undefined) yield Uint8Array.of(CONTENT_MISSING);
  else if (file.delta) yield* encodeDelta(() => file.chunks);
  else {
    yield Uint8Array.of(CONTENT_PRESENT);
    yield* file.chunks;
  }
}

/**
 * Reads a content stream file by file. Call `next(size)` once per listed file, in order; each
 * file's chunks must be taken (or abandoned: the next call skips what is left) before the next.
 * `finish()` checks that nothing follows the last file.
 */
export class ContentStreamReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #buffer: Uint8Array = new Uint8Array(0);
  /** Bytes of the current file (or delta segment) not yet handed out. */
  #left = 0;
  /** The current file is a delta whose terminating segment has not been read yet. */
  #inDelta = false;
  #done = false;
  /** What the source threw, once it did: every later read throws it again. */
  #error: Error | undefined;

  constructor(stream: AsyncIterable<Uint8Array>) {
    this.#iterator = stream[Symbol.asyncIterator]();
  }

  /**
   * The next file's content as chunks (exactly `size` bytes in all), or undefined when the
   * sender sent it as missing. Throws `ContentStreamError` when the stream breaks the framing,
   * or carries a delta (only `nextFile` takes those: whoever asked for one uses it).
   */
  async next(size: number): Promise<AsyncIterable<Uint8Array> | undefined> {
    const file = await this.nextFile(size);
    if (file?.delta === true) throw new ContentStreamError('content stream has an unasked delta');
    return file?.chunks;
  }

  /**
   * The next file: its content (exactly `size` bytes) or its delta instructions, or undefined
   * when the sender sent it as missing. Throws `ContentStreamError` when the stream breaks the
   * framing.
   */
  async nextFile(size: number): Promise<IncomingFile | undefined> {
    await this.#skip();
    if (!(await this.#fill())) throw new ContentStreamError('content stream ended early');
    const status = this.#buffer[0];
    this.#buffer = this.#buffer.subarray(1);
    if (status === CONTENT_MISSING) return undefined;
    if (status === CONTENT_DELTA) {
      this.#inDelta = true;
      return { delta: true, chunks: this.#deltaChunks() };
    }
    if (status !== CONTENT_PRESENT) {
      throw new ContentStreamError(`content stream has an unknown status byte ${status}`);
    }
    this.#left = size;
    return { delta: false, chunks: this.#chunks() };
  }

  /** Checks that the stream ends after the last file (skipping what is left of it). */
  async finish(): Promise<void> {
    await this.#skip();
    if (await this.#fill())
      throw new ContentStreamError('content stream has bytes after its last file');
  }

  /** Stops reading: the source is released (a remote stream is cancelled). */
  async cancel(): Promise<void> {
    this.#done = true;
    await this.#iterator.return?.();
  }

  async *#chunks(): AsyncGenerator<Uint8Array> {
    while (this.#left > 0) {
      if (!(await this.#fill())) throw new ContentStreamError('content stream ended early');
      const take = Math.min(this.#left, this.#buffer.length);
      const chunk = this.#buffer.subarray(0, take);
      this.#buffer = this.#buffer.subarray(take);
      this.#left -= take;
      yield chunk;
    }
  }

  async *#deltaChunks(): AsyncGenerator<Uint8Array> {
    while (this.#inDelta || this.#left > 0) {
      if (this.#left === 0) {
        await this.#segment();
        continue;
      }
      yield* this.#chunks();
    }
  }

  /** Reads the next segment header of a delta; the zero one ends the delta. */
  async #segment(): Promise<void> {
    const header = new Uint8Array(4);
    for (let have = 0; have < 4;) {
      if (!(await this.#fill())) throw new ContentStreamError('content stream ended early');
      const take = Math.min(4 - have, this.#buffer.length);
      header.set(this.#buffer.subarray(0, take), have);
      this.#buffer = this.#buffer.subarray(take);
      have += take;
    }
    const length = new DataView(header.buffer).getUint32(0);
    if (length > MAX_SEGMENT_BYTES) {
      throw new ContentStreamError(`content stream has a delta segment of ${length} bytes`);
    }
    if (length === 0) this.#inDelta = false;
    this.#left = length;
  }

  async #skip(): Promise<void> {
    while (this.#inDelta || this.#left > 0) {
      if (this.#left === 0) {
        await this.#segment();
        continue;
      }
      if (!(await this.#fill())) throw new ContentStreamError('content stream ended early');
      const take = Math.min(this.#left, this.#buffer.length);
      this.#buffer = this.#buffer.subarray(take);
      this.#left -= take;
    }
  }

  /** Makes sure the buffer holds at least one byte; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    while (this.#buffer.length === 0) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#done) return false;
      let step: IteratorResult<Uint8Array>;
      try {
        step = await this.#iterator.next();
      } catch (error) {
        this.#error =
          error instanceof Error
            ? error
            : new ContentStreamError(`content stream failed: ${String(error)}`);
        throw this.#error;
      }
      if (step.done) {
        this.#done = true;
        return false;
      }
      this.#buffer = step.value;
    }
    return true;
  }
}

/**
 * Follows a content stream's framing from its raw bytes, without buffering them: reports each
 * file as its last byte passes. The session uses it to count files done while bytes flow.
 */
export class ContentStreamMeter {
  readonly #sizes: readonly number[];
  #index = 0;
  /** Bytes left of the current file's content or delta segment; -1 while a status is awaited. */
  #left = -1;
  /** The current file is a delta: `#left` counts its current segment. */
  #delta = false;
  /** The current file came as a delta (stays set after its last segment, until it ends). */
  #isDelta = false;
  /** Bytes of a delta segment header seen so far (0 to 3), and their value. */
  #headerBytes = 0;
  #header = 0;

  constructor(sizes: readonly number[]) {
    this.#sizes = sizes;
  }

  /**
   * Feeds `chunk`; returns the files it completed (whether their content was present or missing),
   * how many of its bytes were content (for a delta: its instruction bytes), and how many bytes
   * of the files' sizes it accounted for (`covered`: whole content as it flows, a delta's or a
   * missing file's size when it ends), so that progress against the sizes ends at 100%.
   */
  feed(chunk: Uint8Array): { present: number; missing: number; bytes: number; covered: number } {
    const done = { present: 0, missing: 0, bytes: 0, covered: 0 };
    let offset = 0;
    while (this.#index < this.#sizes.length) {
      if (this.#left < 0) {
        if (offset >= chunk.length) break;
        const status = chunk[offset++];
        if (status === CONTENT_DELTA) {
          this.#delta = true;
          this.#isDelta = true;
          this.#left = 0;
          continue;
        }
        if (status !== CONTENT_PRESENT) {
          done.missing++;
          done.covered += this.#sizes[this.#index] ?? 0;
          this.#index++;
          continue;
        }
        this.#left = this.#sizes[this.#index] ?? 0;
      }
      if (this.#delta && this.#left === 0) {
        // Between segments: read the next header; a zero length ends the file.
        if (offset >= chunk.length) break;
        this.#header = this.#header * 256 + (chunk[offset++] as number);
        if (++this.#headerBytes < 4) continue;
        this.#left = this.#header;
        this.#headerBytes = 0;
        this.#header = 0;
        if (this.#left > 0) continue;
        this.#delta = false;
      }
      const take = Math.min(this.#left, chunk.length - offset);
      offset += take;
      done.bytes += take;
      if (!this.#isDelta) done.covered += take;
      this.#left -= take;
      if (this.#left > 0 || this.#delta) {
        if (offset >= chunk.length) break;
        continue;
      }
      if (this.#isDelta) done.covered += this.#sizes[this.#index] ?? 0;
      this.#isDelta = false;
      done.present++;
      this.#index++;
      this.#left = -1;
    }
    return done;
  }
}

/** The content stream of one file's chunks (conflict copies restored through `apply`). */
export async function* singleContent(
  chunks: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  yield Uint8Array.of(CONTENT_PRESENT);
  yield* chunks;
}
