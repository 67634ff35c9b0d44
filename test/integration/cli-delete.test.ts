/**
 * `ksync delete` keeps the only saved copy of a conflict's remote version unless forced: it
 * refuses (one line, exit 1, how many saved versions would go) with and without a running watch,
 * and `--force` deletes the sync with its saved versions.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCliAgentFixture, type CliAgentFixture } from './helpers/cli-process.ts';

const REFUSAL =
  /^error: not deleting: unresolved conflicts in local \(1 conflict\), and deleting would also delete 1 saved remote version; review them with: ksync conflicts local, or pass --force\n$/;

describe('ksync delete with unresolved conflicts', () => {
  let f: CliAgentFixture;

  before(async () => {
    f = await makeCliAgentFixture();
    await f.createLocal();
    await writeFile(join(f.local, 'a.txt'), 'local version\n');
    await writeFile(join(f.remote, 'a.txt'), 'remote version\n');
    await f.ok(['flush', 'local', '--timeout', '30s']);
    assert.equal((await f.get('local')).conflicts, 1);
  });
  after(() => f.cleanup());

  it('refuses without a watch, and keeps the sync and its saved version', async () => {
    const refused = await f.ksync(['delete', 'local']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, REFUSAL);
    assert.equal((await f.get('local')).conflicts, 1);
    assert.ok(existsSync(join(f.home, 'conflicts', 'local')));
  });

  it('refuses through a running watch too', async () => {
    await f.ok(['watch', '--daemon']);
    const refused = await f.ksync(['delete', '--all']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, REFUSAL);
    assert.equal((await f.get('local')).conflicts, 1);
  });

  it('--force deletes the sync and its saved versions', async () => {
    const deleted = await f.ok(['delete', 'local', '--force']);
    assert.equal(deleted.stdout, 'deleted sync local\n');
    assert.deepEqual(await f.getAll(), []);
    assert.equal(existsSync(join(f.home, 'conflicts', 'local')), false);
  });
});
