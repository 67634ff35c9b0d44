import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ContentStreamError,
  ContentStreamMeter,
  ContentStreamReader,
  encodeContentStream,
  type ContentRequest,
} from './content-stream.ts';

const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const text = (data: Uint8Array): string => String.fromCharCode(...data);

async function* from(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield await Promise.resolve(bytes(part));
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += text(chunk);
  return out;
}

const file = (path: string, size: number): ContentRequest => ({ path, digest: path, size });

describe('content stream', () => {
  it('encodes files back to back: missing ones as one byte, changed ones cut or padded', async () => {
    const sources: Record<string, () => AsyncGenerator<Uint8Array>> = {
      same: () => from('ab', 'c'),
      grown: () => from('abcdef'),
      shrunk: () => from('a'),
      failing: async function* () {
        yield await Promise.resolve(bytes('x'));
        throw new Error('disk error');
      },
      gone: async function* () {
        yield* [];
        throw new Error('ENOENT');
      },
      empty: () => from(),
    };
    const files = [
      file('same', 3),
      file('grown', 3),
      file('shrunk', 3),
      file('failing', 2),
      file('gone', 5),
      file('empty', 0),
    ];
    const stream = encodeContentStream(files, (f) =>
      (sources[f.path] as () => AsyncGenerator<Uint8Array>)(),
    );
    assert.equal(await collect(stream), '\0abc\0abc\0a\0\0\0x\0\x01\0');
  });

  it('reads each file in order, skipping what a consumer left, and checks the end', async () => {
    const reader = new ContentStreamReader(from('\0ab', 'c\x01\0de', 'f\0', 'gh'));
    assert.equal(await collect((await reader.next(3)) ?? from()), 'abc');
    assert.equal(await reader.next(7), undefined);
    await reader.next(3); // left unread
    assert.equal(await collect((await reader.next(2)) ?? from()), 'gh');
    await reader.finish();
  });

  it('refuses a stream that breaks the framing', async () => {
    await assert.rejects(new ContentStreamReader(from('\x07')).next(1), ContentStreamError);
    const short = new ContentStreamReader(from('\0ab'));
    await assert.rejects(collect((await short.next(3)) ?? from()), /ended early/);
    await assert.rejects(new ContentStreamReader(from()).next(0), /ended early/);
    const long = new ContentStreamReader(from('\0ab', 'c'));
    await long.next(2);
    await assert.rejects(long.finish(), /bytes after its last file/);
  });

  it('keeps failing with the error of a source that broke', async () => {
    const reader = new ContentStreamReader(
      (async function* () {
        yield await Promise.resolve(bytes('\0a'));
        throw new Error('connection lost');
      })(),
    );
    await assert.rejects(collect((await reader.next(2)) ?? from()), /connection lost/);
    await assert.rejects(reader.next(1), /connection lost/);
  });

  it('meters files and content bytes across any chunking', () => {
    const meter = new ContentStreamMeter([3, 0, 2, 4]);
    const stream = '\0abc\0\x01\0wxyz';
    const seen = [...stream].map((c) => meter.feed(bytes(c)));
    const total = seen.reduce(
      (t, d) => ({
        present: t.present + d.present,
        missing: t.missing + d.missing,
        bytes: t.bytes + d.bytes,
        covered: t.covered + d.covered,
      }),
      { present: 0, missing: 0, bytes: 0, covered: 0 },
    );
    assert.deepEqual(total, { present: 3, missing: 1, bytes: 7, covered: 9 });
    // 'c' completes the first
    assert.deepEqual(seen[3], { present: 1, missing: 0, bytes: 1, covered: 1 });
  });
});
