import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONTENT_DELTA,
  ContentStreamError,
  ContentStreamMeter,
  ContentStreamReader,
  MAX_SEGMENT_BYTES,
  encodeContentStream,
  encodeIncoming,
  type ContentRequest,
} from './content-stream.ts';

const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const text = (data: Uint8Array): string => String.fromCharCode(...data);

async function* from(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts)
    yield await Promise.resolve(typeof part === 'string' ? bytes(part) : part);
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += text(chunk);
  return out;
}

async function all(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

const u32 = (n: number): string =>
  text(Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255));

describe('content stream with deltas', () => {
  const files: ContentRequest[] = [
    { path: 'whole', digest: 'd1', size: 3 },
    { path: 'delta', digest: 'd2', size: 100, base: 'c2ln' },
    { path: 'gone', digest: 'd3', size: 5, base: 'c2ln' },
    { path: 'after', digest: 'd4', size: 2 },
  ];
  const encode = (): AsyncGenerator<Uint8Array> =>
    encodeContentStream(
      files,
      (f) => from(f.path.slice(0, f.size)),
      (f) => {
        assert.equal(f.base, 'c2ln');
        if (f.path === 'gone') throw new Error('ENOENT');
        return from('ins', 'tructions');
      },
    );

  it('frames a delta in segments between whole files and reads it back', async () => {
    const reader = new ContentStreamReader(encode());
    assert.deepEqual(await collect((await reader.nextFile(3))?.chunks ?? from()), 'who');
    const delta = await reader.nextFile(100);
    assert.equal(delta?.delta, true);
    assert.equal(await collect(delta?.chunks ?? from()), 'instructions');
    assert.equal(await reader.nextFile(5), undefined);
    assert.equal(await collect((await reader.next(2)) ?? from()), 'af');
    await reader.finish();
  });

  it('skips a delta left unread, across segment headers split between chunks', async () => {
    const raw = (await all(encode())).flatMap((c) => [...c].map((b) => Uint8Array.of(b)));
    const reader = new ContentStreamReader(from(...raw));
    await reader.nextFile(3);
    await reader.nextFile(100); // left unread
    assert.equal(await reader.nextFile(5), undefined);
    assert.equal(await collect((await reader.next(2)) ?? from()), 'af');
    await reader.finish();
  });

  it('meters deltas by their instruction bytes, however the stream is cut', async () => {
    const raw = await all(encode());
    const joined = Uint8Array.from(raw.flatMap((c) => [...c]));
    for (const cut of [1, 2, 5, joined.length]) {
      const meter = new ContentStreamMeter(files.map((f) => f.size));
      const total = { present: 0, missing: 0, bytes: 0, covered: 0 };
      for (let at = 0; at < joined.length; at += cut) {
        const done = meter.feed(joined.subarray(at, at + cut));
        total.present += done.present;
        total.missing += done.missing;
        total.bytes += done.bytes;
        total.covered += done.covered;
      }
      // Progress covers every size, the delta's and the missing file's included.
      assert.deepEqual(total, {
        present: 3,
        missing: 1,
        bytes: 3 + 12 + 2,
        covered: 3 + 100 + 5 + 2,
      });
    }
  });

  it('re-encodes a file taken from a reader unchanged (the client re-frames per batch)', async () => {
    const reader = new ContentStreamReader(encode());
    const again: Uint8Array[] = [];
    for (const f of files)
      again.push(...(await all(encodeIncoming(await reader.nextFile(f.size)))));
    const second = new ContentStreamReader(from(...again));
    await second.nextFile(3);
    assert.equal(await collect((await second.nextFile(100))?.chunks ?? from()), 'instructions');
  });

  it('refuses a delta where whole content was asked, and oversized segments', async () => {
    const delta = `${String.fromCharCode(CONTENT_DELTA)}${u32(1)}x${u32(0)}`;
    await assert.rejects(new ContentStreamReader(from(delta)).next(1), /unasked delta/);
    const huge = new ContentStreamReader(
      from(`${String.fromCharCode(CONTENT_DELTA)}${u32(MAX_SEGMENT_BYTES + 1)}`),
    );
    const file = await huge.nextFile(1);
    await assert.rejects(collect(file?.chunks ?? from()), ContentStreamError);
    const cut = new ContentStreamReader(from(`${String.fromCharCode(CONTENT_DELTA)}${u32(5)}ab`));
    await assert.rejects(collect((await cut.nextFile(1))?.chunks ?? from()), /ended early/);
  });
});
