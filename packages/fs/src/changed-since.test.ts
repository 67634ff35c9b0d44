import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, lstat, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { openLocalEndpoint } from './local-endpoint.ts';
import { sleep, withTempDir, writeTree } from './test-helpers.ts';

describe('readChangedSince (paths changed since a container started)', () => {
  it('finds written, chmodded and back-dated files by ctime, outside the skipped subtrees', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      await writeTree(root, {
        written: 'a',
        chmodded: 'b',
        backdated: 'c',
        untouched: 'd',
        sub: { kept: 'e' },
        vol: { x: 'f' },
      });
      const endpoint = openLocalEndpoint({ root });
      try {
        await endpoint.scan({ full: true });
        // The moment, as a file's ctime (the kernel's clock, as the agent's start time is).
        await sleep(30);
        await writeFile(`${dir}/moment`, '');
        const sinceNs = (await lstat(`${dir}/moment`, { bigint: true })).ctimeNs;
        await writeFile(`${root}/written`, 'A');
        await chmod(`${root}/chmodded`, 0o755);
        execFileSync('touch', ['-d', '2001-01-01 00:00', `${root}/backdated`]);
        await writeFile(`${root}/vol/x`, 'F');
        await writeFile(`${root}/sub/new`, 'n');
        const before = await endpoint.readChangedSince({
          sinceNs,
          skip: ['vol'],
          maxPaths: 100,
          maxBytes: 10_000,
        });
        // The last scan's ctimes: nothing it saw had changed yet.
        assert.deepEqual(before, { paths: [], truncated: false });
        await endpoint.scan({ full: true });
        const bounds = { sinceNs, skip: ['vol'], maxPaths: 100, maxBytes: 10_000 };
        const after = await endpoint.readChangedSince(bounds);
        assert.equal(after.truncated, false);
        // `touch -d` set an old mtime, but its ctime moved; sub changed by the new file in it.
        assert.deepEqual(after.paths.sort(), [
          'backdated',
          'chmodded',
          'sub',
          'sub/new',
          'written',
        ]);
        const cut = await endpoint.readChangedSince({ ...bounds, maxPaths: 2 });
        assert.deepEqual([cut.paths.length, cut.truncated], [2, true]);
        const tight = await endpoint.readChangedSince({ ...bounds, maxBytes: 12 });
        assert.equal(tight.truncated, true);
        assert.ok(tight.paths.join('').length <= 12);
      } finally {
        await endpoint.close();
      }
    });
  });
});
