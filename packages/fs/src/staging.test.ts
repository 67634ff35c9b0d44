import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { DIRECTORY, type Change, type FileEntry } from '@ksync/core';
import { digestBytes } from './hash.ts';
import { openLocalEndpoint } from './local-endpoint.ts';
import { STAGING_DIR } from './staging.ts';
import { listTree, withTempDir, writeTree } from './test-helpers.ts';

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield await Promise.resolve(Buffer.from(part));
}

describe('stageContent', () => {
  it('rejects content that does not match its digest or size and keeps nothing', async () => {
    await withTempDir(async (root) => {
      const endpoint = openLocalEndpoint({ root, watch: false });
      try {
        const digest = digestBytes('right');
        await assert.rejects(
          endpoint.stageContent({ digest, size: 5, chunks: chunks('wrong') }),
          /did not match its digest/,
        );
        await assert.rejects(
          endpoint.stageContent({ digest, size: 5, chunks: chunks('right', '!') }),
          /longer than 5 bytes/,
        );
        await assert.rejects(
          endpoint.stageContent({ digest, size: 6, chunks: chunks('right') }),
          /has 5 bytes, expected 6/,
        );
        await assert.rejects(
          endpoint.stageContent({ digest: '../../etc/passwd', size: 1, chunks: chunks('x') }),
          /invalid content digest/,
        );
        const failing = (async function* () {
          yield await Promise.resolve(Buffer.from('ri'));
          throw new Error('connection lost');
        })();
        await assert.rejects(
          endpoint.stageContent({ digest, size: 5, chunks: failing }),
          /connection lost/,
        );
        assert.deepEqual(await readdir(`${root}/${STAGING_DIR}`), []);
        assert.deepEqual(await endpoint.missingContent([digest]), [digest]);
        await endpoint.stageContent({ digest, size: 5, chunks: chunks('ri', 'ght') });
        assert.deepEqual(await endpoint.missingContent([digest]), []);
      } finally {
        await endpoint.close();
      }
      assert.deepEqual(await readdir(root), []); // close removes the staging directory
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

  it('stages, applies and reads back a large file in bounded memory', async () => {
    // 256 MiB by default to keep the unit suite quick; KSYNC_BIG_FILE_MIB=1024 runs the 1 GiB case.
    const size = Number(process.env.KSYNC_BIG_FILE_MIB ?? 256) * 1024 * 1024;
    const block = randomBytes(1024 * 1024);
    async function* big(): AsyncGenerator<Uint8Array> {
      for (let sent = 0; sent < size; sent += block.length) {
        // A fresh view per chunk, as a network stream would deliver.
        yield await Promise.resolve(Buffer.from(block));
      }
    }
    const hash = createHash('sha256');
    for await (const chunk of big()) hash.update(chunk);
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
        await endpoint.stageContent({ digest, size, chunks: big() });
        const stageMs = performance.now() - started;
        const entry: FileEntry = { kind: 'file', digest, executable: false, size };
        const change: Change = { path: 'big', old: undefined, new: entry };
        const result = await endpoint.apply([change]);
        assert.deepEqual(result.problems, []);
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
          `big file ${size / 1024 / 1024} MiB: stage ${stageMs.toFixed(0)} ms, read ${readMs.toFixed(0)} ms, ` +
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
      // The child updates 300 files and creates 300 more, all from one staged blob, so all but
      // the last are verified copies (slow enough to be killed in the middle).
      const script = `
        import { openLocalEndpoint } from ${JSON.stringify(endpointUrl)};
        import { createHash } from 'node:crypto';
        const root = ${JSON.stringify(root)};
        const content = Buffer.from('N'.repeat(1024 * 1024));
        const digest = createHash('sha256').update(content).digest('hex');
        const endpoint = openLocalEndpoint({ root, watch: false });
        const { snapshot } = await endpoint.scan({ full: true });
        await endpoint.stageContent({ digest, size: content.length, chunks: (async function* () { yield content; })() });
        const entry = { kind: 'file', digest, executable: false, size: content.length };
        const changes = [];
        for (let i = 0; i < ${count}; i++) {
          changes.push({ path: 'd/u' + i, old: snapshot.get('d/u' + i), new: entry });
          changes.push({ path: 'd/c' + i, old: undefined, new: entry });
        }
        process.stdout.write('applying\\n');
        await endpoint.apply(changes);
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
