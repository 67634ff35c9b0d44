/**
 * Block deltas: how a file the receiver already holds in an older version crosses the wire as
 * copy and literal instructions instead of its whole content (the rsync algorithm).
 *
 * 1. The receiver cuts its current file (the base) into blocks of `blockSize` bytes (the last
 *    one may be shorter) and sends a signature: per block a weak rolling checksum and a strong
 *    hash.
 * 2. The sender slides a window of `blockSize` bytes over its new file. Where the window's weak
 *    checksum and then its strong hash match a base block, it emits "copy that block" and jumps
 *    a whole block; elsewhere the byte before the window becomes literal and the weak checksum
 *    rolls on by one byte in O(1).
 * 3. The receiver rebuilds the new file from its base and the literals into a temp file beside
 *    the target, and the whole-file digest decides whether it lands.
 *
 * Invariants:
 * - Nothing here vouches for content. A wrong signature, a weak or strong collision, a base that
 *   changed after it was signed, or a hostile instruction can only make the rebuilt file miss
 *   its digest, and then it does not land (the receiver checks the whole-file SHA-256 before it
 *   moves anything into place).
 * - Every instruction is bounded before it is trusted: copies must lie inside the base (the
 *   receiver checks against the base's real size), literals are streamed, never gathered, so
 *   a peer cannot make either side hold more than one literal piece and one block.
 * - The sender's matcher spends a bounded amount of work on weak checksums that do not hold up
 *   (a hostile signature can make every position a weak hit): past `FALSE_MATCH_BUDGET` strong
 *   hashes that found nothing, the rest of the file is sent as literals.
 * - This module is pure: the strong hash is injected (the fs package passes truncated SHA-256).
 */

/** Files smaller than this always travel whole: a signature round trip costs more than it saves. */
export const DELTA_MIN_BYTES = 1024 * 1024;

/** Smallest block: small blocks mean big signatures and many instructions. */
export const MIN_BLOCK_BYTES = 4 * 1024;

/** Largest block; files that would need a larger one (over 32 GiB) travel whole. */
export const MAX_BLOCK_BYTES = 4 * 1024 * 1024;

/** Most blocks in a signature: bounds it to 160 KiB (about 213 KiB as base64 in JSON). */
export const MAX_SIGNATURE_BLOCKS = 8192;

/** Bytes of the strong hash kept per block (truncated SHA-256; the file digest is checked too). */
export const STRONG_BYTES = 16;

/** Bytes per block in a packed signature: a u32 weak checksum and the strong hash. */
const BLOCK_ENTRY_BYTES = 4 + STRONG_BYTES;

/** Packed signature header: block size (u32), then the base size as two u32 (high, low). */
const SIGNATURE_HEADER_BYTES = 12;

/** Longest packed signature, in bytes. */
export const MAX_SIGNATURE_BYTES =
  SIGNATURE_HEADER_BYTES + MAX_SIGNATURE_BLOCKS * BLOCK_ENTRY_BYTES;

/** Longest literal instruction the encoder emits (the decoder streams longer ones in pieces). */
export const MAX_LITERAL_BYTES = 256 * 1024;

/** Strong hashes that may fail after a weak match before the encoder stops matching. */
export const FALSE_MATCH_BUDGET = 4096;

/** Instruction opcode: copy `length` bytes of the base from `offset`. */
const OP_COPY = 1;
/** Instruction opcode: `length` literal bytes follow. */
const OP_LITERAL = 2;

/** The receiver's description of its base file. */
export interface BlockSignature {
  readonly blockSize: number;
  /** Size of the base file in bytes. */
  readonly size: number;
  /** One weak checksum per block. */
  readonly weak: Uint32Array;
  /** `STRONG_BYTES` per block, block after block. */
  readonly strong: Uint8Array;
}

/** A strong hash of some bytes, at least `STRONG_BYTES` long (only those are compared). */
export type StrongHash = (bytes: Uint8Array) => Uint8Array;

/** One rebuild step: bytes from the base, or bytes sent along. */
export type DeltaInstruction =
  | { readonly kind: 'copy'; readonly offset: number; readonly length: number }
  | { readonly kind: 'literal'; readonly bytes: Uint8Array };

/** Thrown for a signature or an instruction stream that breaks the format. */
export class BlockDeltaError extends Error {}

/**
 * The block size for a base of `size` bytes, or undefined when the file should travel whole
 * (too small to gain, or too large for a bounded signature).
 */
export function planBlockSize(size: number): number | undefined {
  if (size < DELTA_MIN_BYTES) return undefined;
  let block = MIN_BLOCK_BYTES;
  while (block < MAX_BLOCK_BYTES && Math.ceil(size / block) > MAX_SIGNATURE_BLOCKS) block *= 2;
  return Math.ceil(size / block) > MAX_SIGNATURE_BLOCKS ? undefined : block;
}

/** Number of blocks of `blockSize` in a base of `size` bytes (the last may be short). */
export function blockCount(size: number, blockSize: number): number {
  return Math.ceil(size / blockSize);
}

/** Length of the packed signature of a base of `size` bytes (0 when it would travel whole). */
export function signatureLength(size: number): number {
  const block = planBlockSize(size);
  return block === undefined
    ? 0
    : SIGNATURE_HEADER_BYTES + blockCount(size, block) * BLOCK_ENTRY_BYTES;
}

/**
 * The weak checksum of `bytes[start, end)`: rsync's pair of 16-bit sums, `a` the sum of the
 * bytes and `b` the sum of the running `a`s, as `a | b << 16`. Int32 arithmetic wraps, which
 * keeps the low 16 bits exact.
 */
export function weakChecksum(bytes: Uint8Array, start: number, end: number): number {
  let a = 0;
  let b = 0;
  let i = start;
  // Four bytes per step: with x0..x3 added in turn, `b` gains 4a + 4x0 + 3x1 + 2x2 + x3. The
  // shorter dependency chain runs about twice as fast as byte by byte.
  for (; i + 4 <= end; i += 4) {
    const x0 = bytes[i] as number;
    const x1 = bytes[i + 1] as number;
    const x2 = bytes[i + 2] as number;
    const x3 = bytes[i + 3] as number;
    b = (b + (a << 2) + (x0 << 2) + 3 * x1 + (x2 << 1) + x3) | 0;
    a = (a + x0 + x1 + x2 + x3) | 0;
  }
  for (; i < end; i++) {
    a = (a + (bytes[i] as number)) | 0;
    b = (b + a) | 0;
  }
  return ((a & 0xffff) | ((b & 0xffff) << 16)) >>> 0;
}

/**
 * Collects a base's signature block by block. Feed it the base's bytes in order (any chunking);
 * `finish` packs it. `strong` hashes one block.
 */
export class SignatureBuilder {
  readonly #blockSize: number;
  readonly #size: number;
  readonly #strong: StrongHash;
  readonly #packed: Uint8Array;
  readonly #view: DataView;
  /** The current block's bytes while it is incomplete. */
  readonly #pending: Uint8Array;
  #pendingLength = 0;
  #blocks = 0;
  #fed = 0;

  constructor(options: { readonly size: number; readonly strong: StrongHash }) {
    const block = planBlockSize(options.size);
    if (block === undefined) throw new BlockDeltaError(`no block delta for ${options.size} bytes`);
    this.#blockSize = block;
    this.#size = options.size;
    this.#strong = options.strong;
    this.#packed = new Uint8Array(signatureLength(options.size));
    this.#view = new DataView(this.#packed.buffer);
    this.#view.setUint32(0, block);
    this.#view.setUint32(4, Math.floor(options.size / 2 ** 32));
    this.#view.setUint32(8, options.size >>> 0);
    this.#pending = new Uint8Array(block);
  }

  /** Adds the next bytes of the base. */
  update(chunk: Uint8Array): void {
    this.#fed += chunk.length;
    if (this.#fed > this.#size) throw new BlockDeltaError('base is longer than its size');
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#pendingLength === 0 && chunk.length - offset >= this.#blockSize) {
        this.#add(chunk.subarray(offset, offset + this.#blockSize));
        offset += this.#blockSize;
        continue;
      }
      const take = Math.min(this.#blockSize - this.#pendingLength, chunk.length - offset);
      this.#pending.set(chunk.subarray(offset, offset + take), this.#pendingLength);
      this.#pendingLength += take;
      offset += take;
      if (this.#pendingLength === this.#blockSize) {
        this.#add(this.#pending);
        this.#pendingLength = 0;
      }
    }
  }

  /** The packed signature; throws when the bytes fed were not exactly `size`. */
  finish(): Uint8Array {
    if (this.#fed !== this.#size) throw new BlockDeltaError('base is shorter than its size');
    if (this.#pendingLength > 0) this.#add(this.#pending.subarray(0, this.#pendingLength));
    return this.#packed;
  }

  #add(block: Uint8Array): void {
    const at = SIGNATURE_HEADER_BYTES + this.#blocks * BLOCK_ENTRY_BYTES;
    this.#view.setUint32(at, weakChecksum(block, 0, block.length));
    this.#packed.set(this.#strong(block).subarray(0, STRONG_BYTES), at + 4);
    this.#blocks++;
  }
}

/**
 * Reads a packed signature, refusing one whose header, block size or length is not what
 * `planBlockSize` would have produced for its size (it came from the other side).
 */
export function decodeSignature(packed: Uint8Array): BlockSignature {
  if (packed.length < SIGNATURE_HEADER_BYTES) throw new BlockDeltaError('signature too short');
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const blockSize = view.getUint32(0);
  const size = view.getUint32(4) * 2 ** 32 + view.getUint32(8);
  if (!Number.isSafeInteger(size) || planBlockSize(size) !== blockSize) {
    throw new BlockDeltaError(`signature has block size ${blockSize} for ${size} bytes`);
  }
  const count = blockCount(size, blockSize);
  if (packed.length !== SIGNATURE_HEADER_BYTES + count * BLOCK_ENTRY_BYTES) {
    throw new BlockDeltaError(`signature has ${packed.length} bytes for ${count} blocks`);
  }
  const weak = new Uint32Array(count);
  const strong = new Uint8Array(count * STRONG_BYTES);
  for (let i = 0; i < count; i++) {
    const at = SIGNATURE_HEADER_BYTES + i * BLOCK_ENTRY_BYTES;
    weak[i] = view.getUint32(at);
    strong.set(packed.subarray(at + 4, at + BLOCK_ENTRY_BYTES), i * STRONG_BYTES);
  }
  return { blockSize, size, weak, strong };
}

/** Bits in the encoder's weak-checksum filter (128 KiB): under 1% false hits at 8,192 blocks. */
const FILTER_BITS = 1 << 20;

/** A weak checksum's bit in the filter: multiplicative hashing mixes its two 16-bit sums. */
function filterSlot(weak: number): number {
  return Math.imul(weak, 0x9e3779b1) >>> 12;
}

/** A strong hash as a map key. */
function strongKey(bytes: Uint8Array, offset: number): string {
  let key = '';
  for (let i = offset; i < offset + STRONG_BYTES; i++) key += String.fromCharCode(bytes[i] ?? 0);
  return key;
}

/**
 * Computes the instructions that turn the base described by a signature into the new file. Feed
 * the new file's bytes with `update` (any chunking) and collect the encoded instructions it
 * returns; `finish` returns the last ones. Holds at most one literal (`MAX_LITERAL_BYTES`), one
 * block and one chunk of the input.
 */
export class DeltaEncoder {
  readonly #signature: BlockSignature;
  readonly #strong: StrongHash;
  /** weak checksum → (strong key → first block with that pair). */
  readonly #index = new Map<number, Map<string, number>>();
  /** A bit per `filterSlot` of every block's weak checksum: most positions need no map lookup. */
  readonly #filter = new Uint32Array(FILTER_BITS / 32);
  /**
   * Input not sent yet: `[#start, #pos)` is pending literal, the window starts at `#pos`, and
   * `[#pos, #length)` is not looked at yet. Compacted only when full, so a match moves nothing.
   */
  #buffer: Uint8Array;
  #start = 0;
  #pos = 0;
  #length = 0;
  /** The weak checksum of the window at `#pos`, when `#rolling`. */
  #weak = 0;
  #rolling = false;
  /** The window at `#pos` was already looked up. */
  #checked = false;
  /** The block after the last one matched: tried first, before any weak checksum. */
  #expected = 0;
  #falseMatches = 0;
  /** A pending copy run (merged while blocks follow each other). */
  #copyOffset = 0;
  #copyLength = 0;
  readonly #out: Uint8Array[] = [];

  constructor(options: { readonly signature: BlockSignature; readonly strong: StrongHash }) {
    this.#signature = options.signature;
    this.#strong = options.strong;
    const { weak, strong } = options.signature;
    for (let i = 0; i < weak.length; i++) {
      const w = weak[i] as number;
      let byStrong = this.#index.get(w);
      if (byStrong === undefined) this.#index.set(w, (byStrong = new Map<string, number>()));
      const slot = filterSlot(w);
      this.#filter[slot >>> 5] = (this.#filter[slot >>> 5] as number) | (1 << (slot & 31));
      const key = strongKey(strong, i * STRONG_BYTES);
      if (!byStrong.has(key)) byStrong.set(key, i);
    }
    this.#buffer = new Uint8Array(MAX_LITERAL_BYTES + 2 * options.signature.blockSize);
  }

  /** Adds the next bytes of the new file; returns encoded instructions ready to send. */
  update(chunk: Uint8Array): Uint8Array[] {
    for (let offset = 0; offset < chunk.length;) {
      const room = this.#buffer.length - this.#length;
      if (room === 0) {
        this.#run();
        this.#compact();
        continue;
      }
      const take = Math.min(room, chunk.length - offset);
      this.#buffer.set(chunk.subarray(offset, offset + take), this.#length);
      this.#length += take;
      offset += take;
    }
    this.#run();
    return this.#drain();
  }

  /** Ends the input; returns the last encoded instructions. */
  finish(): Uint8Array[] {
    this.#run();
    // The tail is shorter than a block (or one already looked up): it can still end with the
    // base's short last block; everything else is literal.
    const { blockSize, size } = this.#signature;
    const lastLength = size % blockSize;
    const last = blockCount(size, blockSize) - 1;
    const tailStart = this.#length - lastLength;
    if (lastLength > 0 && tailStart >= this.#start && this.#sameAs(last, tailStart, lastLength)) {
      this.#literal(tailStart);
      this.#copy(last * blockSize, lastLength);
      this.#start = this.#length;
    }
    this.#literal(this.#length);
    this.#flushCopy();
    return this.#drain();
  }

  #run(): void {
    const { blockSize } = this.#signature;

    while (this.#pos + blockSize <= this.#length) {
      if (!this.#checked) {
        if (!this.#rolling) {
          if (this.#tryExpected()) continue;
          this.#weak = weakChecksum(this.#buffer, this.#pos, this.#pos + blockSize);
          this.#rolling = true;
        }
        if (this.#tryWeak()) continue;
        this.#checked = true;
      }
      // Slide byte by byte (needs the byte after the window) until the filter admits a weak
      // checksum, the input runs out or the literal is full: the loop that runs for every byte
      // of changed data, so it keeps to local integers and one bit test per byte.
      const buffer = this.#buffer;
      const stop = Math.min(this.#length - blockSize, this.#start + MAX_LITERAL_BYTES);
      const weight = blockSize & 0xffff;
      let pos = this.#pos;
      let a = this.#weak & 0xffff;
      let b = this.#weak >>> 16;
      let admitted = false;
      while (pos < stop) {
        const out = buffer[pos] as number;
        a = (a - out + (buffer[pos + blockSize] as number)) & 0xffff;
        b = (b - ((weight * out) & 0xffff) + a) & 0xffff;
        pos++;
        const slot = filterSlot(a | (b << 16));
        if (((this.#filter[slot >>> 5] as number) & (1 << (slot & 31))) !== 0) {
          admitted = true;
          break;
        }
      }
      this.#weak = (a | (b << 16)) >>> 0;
      // A position the filter refused needs no lookup: it is as good as checked.
      if (pos > this.#pos) this.#checked = !admitted;
      this.#pos = pos;
      if (this.#pos - this.#start >= MAX_LITERAL_BYTES) this.#literal(this.#pos);
      if (this.#pos + blockSize >= this.#length && this.#checked) return;
    }
  }

  /** Fast path for unchanged stretches: the block after the last match, by strong hash alone. */
  #tryExpected(): boolean {
    const { blockSize, size } = this.#signature;
    const block = this.#expected;
    if (block >= blockCount(size, blockSize) || (block + 1) * blockSize > size) return false;
    if (!this.#sameAs(block, this.#pos, blockSize)) return false;
    this.#matched(block);
    return true;
  }

  #tryWeak(): boolean {
    if (this.#falseMatches >= FALSE_MATCH_BUDGET) return false;
    const byStrong = this.#index.get(this.#weak);
    if (byStrong === undefined) return false;
    const { blockSize, size } = this.#signature;
    const hash = this.#strong(this.#buffer.subarray(this.#pos, this.#pos + blockSize));
    const block = byStrong.get(strongKey(hash, 0));
    // Only whole blocks match in the middle; the short last block only at the end (`finish`).
    if (block === undefined || (block + 1) * blockSize > size) {
      this.#falseMatches++;
      return false;
    }
    this.#matched(block);
    return true;
  }

  #sameAs(block: number, start: number, length: number): boolean {
    const hash = this.#strong(this.#buffer.subarray(start, start + length));
    const at = block * STRONG_BYTES;
    for (let i = 0; i < STRONG_BYTES; i++) {
      if (hash[i] !== this.#signature.strong[at + i]) return false;
    }
    return true;
  }

  #matched(block: number): void {
    const { blockSize } = this.#signature;
    this.#literal(this.#pos);
    this.#copy(block * blockSize, blockSize);
    this.#pos += blockSize;
    this.#start = this.#pos;
    this.#expected = block + 1;
    this.#rolling = false;
    this.#checked = false;
  }

  /** Emits `[#start, end)` as literal instructions. */
  #literal(end: number): void {
    if (end <= this.#start) return;
    this.#flushCopy();
    for (let at = this.#start; at < end; at += MAX_LITERAL_BYTES) {
      const piece = this.#buffer.subarray(at, Math.min(end, at + MAX_LITERAL_BYTES));
      const out = new Uint8Array(5 + piece.length);
      out[0] = OP_LITERAL;
      new DataView(out.buffer).setUint32(1, piece.length);
      out.set(piece, 5);
      this.#out.push(out);
    }
    this.#start = end;
  }

  /** Adds a copy, merged with the pending one when it continues it. */
  #copy(offset: number, length: number): void {
    const merged = this.#copyLength + length;
    if (
      this.#copyLength > 0 &&
      this.#copyOffset + this.#copyLength === offset &&
      merged <= 0xffff_ffff
    ) {
      this.#copyLength = merged;
      return;
    }
    this.#flushCopy();
    this.#copyOffset = offset;
    this.#copyLength = length;
  }

  #flushCopy(): void {
    if (this.#copyLength === 0) return;
    const out = new Uint8Array(13);
    const view = new DataView(out.buffer);
    out[0] = OP_COPY;
    view.setUint32(1, Math.floor(this.#copyOffset / 2 ** 32));
    view.setUint32(5, this.#copyOffset >>> 0);
    view.setUint32(9, this.#copyLength);
    this.#out.push(out);
    this.#copyLength = 0;
  }

  /**
   * Moves the unsent input to the front of the buffer. The pending literal stays under
   * `MAX_LITERAL_BYTES` and the unread input under two blocks, so this always makes room.
   */
  #compact(): void {
    this.#buffer.copyWithin(0, this.#start, this.#length);
    this.#length -= this.#start;
    this.#pos -= this.#start;
    this.#start = 0;
  }

  #drain(): Uint8Array[] {
    return this.#out.splice(0, this.#out.length);
  }
}

/**
 * Parses an encoded instruction stream as it arrives, in any chunking. Literal bytes come out in
 * pieces as they arrive (never gathered), so a long literal costs no memory.
 */
export class DeltaDecoder {
  /** Header bytes of the instruction being read. */
  readonly #header = new Uint8Array(13);
  #headerLength = 0;
  /** Literal bytes still to come for the current literal instruction. */
  #literalLeft = 0;

  /** Parses the next bytes; returns the instructions (or literal pieces) they complete. */
  update(chunk: Uint8Array): DeltaInstruction[] {
    const out: DeltaInstruction[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#literalLeft > 0) {
        const take = Math.min(this.#literalLeft, chunk.length - offset);
        out.push({ kind: 'literal', bytes: chunk.subarray(offset, offset + take) });
        this.#literalLeft -= take;
        offset += take;
        continue;
      }
      const op = this.#headerLength > 0 ? this.#header[0] : chunk[offset];
      const need = op === OP_COPY ? 13 : op === OP_LITERAL ? 5 : 0;
      if (need === 0) throw new BlockDeltaError(`unknown delta instruction ${op}`);
      const take = Math.min(need - this.#headerLength, chunk.length - offset);
      this.#header.set(chunk.subarray(offset, offset + take), this.#headerLength);
      this.#headerLength += take;
      offset += take;
      if (this.#headerLength < need) break;
      this.#headerLength = 0;
      const view = new DataView(this.#header.buffer);
      if (op === OP_COPY) {
        const instruction = {
          kind: 'copy' as const,
          offset: view.getUint32(1) * 2 ** 32 + view.getUint32(5),
          length: view.getUint32(9),
        };
        if (instruction.length === 0 || !Number.isSafeInteger(instruction.offset)) {
          throw new BlockDeltaError('delta copy instruction out of range');
        }
        out.push(instruction);
      } else {
        this.#literalLeft = view.getUint32(1);
        if (this.#literalLeft === 0) throw new BlockDeltaError('empty delta literal');
      }
    }
    return out;
  }

  /** Checks that the stream did not end inside an instruction. */
  finish(): void {
    if (this.#headerLength > 0 || this.#literalLeft > 0) {
      throw new BlockDeltaError('delta ended inside an instruction');
    }
  }
}
