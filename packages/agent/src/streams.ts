/**
 * Credit-based flow control for content streams (the framing is described in
 * @ksync/core protocol/framing.ts). Both ends start with one window of credit; the receiver
 * grants more only as its consumer takes chunks, so a stream never buffers more than one window
 * on the receiving side, and the sender never has more than one window in flight, whatever the
 * file size and however slow the consumer (a disk, another stream).
 */
import {
  CHUNK_HEADER_BYTES,
  MAX_CHUNK_BYTES,
  STREAM_WINDOW_BYTES,
  encodeChunkFrame,
} from '@ksync/core';

/** The receiving end of one stream: an async iterable of chunks fed by the connection. */
export class StreamReceiver implements AsyncIterable<Uint8Array> {
  readonly #grant: (bytes: number) => void;
  readonly #onCancel: () => void;
  readonly #queue: Uint8Array[] = [];
  /** Credit the peer still holds: bytes it may send without exceeding what was granted. */
  #outstanding = STREAM_WINDOW_BYTES;
  #consumed = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #iterating = false;

  /**
   * `grant` sends credit to the peer; `onCancel` tells the peer the consumer stopped early (it
   * is not called after a normal end or a failure the peer reported).
   */
  constructor(options: { grant: (bytes: number) => void; onCancel: () => void }) {
    this.#grant = options.grant;
    this.#onCancel = options.onCancel;
  }

  /** Queues a chunk; returns false when the peer sent more than it was granted. */
  push(data: Uint8Array): boolean {
    if (this.#ended || this.#error) return true;
    if (data.length > this.#outstanding) return false;
    this.#outstanding -= data.length;
    this.#queue.push(data);
    this.#wake?.();
    return true;
  }

  /** The peer finished the stream. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  /** The stream failed (peer error, lost connection); the consumer's next read throws. */
  fail(error: Error): void {
    if (this.#ended) return;
    this.#error ??= error;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.#iterating) throw new Error('a content stream can be read only once');
    this.#iterating = true;
    let finished = false;
    try {
      for (;;) {
        const chunk = this.#queue.shift();
        if (chunk !== undefined) {
          this.#consumed += chunk.length;
          // Grant in quarters of a window: fewer credit messages, and the peer never stalls.
          if (this.#consumed >= STREAM_WINDOW_BYTES / 4) {
            this.#outstanding += this.#consumed;
            this.#grant(this.#consumed);
            this.#consumed = 0;
          }
          yield chunk;
          continue;
        }
        if (this.#error) throw this.#error;
        if (this.#ended) {
          finished = true;
          return;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
      }
    } finally {
      this.#queue.length = 0;
      if (!finished && this.#error === undefined) this.#onCancel();
    }
  }
}

/** The sending end of one stream: waits for credit before each chunk. */
export class CreditSender {
  #credit = STREAM_WINDOW_BYTES;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  /** Adds credit the peer granted. */
  grant(bytes: number): void {
    this.#credit += bytes;
    this.#wake?.();
  }

  /** Stops the stream: the pending and every later `take` throws `error`. */
  abort(error: Error): void {
    this.#error ??= error;
    this.#wake?.();
  }

  /** True once aborted. */
  get aborted(): boolean {
    return this.#error !== undefined;
  }

  /** Waits until `bytes` of credit are available and spends them. */
  async take(bytes: number): Promise<void> {
    for (;;) {
      if (this.#error) throw this.#error;
      if (this.#credit >= bytes) {
        this.#credit -= bytes;
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }
}

/**
 * Packs a byte stream into chunk frames for stream `id`: many small pieces (the files of a content
 * stream) share one frame of up to MAX_CHUNK_BYTES, large ones are cut to it, and each byte is
 * copied once, into its frame. So 10,000 small files cost about as many frames as their bytes
 * need, not one or two per file.
 */
export async function* framesOf(
  id: number,
  stream: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const header = encodeChunkFrame(id, new Uint8Array(0));
  let frame: Uint8Array | undefined;
  let length = 0;
  for await (const data of stream) {
    for (let offset = 0; offset < data.length;) {
      if (frame === undefined && data.length - offset >= MAX_CHUNK_BYTES) {
        yield encodeChunkFrame(id, data.subarray(offset, offset + MAX_CHUNK_BYTES));
        offset += MAX_CHUNK_BYTES;
        continue;
      }
      if (frame === undefined) {
        frame = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + MAX_CHUNK_BYTES);
        frame.set(header);
      }
      const take = Math.min(MAX_CHUNK_BYTES - length, data.length - offset);
      frame.set(data.subarray(offset, offset + take), CHUNK_HEADER_BYTES + length);
      length += take;
      offset += take;
      if (length === MAX_CHUNK_BYTES) {
        yield frame;
        frame = undefined;
        length = 0;
      }
    }
  }
  if (frame !== undefined && length > 0) yield frame.subarray(0, CHUNK_HEADER_BYTES + length);
}
