/**
 * A conflict that cannot land (issue: recorded again every cycle, and the container lost its
 * unsynced edit without getting the local file). Local has a file `m`; the container has a
 * directory `m` holding an unsynced edit and something the scan cannot sync (an ignored file; a
 * socket). Real `bin/ksync watch --daemon` against a real agent, in the default two-way mode:
 * the conflict is recorded once as blocked, touches nothing on either side, and the sync settles.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCliAgentFixture, type CliAgentFixture } from './helpers/cli-process.ts';

interface ConflictView {
  readonly path: string;
  readonly state: string;
}

describe('a conflict that cannot land', () => {
  let f: CliAgentFixture;
  let socket: Server;

  before(async () => {
    f = await makeCliAgentFixture();
    await writeFile(join(f.local, 'm'), 'local file\n');
    await writeFile(join(f.local, 'n'), 'local file n\n');
    await mkdir(join(f.remote, 'm'));
    await writeFile(join(f.remote, 'm', 'a'), 'unsynced container edit\n');
    await writeFile(join(f.remote, 'm', 'x.log'), 'ignored\n');
    await mkdir(join(f.remote, 'n'));
    await writeFile(join(f.remote, 'n', 'b'), 'unsynced container edit n\n');
    socket = createServer();
    await new Promise<void>((resolve) => socket.listen(join(f.remote, 'n', 'sock'), resolve));
    await f.createLocal(['--ignore', '*.log']);
    await f.ok(['watch', '--daemon']);
  });

  after(async () => {
    socket.close();
    await f.cleanup();
  });

  it('is recorded once as blocked, changes nothing, and the sync settles', async () => {
    // It settles, but the socket can never be synced: flush says so and fails.
    for (let i = 0; i < 2; i++) {
      const flushed = await f.ksync(['flush', 'local', '--timeout', '60s']);
      assert.equal(flushed.code, 1, flushed.stderr);
      assert.match(
        flushed.stderr,
        /remote n\/sock: special file \(FIFO, socket or device\); not synced/,
      );
    }
    const conflicts = JSON.parse(
      (await f.ok(['conflicts', 'local', '-o', 'json'])).stdout,
    ) as ConflictView[];
    assert.deepEqual(conflicts.map((c) => [c.path, c.state]).sort(), [
      ['m', 'blocked'],
      ['n', 'blocked'],
    ]);
    assert.equal(await readFile(join(f.remote, 'm', 'a'), 'utf8'), 'unsynced container edit\n');
    assert.equal(await readFile(join(f.remote, 'm', 'x.log'), 'utf8'), 'ignored\n');
    assert.equal(await readFile(join(f.remote, 'n', 'b'), 'utf8'), 'unsynced container edit n\n');
    assert.equal((await stat(join(f.remote, 'n', 'sock'))).isSocket(), true);
    assert.equal(await readFile(join(f.local, 'm'), 'utf8'), 'local file\n');
    assert.equal(await readFile(join(f.local, 'n'), 'utf8'), 'local file n\n');
    const view = await f.get('local');
    assert.equal(view.conflicts, 2);
  });

  it('resolving for the remote brings the container version down', async () => {
    await f.ok(['resolve', 'local', 'm', '--keep', 'remote']);
    await rm(join(f.remote, 'n', 'sock'));
    await f.ok(['flush', 'local', '--timeout', '60s']);
    assert.equal(await readFile(join(f.local, 'm', 'a'), 'utf8'), 'unsynced container edit\n');
    assert.equal(await readFile(join(f.remote, 'm', 'a'), 'utf8'), 'unsynced container edit\n');
    const conflicts = JSON.parse(
      (await f.ok(['conflicts', 'local', '-o', 'json'])).stdout,
    ) as ConflictView[];
    assert.deepEqual(
      conflicts.map((c) => c.path),
      ['n'],
    );
  });
});
