/**
 * Binary framing for file content. Control messages are JSON text frames (messages.ts); content
 * is carried in binary frames, each one chunk of one stream:
 *
 *   byte 0      frame kind, 1 = content chunk (other values are refused)
 *   bytes 1..4  stream id, unsigned 32-bit big-endian: the id of the read or stage request
 *   bytes 5..   1 to MAX_CHUNK_BYTES bytes of content
 *
 * A stream is opened by its JSON request (`read` from the client, whose chunks come back from the
 * agent; `stage` from the client, whose chunks follow it), ends with a JSON `end` (or `error` /
 * `abort`), and WebSocket message order keeps the chunks in order between those. The sender may
 * only send as many bytes as the receiver granted (a first window of STREAM_WINDOW_BYTES, then
 * `credit` messages as the receiver's consumer takes chunks); a receiver that gets more than it
 * granted treats the peer as broken. That keeps memory bounded on both sides whatever the size
 * of the file, and no stream can starve another (unlike pausing the socket).
 */
import { MAX_CHUNK_BYTES } from './limits.ts';

/** Frame kind byte of a content chunk. */
export const CHUNK_FRAME_KIND = 1;

/** Bytes before the content in a chunk frame. */
export const CHUNK_HEADER_BYTES = 5;

/** Builds a chunk frame for stream `id` (copies `data` after the header). */
export function encodeChunkFrame(id: number, data: Uint8Array): Uint8Array {
  const frame = new Uint8Array(CHUNK_HEADER_BYTES + data.length);
  frame[0] = CHUNK_FRAME_KIND;
  new DataView(frame.buffer).setUint32(1, id);
  frame.set(data, CHUNK_HEADER_BYTES);
  return frame;
}

/** A decoded chunk frame, or why the frame was refused. */
export type DecodedChunk =
  | { readonly ok: true; readonly id: number; readonly data: Uint8Array }
  | { readonly ok: false; readonly message: string };

/** Decodes a binary frame without copying the content. */
export function decodeChunkFrame(frame: Uint8Array): DecodedChunk {
  if (frame.length < CHUNK_HEADER_BYTES + 1)
    return { ok: false, message: 'binary frame too short' };
  if (frame[0] !== CHUNK_FRAME_KIND) {
    return { ok: false, message: `unknown binary frame kind ${frame[0]}` };
  }
  if (frame.length - CHUNK_HEADER_BYTES > MAX_CHUNK_BYTES) {
    return { ok: false, message: `content chunk larger than ${MAX_CHUNK_BYTES} bytes` };
  }
  const id = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1);
  if (id === 0) return { ok: false, message: 'chunk for stream 0' };
  return { ok: true, id, data: frame.subarray(CHUNK_HEADER_BYTES) };
}
