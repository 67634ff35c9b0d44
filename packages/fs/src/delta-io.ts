/**
 * Block deltas on disk (the algorithm is in @ksync/core block-delta.ts): the receiver signs the
 * file it holds, the sender turns its new file into instructions against that signature, and
 * the receiver expands the instructions from its own file into the bytes that `writeVerified`
 * writes into a temp file beside the target and checks against the whole-file digest.
 *
 * Invariants:
 * - Memory is bounded whatever the file size: files are read in `CHUNK_SIZE` pieces, copies are
 *   read piece by piece, literals are passed on as they arrive.
 * - Expansion only ever reads the base file (opened without following a symlink, and refused
 *   unless it is a regular file) and never reads outside it: a copy that reaches past its end
 *   fails the file. What lands is decided by the digest check of the writer, never here.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import {
  DeltaDecoder,
  DeltaEncoder,
  SignatureBuilder,
  UserError,
  decodeSignature,
  type StrongHash,
} from '@ksync/core';
import { readUnverified } from './content-io.ts';
import { CHUNK_SIZE, READ_FLAGS } from './hash.ts';

/** The strong block hash: SHA-256 (1.8 GB/s here with SHA-NI; only its first 16 bytes count). */
const strong: StrongHash = (bytes) => createHash('sha256').update(bytes).digest();

/**
 * The signature (base64 of the packed `BlockSignature`) of the `size`-byte file at `absolute`.
 * The caller made sure the file holds the content it means to sign; the receiver's digest check
 * covers a change while it was read.
 */
export async function readSignature(absolute: string, size: number): Promise<string> {
  const builder = new SignatureBuilder({ size, strong });
  for await (const chunk of readUnverified(absolute, size)) builder.update(chunk);
  return Buffer.from(builder.finish()).toString('base64');
}

/**
 * The encoded instructions that rebuild the `size`-byte file at `absolute` from the base that
 * `base` (a signature from `readSignature`) describes. Throws before yielding when the signature
 * is malformed or the file is no longer that size; the content is not verified (the receiver
 * checks the rebuilt file's digest).
 */
export async function* readDelta(
  absolute: string,
  options: { readonly size: number; readonly base: string },
): AsyncGenerator<Uint8Array> {
  const encoder = new DeltaEncoder({
    signature: decodeSignature(Buffer.from(options.base, 'base64')),
    strong,
  });
  for await (const chunk of readUnverified(absolute, options.size)) {
    const out = encoder.update(chunk);
    if (out.length > 0) yield Buffer.concat(out);
  }
  const last = encoder.finish();
  if (last.length > 0) yield Buffer.concat(last);
}

/**
 * The new file's bytes, rebuilt from the regular file at `base` (the receiver's current file)
 * and the encoded instructions. Throws when the instructions break the format or copy from
 * outside the base.
 */
export async function* expandDelta(
  base: string,
  instructions: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const handle = await open(base, READ_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new UserError('the file a delta applies to is no longer a file');
    const decoder = new DeltaDecoder();
    for await (const chunk of instructions) {
      for (const step of decoder.update(chunk)) {
        if (step.kind === 'literal') {
          yield step.bytes;
          continue;
        }
        if (step.offset + step.length > stats.size) {
          throw new UserError('delta copies from outside the file it applies to');
        }
        for (let done = 0; done < step.length;) {
          const buffer = Buffer.allocUnsafe(Math.min(CHUNK_SIZE, step.length - done));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, step.offset + done);
          if (bytesRead === 0) throw new UserError('the file a delta applies to shrank');
          done += bytesRead;
          yield buffer.subarray(0, bytesRead);
        }
      }
    }
    decoder.finish();
  } finally {
    await handle.close();
  }
}
