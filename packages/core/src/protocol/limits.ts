/**
 * Protocol limits. Both sides enforce them on what they receive, and senders split their work so
 * that they never exceed them: a side that receives more than these bounds is talking to a broken
 * or hostile peer and treats it as a protocol error.
 */

/** Wire protocol revision; bumped on any incompatible change to the messages below `hello`. */
export const PROTOCOL_VERSION = 2;

/** Largest WebSocket message either side accepts (the `ws` `maxPayload`), in bytes. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Largest content chunk in one binary frame, in bytes (the frame adds a 5-byte header). */
export const MAX_CHUNK_BYTES = 256 * 1024;

/**
 * Content-stream flow control: a receiver grants this much credit per stream up front and tops
 * it up as its consumer takes chunks, so at most this many bytes per stream are ever buffered.
 */
export const STREAM_WINDOW_BYTES = 2 * 1024 * 1024;

/**
 * How many buckets a snapshot is cut into when a client sends the digests of the snapshot it
 * expects (the agent's snapshot-buckets.ts): ~400 entries each at 100,000 paths.
 */
export const SNAPSHOT_BUCKETS = 256;

/** Most items in one batch: changes per `apply`, digests per `missing`, entries per scan page. */
export const MAX_BATCH_ITEMS = 10_000;

/**
 * Senders close a batch before its JSON passes this size, well under `MAX_FRAME_BYTES`, so that a
 * batch of long paths still fits in one frame.
 */
export const BATCH_TARGET_BYTES = 1024 * 1024;

/**
 * Most files per `signatures` request: each answer is at most 213 KiB of base64, so four stay
 * under `BATCH_TARGET_BYTES`.
 */
export const MAX_SIGNATURES_PER_REQUEST = 4;

/** Most requests (including open content streams) one connection may have in flight. */
export const MAX_IN_FLIGHT = 256;

/** Longest ignore pattern, error message and token accepted, in UTF-16 code units. */
export const MAX_TEXT_LENGTH = 4096;

/** Most ignore patterns in one `open`. */
export const MAX_IGNORE_PATTERNS = 1000;
