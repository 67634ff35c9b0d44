import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  BlockDeltaError,
  DELTA_MIN_BYTES,
  DeltaDecoder,
  DeltaEncoder,
  FALSE_MATCH_BUDGET,
  MAX_SIGNATURE_BLOCKS,
  MIN_BLOCK_BYTES,
  STRONG_BYTES,
  SignatureBuilder,
  decodeSignature,
  planBlockSize,
  weakChecksum,
  type DeltaInstruction,
  type StrongHash,
} from './block-delta.ts';

const strong: StrongHash = (bytes) => createHash('sha256').update(bytes).digest();

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function chunked(data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, at + size));
  return out;
}

function sign(base: Uint8Array, chunk = 100_000): Uint8Array {
  const builder = new SignatureBuilder({ size: base.length, strong });
  for (const part of chunked(base, chunk)) builder.update(part);
  return builder.finish();
}

function encode(base: Uint8Array, target: Uint8Array, chunk = 77_777): Uint8Array[] {
  const encoder = new DeltaEncoder({ signature: decodeSignature(sign(base)), strong });
  const out: Uint8Array[] = [];
  for (const part of chunked(target, chunk)) out.push(...encoder.update(part));
  out.push(...encoder.finish());
  return out;
}

/** Rebuilds the target from the base and the encoded instructions, fed in `chunk`-byte pieces. */
function rebuild(base: Uint8Array, encoded: readonly Uint8Array[], chunk = 4093): Uint8Array {
  const all = concat(encoded);
  const decoder = new DeltaDecoder();
  const parts: Uint8Array[] = [];
  const take = (instructions: DeltaInstruction[]): void => {
    for (const i of instructions) {
      if (i.kind === 'literal') parts.push(i.bytes.slice());
      else {
        assert.ok(i.offset + i.length <= base.length, 'copy inside the base');
        parts.push(base.subarray(i.offset, i.offset + i.length));
      }
    }
  };
  for (const part of chunked(all, chunk)) take(decoder.update(part));
  decoder.finish();
  return concat(parts);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const literalBytes = (encoded: readonly Uint8Array[]): number =>
  encoded.filter((e) => e[0] === 2).reduce((n, e) => n + e.length - 5, 0);

describe('block delta', () => {
  it('plans blocks so the signature stays bounded, and no delta for small files', () => {
    assert.equal(planBlockSize(DELTA_MIN_BYTES - 1), undefined);
    assert.equal(planBlockSize(DELTA_MIN_BYTES), MIN_BLOCK_BYTES);
    assert.equal(planBlockSize(1024 ** 3), 128 * 1024);
    assert.equal(planBlockSize(64 * 1024 ** 3), undefined);
    for (const size of [DELTA_MIN_BYTES, 3e7 + 1, 1024 ** 3, 2 ** 35]) {
      const block = planBlockSize(size) as number;
      assert.ok(Math.ceil(size / block) <= MAX_SIGNATURE_BLOCKS);
    }
  });

  it('rolls the weak checksum to the same value as computing it afresh', () => {
    const data = noise(10_000, 7);
    const n = 4096;
    let a = weakChecksum(data, 0, n);
    for (let i = 0; i + n < data.length; i++) {
      const out = data[i] as number;
      const into = data[i + n] as number;
      let lo = a & 0xffff;
      let hi = a >>> 16;
      lo = (lo - out + into) & 0xffff;
      hi = (hi - ((n * out) & 0xffff) + lo) & 0xffff;
      a = (lo | (hi << 16)) >>> 0;
      assert.equal(a, weakChecksum(data, i + 1, i + 1 + n));
    }
  });

  it('sends one block and copies for a one-byte change in the middle', () => {
    const base = noise(3 * 1024 * 1024 + 123, 1);
    const target = base.slice();
    target[1_500_000] = (target[1_500_000] ?? 0) ^ 0xff;
    const encoded = encode(base, target);
    assert.deepEqual(rebuild(base, encoded), target);
    assert.ok(literalBytes(encoded) <= (planBlockSize(base.length) as number));
  });

  it('finds moved blocks after an insertion and a deletion (unaligned)', () => {
    const base = noise(2 * 1024 * 1024, 2);
    const target = concat([base.subarray(0, 100_003), noise(777, 3), base.subarray(300_001)]);
    const encoded = encode(base, target);
    assert.deepEqual(rebuild(base, encoded), target);
    assert.ok(literalBytes(encoded) < 3 * (planBlockSize(base.length) as number));
  });

  it('sends everything as literal when nothing matches, in bounded pieces', () => {
    const base = noise(DELTA_MIN_BYTES, 4);
    const target = noise(DELTA_MIN_BYTES + 5, 6);
    const encoded = encode(base, target, 1 << 20);
    assert.deepEqual(rebuild(base, encoded), target);
    assert.equal(literalBytes(encoded), target.length);
    assert.ok(encoded.every((e) => e.length <= 256 * 1024 + 5));
  });

  it('stops trusting weak matches after a budget of false ones', () => {
    const base = new Uint8Array(DELTA_MIN_BYTES); // zeros: every block has weak 0
    const signature = decodeSignature(sign(base));
    // A hostile signature: every block claims the weak checksum of zeros, none its strong hash.
    signature.strong.fill(1);
    const encoder = new DeltaEncoder({ signature, strong });
    const target = new Uint8Array(DELTA_MIN_BYTES * 2);
    let calls = 0;
    const counting = new DeltaEncoder({
      signature,
      strong: (b) => {
        calls++;
        return strong(b);
      },
    });
    const out = [...counting.update(target), ...counting.finish()];
    assert.ok(calls <= FALSE_MATCH_BUDGET + 2, `${calls} strong hashes`);
    assert.equal(literalBytes(out), target.length);
    assert.equal(literalBytes([...encoder.update(target), ...encoder.finish()]), target.length);
  });

  it('refuses signatures that do not fit their size', () => {
    const good = sign(noise(DELTA_MIN_BYTES, 10));
    assert.throws(() => decodeSignature(good.subarray(0, good.length - 1)), BlockDeltaError);
    const wrongBlock = good.slice();
    new DataView(wrongBlock.buffer).setUint32(0, 8192);
    assert.throws(() => decodeSignature(wrongBlock), /block size/);
    assert.throws(() => decodeSignature(new Uint8Array(3)), /too short/);
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(4, 0xffff_ffff);
    assert.throws(() => decodeSignature(huge), BlockDeltaError);
    assert.equal(decodeSignature(good).strong.length / STRONG_BYTES, 256);
  });

  it('refuses instruction streams that break the format', () => {
    assert.throws(() => new DeltaDecoder().update(Uint8Array.of(9)), /unknown/);
    assert.throws(() => new DeltaDecoder().update(Uint8Array.of(2, 0, 0, 0, 0)), /empty/);
    assert.throws(
      () => new DeltaDecoder().update(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
      /out of range/,
    );
    const cut = new DeltaDecoder();
    cut.update(Uint8Array.of(2, 0, 0, 0, 9, 1));
    assert.throws(() => cut.finish(), /inside an instruction/);
  });

  it('property: the delta applied to the base is the target, for random edits', () => {
    const base = noise(DELTA_MIN_BYTES + 4567, 11);
    const edit = fc.record({
      at: fc.nat({ max: base.length }),
      remove: fc.nat({ max: 20_000 }),
      insert: fc.nat({ max: 20_000 }),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
    });
    fc.assert(
      fc.property(
        fc.array(edit, { maxLength: 4 }),
        fc.integer({ min: 1, max: 300_000 }),
        (edits, chunk) => {
          let target = base;
          for (const e of edits) {
            const at = Math.min(e.at, target.length);
            target = concat([
              target.subarray(0, at),
              noise(e.insert, e.seed),
              target.subarray(Math.min(target.length, at + e.remove)),
            ]);
          }
          const encoded = encode(base, target, chunk);
          assert.deepEqual(rebuild(base, encoded), target);
          // Each edit costs at most a few blocks of literal plus what it inserted.
          const block = planBlockSize(base.length) as number;
          const inserted = edits.reduce((n, e) => n + e.insert, 0);
          assert.ok(literalBytes(encoded) <= inserted + edits.length * 2 * block + block);
        },
      ),
      { numRuns: 40 },
    );
  });
});
