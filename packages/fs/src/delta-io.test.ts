import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import {
  CONTENT_DELTA,
  CONTENT_PRESENT,
  DELTA_MIN_BYTES,
  type Change,
  type Entry,
} from '@ksync/core';
import { openLocalEndpoint, type LocalEndpoint } from './local-endpoint.ts';
import { withTempDir } from './test-helpers.ts';

const SIZE = 8 * 1024 * 1024 + 321;

interface Pair {
  readonly a: LocalEndpoint;
  readonly b: LocalEndpoint;
  readonly dir: string;
}

/** Two roots holding the same big file `big`, then `edit` applied to a's copy. */
async function withPair(
  edit: (content: Buffer) => Buffer,
  body: (pair: Pair, change: Change) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const content = randomBytes(SIZE);
    await writeFile(`${dir}/a-big`, edit(Buffer.from(content)));
    await writeFile(`${dir}/b-big`, content);
    for (const side of ['a', 'b']) {
      await mkdir(`${dir}/${side}`);
      await rename(`${dir}/${side}-big`, `${dir}/${side}/big`);
    }
    const a = openLocalEndpoint({ root: `${dir}/a`, watch: false });
    const b = openLocalEndpoint({ root: `${dir}/b`, watch: false });
    try {
      const [sa, sb] = await Promise.all([a.scan({ full: true }), b.scan({ full: true })]);
      const change: Change = {
        path: 'big',
        old: sb.snapshot.get('big'),
        new: sa.snapshot.get('big'),
      };
      await body({ a, b, dir }, change);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
}

async function* counted(
  stream: AsyncIterable<Uint8Array>,
  count: { bytes: number },
): AsyncGenerator<Uint8Array> {
  for await (const chunk of stream) {
    count.bytes += chunk.length;
    yield chunk;
  }
}

async function signAndSend(
  { a, b }: Pair,
  change: Change,
): Promise<{ bytes: number; signature: number; problems: number; applied: number }> {
  const old = change.old as Extract<Entry, { kind: 'file' }>;
  const next = change.new as Extract<Entry, { kind: 'file' }>;
  const [base] = await b.readSignatures([{ path: 'big', digest: old.digest, size: old.size }]);
  assert.ok(base !== undefined, 'b signs its unchanged file');
  const count = { bytes: 0 };
  const stream = counted(
    a.readContents([{ path: 'big', digest: next.digest, size: next.size, base }]),
    count,
  );
  const result = await b.apply([change], { indexes: [0], stream });
  return {
    bytes: count.bytes,
    signature: base.length,
    problems: result.problems.length,
    applied: result.applied.length,
  };
}

describe('block deltas between two roots', () => {
  it('sends one block for one changed byte, and the rebuilt file lands verified', async () => {
    await withPair(
      (c) => {
        c[5_000_000] = (c[5_000_000] ?? 0) ^ 1;
        return c;
      },
      async (pair, change) => {
        const sent = await signAndSend(pair, change);
        assert.deepEqual([sent.applied, sent.problems], [1, 0]);
        assert.ok(sent.bytes < 64 * 1024, `${sent.bytes} bytes for one changed byte`);
        assert.ok(sent.signature < 64 * 1024, `${sent.signature} signature bytes`);
        assert.deepEqual(await readFile(`${pair.dir}/b/big`), await readFile(`${pair.dir}/a/big`));
      },
    );
  });

  it('rebuilds after an insertion that shifts everything behind it', async () => {
    await withPair(
      (c) => Buffer.concat([c.subarray(0, 1000), Buffer.from('inserted'), c.subarray(1000)]),
      async (pair, change) => {
        const sent = await signAndSend(pair, change);
        assert.deepEqual([sent.applied, sent.problems], [1, 0]);
        assert.ok(sent.bytes < 64 * 1024, `${sent.bytes} bytes for an insertion`);
        assert.deepEqual(await readFile(`${pair.dir}/b/big`), await readFile(`${pair.dir}/a/big`));
      },
    );
  });

  it('never overwrites an edit made to the base after it was signed', async () => {
    await withPair(
      (c) => {
        c[10] = (c[10] ?? 0) ^ 1;
        return c;
      },
      async (pair, change) => {
        const old = change.old as Extract<Entry, { kind: 'file' }>;
        const next = change.new as Extract<Entry, { kind: 'file' }>;
        const [base] = await pair.b.readSignatures([
          { path: 'big', digest: old.digest, size: old.size },
        ]);
        const edited = randomBytes(SIZE);
        await writeFile(`${pair.dir}/b/big`, edited);
        const result = await pair.b.apply([change], {
          indexes: [0],
          stream: pair.a.readContents([
            { path: 'big', digest: next.digest, size: next.size, ...(base ? { base } : {}) },
          ]),
        });
        assert.equal(result.applied.length, 0);
        assert.equal(result.problems.length, 1);
        assert.deepEqual(await readFile(`${pair.dir}/b/big`), edited);
        // Once rescanned, the edited file is not signed as the old content either.
        const [again] = await pair.b.readSignatures([
          { path: 'big', digest: old.digest, size: old.size },
        ]);
        assert.equal(again, undefined);
      },
    );
  });

  it('refuses hostile instructions without touching the file, and goes on with the next one', async () => {
    await withPair(
      (c) => c,
      async (pair, change) => {
        const old = change.old as Extract<Entry, { kind: 'file' }>;
        const hostile: Change = { path: 'big', old, new: { ...old, digest: 'f'.repeat(64) } };
        const small: Change = {
          path: 'small',
          old: undefined,
          new: {
            kind: 'file',
            digest: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
            size: 3,
            executable: false,
          },
        };
        const copyPastEnd = Uint8Array.of(1, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0x10, 0);
        const segment = Uint8Array.of(0, 0, 0, copyPastEnd.length);
        async function* stream(): AsyncGenerator<Uint8Array> {
          yield Uint8Array.of(CONTENT_DELTA);
          yield segment;
          yield await Promise.resolve(copyPastEnd);
          yield Uint8Array.of(0, 0, 0, 0, CONTENT_PRESENT);
          yield Buffer.from('abc');
        }
        const before = await readFile(`${pair.dir}/b/big`);
        const result = await pair.b.apply([hostile, small], { indexes: [0, 1], stream: stream() });
        assert.deepEqual(
          result.applied.map((c) => c.path),
          ['small'],
        );
        assert.match(result.problems[0]?.message ?? '', /outside/);
        assert.deepEqual(await readFile(`${pair.dir}/b/big`), before);
        assert.equal(await readFile(`${pair.dir}/b/small`, 'utf8'), 'abc');
      },
    );
  });

  it('signs nothing too small for a delta, or changed since its scan', async () => {
    await withTempDir(async (dir) => {
      await writeFile(`${dir}/small`, 'x');
      const side = openLocalEndpoint({ root: dir, watch: false });
      try {
        const scan = await side.scan({ full: true });
        const entry = scan.snapshot.get('small') as Extract<Entry, { kind: 'file' }>;
        assert.equal(entry.size < DELTA_MIN_BYTES, true);
        assert.deepEqual(
          await side.readSignatures([{ path: 'small', digest: entry.digest, size: 1 }]),
          [undefined],
        );
      } finally {
        await side.close();
      }
    });
  });
});
