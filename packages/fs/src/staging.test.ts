import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { CONTENT_PRESENT, DIRECTORY, type Change, type FileEntry } from '@ksync/core';
import { digestBytes } from './hash.ts';
import { openLocalEndpoint } from './local-endpoint.ts';
import { listTree, withTempDir, writeTree } from './test-helpers.ts';

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield await Promise.resolve(Buffer.from(part));
}

describe('content stream', () => {
  it('refuses content that does not match its digest or size, keeps nothing, and goes on', async () => {
    await withTempDir(async (root) => {
      const endpoint = openLocalEndpoint({ root, watch: false });
      try {
        await endpoint.scan({ full: true });
        const file = (content: string, size = content.length): FileEntry => ({
          kind: 'file',
          digest: digestBytes(content),
          executable: false,
          size,
        });
        const changes: Change[] = [
          { path: '', old: undefined, new: DIRECTORY },
          { path: 'wrong', old: undefined, new: file('right') },
          { path: 'long', old: undefined, new: file('right') },
          { path: 'gone', old: undefined, new: file('gone') },
          { path: 'short', old: undefined, new: file('right', 6) },
          { path: 'ok', old: undefined, new: file('fine') },
        ];
        // The sender reads 'wrong' instead of 'right', sends 'gone' as missing, and is cut to
        // the listed size ('right!' → 'right'; 'right' + a pad byte).
        const stream = chunks('\0wrong', '\0right', '\x01', '\0right\0', '\0fi', 'ne');
        const result = await endpoint.apply(changes, { indexes: [1, 2, 3, 4, 5], stream });
        assert.deepEqual(
          result.problems.map((p) => [p.path, p.message]),
          [
            ['wrong', 'changed on the other side while it was sent; will retry'],
            ['gone', 'the other side could not read it (changed or gone); will retry'],
            ['short', 'changed on the other side while it was sent; will retry'],
          ],
        );
        assert.deepEqual(await listTree(root), ['long', 'ok']);
        assert.equal(await readFile(`${root}/ok`, 'utf8'), 'fine');
      } finally {
        await endpoint.close();
      }
    });
  });

  it('fails the rest of the batch when the stream breaks, keeping what landed', async () => {
    await withTempDir(async (root) => {
      const endpoint = openLocalEndpoint({ root, watch: false });
      try {
        await endpoint.scan({ full: true });
        const file = (content: string): FileEntry => ({
          kind: 'file',
          digest: digestBytes(content),
          executable: false,
          size: content.length,
        });
        const failing = (async function* () {
          yield await Promise.resolve(Buffer.from('\0one\0tw'));
          throw new Error('connection lost');
        })();
        const changes: Change[] = [
          { path: '', old: undefined, new: DIRECTORY },
          { path: 'a', old: undefined, new: file('one') },
          { path: 'b', old: undefined, new: file('two') },
          { path: 'c', old: undefined, new: file('three') },
          { path: 'd', old: undefined, new: DIRECTORY },
        ];
        const result = await endpoint.apply(changes, { indexes: [1, 2, 3], stream: failing });
        assert.deepEqual(
          result.applied.map((c) => c.path),
          ['', 'a', 'd'],
        );
        assert.deepEqual(
          result.problems.map((p) => p.path),
          ['b', 'c'],
        );
        assert.match(result.problems[1]?.message ?? '', /content did not arrive.*connection lost/);
        assert.deepEqual(await listTree(root), ['a', 'd']);
      } finally {
        await endpoint.close();
      }
    });
  });

  it('readContents sends a changed or vanished file as missing, unverified otherwise', async () => {
    await withTempDir(async (root) => {
      await writeFile(`${root}/same`, 'same');
      await writeFile(`${root}/edited`, 'before');
      const endpoint = openLocalEndpoint({ root, watch: false });
      try {
        await endpoint.scan({ full: true });
        await writeFile(`${root}/edited`, 'after!!');
        const parts: Buffer[] = [];
        for await (const chunk of endpoint.readContents([
          { path: 'same', digest: digestBytes('same'), size: 4 },
          { path: 'edited', digest: digestBytes('before'), size: 6 },
          { path: 'nothing', digest: digestBytes('x'), size: 1 },
        ])) {
          parts.push(Buffer.from(chunk));
        }
        assert.equal(Buffer.concat(parts).toString('latin1'), '\0same\x01\x01');
      } finally {
        await endpoint.close();
      }
    });
  });

  it('readContent fails when the file changed since the scan', async () => {
    await withTempDir(async (root) => {
      await writeFile(`${root}/f`, 'before');
      const endpoint = openLocalEndpoint({ root, watch: false });
      try {
        await endpoint.scan({ full: true });
        await writeFile(`${root}/f`, 'after!');
        await assert.rejects(async () => {
          for await (const _ of endpoint.readContent('f', digestBytes('before'))) void _;
        }, /changed since it was scanned/);
      } finally {
        await endpoint.close();
      }
    });
  });

  it('applies a large file from a stream and reads it back in bounded memory', async () => {
    // 256 MiB by default to keep the unit suite quick; KSYNC_BIG_FILE_MIB=1024 runs the 1 GiB case.
    const size = Number(process.env.KSYNC_BIG_FILE_MIB ?? 256) * 1024 * 1024;
    const block = randomBytes(1024 * 1024);
    async function* big(): AsyncGenerator<Uint8Array> {
      yield Uint8Array.of(CONTENT_PRESENT);
      for (let sent = 0; sent < size; sent += block.length) {
        // A fresh view per chunk, as a network stream would deliver.
        yield await Promise.resolve(Buffer.from(block));
      }
    }
    const hash = createHash('sha256');
    for await (const chunk of big()) if (chunk.length > 1) hash.update(chunk);
    const digest = hash.digest('hex');
    await withTempDir(async (root) => {
      const endpoint = openLocalEndpoint({ root, watch: false });
      try {
        await endpoint.scan({ full: true });
        global.gc?.();
        const baseline = process.memoryUsage().rss;
        let peak = baseline;
        const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
        let started = performance.now();
        const entry: FileEntry = { kind: 'file', digest, executable: false, size };
        const change: Change = { path: 'big', old: undefined, new: entry };
        const result = await endpoint.apply([change], { indexes: [0], stream: big() });
        assert.deepEqual(result.problems, []);
        const stageMs = performance.now() - started;
        started = performance.now();
        let read = 0;
        const check = createHash('sha256');
        for await (const chunk of endpoint.readContent('big', digest)) {
          read += chunk.byteLength;
          check.update(chunk);
        }
        const readMs = performance.now() - started;
        clearInterval(sample);
        assert.equal(read, size);
        assert.equal(check.digest('hex'), digest);
        const growthMiB = (peak - baseline) / 1024 / 1024;
        console.log(
          `big file ${size / 1024 / 1024} MiB: apply ${stageMs.toFixed(0)} ms, read ${readMs.toFixed(0)} ms, ` +
            `peak RSS growth ${growthMiB.toFixed(1)} MiB`,
        );
        assert.ok(growthMiB < 64, `RSS grew by ${growthMiB.toFixed(1)} MiB`);
      } finally {
        await endpoint.close();
      }
    });
  });
});

describe('crash safety', () => {
  it('leaves every path old or new after SIGKILL mid-apply; the next start cleans temps', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      const count = 300;
      const oldContent = (i: number) => `old ${i} `.repeat(20_000);
      const newContent = 'N'.repeat(1024 * 1024);
      const spec: Record<string, string> = {};
      for (let i = 0; i < count; i++) spec[`u${i}`] = oldContent(i);
      await writeTree(root, { d: spec });
      const endpointUrl = new URL('./local-endpoint.ts', import.meta.url).href;
      // The child updates 300 files and creates 300 more, all with one content that arrives with
      // the first change, so the rest are verified copies (slow enough to be killed midway).
      const script = `
        import { openLocalEndpoint } from ${JSON.stringify(endpointUrl)};
        import { createHash } from 'node:crypto';
        const root = ${JSON.stringify(root)};
        const content = Buffer.from('N'.repeat(1024 * 1024));
        const digest = createHash('sha256').update(content).digest('hex');
        const endpoint = openLocalEndpoint({ root, watch: false });
        const { snapshot } = await endpoint.scan({ full: true });
        const entry = { kind: 'file', digest, executable: false, size: content.length };
        const changes = [];
        for (let i = 0; i < ${count}; i++) {
          changes.push({ path: 'd/u' + i, old: snapshot.get('d/u' + i), new: entry });
          changes.push({ path: 'd/c' + i, old: undefined, new: entry });
        }
        process.stdout.write('applying\\n');
        await endpoint.apply(changes, { indexes: [0], stream: (async function* () { yield Uint8Array.of(0); yield content; })() });
        process.stdout.write('finished\\n');
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        cwd: process.cwd(),
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (data: Buffer) => {
          output += data.toString();
          if (output.includes('applying')) {
            setTimeout(() => child.kill('SIGKILL'), 150);
            resolve();
          }
        });
      });
      await new Promise((resolve) => child.once('exit', resolve));
      assert.ok(!output.includes('finished'), 'the child was killed before finishing');

      let updated = 0;
      let created = 0;
      for (let i = 0; i < count; i++) {
        const u = await readFile(`${root}/d/u${i}`, 'utf8');
        assert.ok(u === oldContent(i) || u === newContent, `d/u${i} is neither old nor new`);
        if (u === newContent) updated++;
        const c = await readFile(`${root}/d/c${i}`, 'utf8').catch(() => undefined);
        assert.ok(c === undefined || c === newContent, `d/c${i} is partial`);
        if (c !== undefined) created++;
      }
      const leftovers = (await listTree(root)).filter((p) => p.includes('.ksync-tmp-'));
      console.log(
        `killed mid-apply: ${updated}/${count} updated, ${created}/${count} created, ` +
          `${leftovers.length} temp names left`,
      );
      assert.ok(updated + created > 0 && updated + created < 2 * count, 'killed in the middle');

      const endpoint = openLocalEndpoint({ root, watch: false });
      try {
        const { snapshot, problems } = await endpoint.scan({ full: false });
        assert.deepEqual(problems, []);
        assert.ok(![...snapshot.keys()].some((p) => p.includes('.ksync-tmp-')));
        assert.deepEqual(
          (await listTree(root)).filter((p) => p.includes('.ksync-tmp-')),
          [],
        );
        assert.equal(snapshot.get('d')?.kind, DIRECTORY.kind);
      } finally {
        await endpoint.close();
      }
    });
  });
});
