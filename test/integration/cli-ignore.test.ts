/**
 * Ignore rules changed while a watch runs (issue: editing `.ksyncignore` deleted the newly
 * ignored files on the remote). Real `bin/ksync watch --daemon` against a real agent: a rule
 * takes its paths out of the sync on both sides at once, deleting and sending nothing; removing
 * it again merges like a first sync, so the container's newer versions are kept.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitUntil } from './helpers/agent-process.ts';
import { hasContent, makeCliAgentFixture, type CliAgentFixture } from './helpers/cli-process.ts';

describe('ignore rules changed during a watch', () => {
  let f: CliAgentFixture;
  const container: Record<string, string> = {
    'gen/out.txt': 'generated v1\n',
    'server.log': 'log v1\n',
    'node_modules/pkg/build/index.js': 'built\n',
    'node_modules/pkg/index.js': 'pkg\n',
  };

  before(async () => {
    f = await makeCliAgentFixture();
    await writeFile(join(f.local, 'main.js'), 'main\n');
    for (const [path, content] of Object.entries(container)) {
      await mkdir(join(f.remote, path, '..'), { recursive: true });
      await writeFile(join(f.remote, path), content);
    }
    await f.createLocal();
    await f.ok(['watch', '--daemon']);
    await f.ok(['flush', 'local', '--timeout', '60s']);
    for (const [path, content] of Object.entries(container)) {
      assert.equal(await readFile(join(f.local, path), 'utf8'), content, `${path} came down`);
    }
  });

  after(() => f.cleanup());

  it('a new rule deletes nothing on either side and stops syncing those paths', async () => {
    await writeFile(join(f.local, '.ksyncignore'), 'gen/\n*.log\nbuild/\n');
    await waitUntil(
      () => hasContent(join(f.remote, '.ksyncignore'), 'gen/\n*.log\nbuild/\n'),
      20_000,
      'the ignore file reaches the remote',
    );
    await f.ok(['flush', 'local', '--timeout', '60s']);
    for (const [path, content] of Object.entries(container)) {
      assert.equal(await readFile(join(f.remote, path), 'utf8'), content, `remote ${path} kept`);
      assert.equal(await readFile(join(f.local, path), 'utf8'), content, `local ${path} kept`);
    }
    // Ignored paths no longer move in either direction.
    await writeFile(join(f.remote, 'gen/out.txt'), 'generated v2 (container)\n');
    await writeFile(join(f.local, 'server.log'), 'log v2 (local)\n');
    await writeFile(join(f.local, 'main.js'), 'main v2\n');
    await waitUntil(() => hasContent(join(f.remote, 'main.js'), 'main v2\n'), 20_000, 'main.js');
    await f.ok(['flush', 'local', '--timeout', '60s']);
    assert.equal(await readFile(join(f.local, 'gen/out.txt'), 'utf8'), 'generated v1\n');
    assert.equal(await readFile(join(f.remote, 'server.log'), 'utf8'), 'log v1\n');
    const view = await f.get('local');
    assert.equal(view.state, 'watching');
    assert.equal(view.problems.length, 0, JSON.stringify(view.problems));
  });

  it('removing the rule settles and keeps both versions of what differs', async () => {
    await writeFile(join(f.local, '.ksyncignore'), '');
    await f.ok(['flush', 'local', '--timeout', '60s']);
    const view = await f.get('local');
    assert.equal(view.problems.length, 0, JSON.stringify(view.problems));
    // Both sides agree again, and each differing file is a conflict that kept the other version.
    for (const path of ['gen/out.txt', 'server.log']) {
      assert.equal(
        await readFile(join(f.local, path), 'utf8'),
        await readFile(join(f.remote, path), 'utf8'),
        path,
      );
    }
    const listed = await f.ok(['conflicts', 'local', '-o', 'json']);
    const conflicts = JSON.parse(listed.stdout) as { path: string }[];
    assert.deepEqual(conflicts.map((c) => c.path).sort(), ['gen/out.txt', 'server.log']);
    // The untouched ignored tree is unchanged on both sides.
    for (const path of ['node_modules/pkg/build/index.js', 'node_modules/pkg/index.js']) {
      assert.equal(await readFile(join(f.remote, path), 'utf8'), container[path]);
    }
  });
});
