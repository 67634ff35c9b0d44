/**
 * Output longer than a pipe's buffer arrives whole: a piped `ksync conflicts -o json` of 1,500
 * conflicts (several hundred KiB) parses, with every row. The CLI used to exit before a pipe took
 * the rest, cutting the JSON at a 64 KiB boundary.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCliAgentFixture, type CliAgentFixture } from './helpers/cli-process.ts';

const FILES = 1500;

describe('long output through a pipe', () => {
  let f: CliAgentFixture;

  before(async () => {
    f = await makeCliAgentFixture();
    for (let i = 0; i < FILES; i++) {
      const name = `conflict-${String(i).padStart(4, '0')}-with-a-longer-name-than-most.txt`;
      await writeFile(join(f.local, name), `local ${i}\n`);
      await writeFile(join(f.remote, name), `remote ${i}\n`);
    }
    await f.createLocal();
    // Every file differs on both sides with no ancestor: 1,500 conflicts (warnings: the local
    // versions are kept, the remote ones saved).
    await f.ok(['flush', 'local', '--timeout', '60s']);
  });
  after(() => f.cleanup());

  it('conflicts -o json of 1,500 rows arrives whole', async () => {
    const { stdout } = await f.ok(['conflicts', '-o', 'json']);
    assert.ok(stdout.length > 4 * 65_536, `${stdout.length} bytes, more than four pipe buffers`);
    const rows = JSON.parse(stdout) as { path: string }[];
    assert.equal(rows.length, FILES);
    assert.equal(new Set(rows.map((r) => r.path)).size, FILES);
  });
});
