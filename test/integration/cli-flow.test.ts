/**
 * The CLI driven as a user would: real `bin/ksync` processes with a temp KSYNC_HOME against a
 * real `bin/ksync-agent`. One flow: create, watch --daemon, edits both ways, get, flush,
 * pause/conflict/resume, conflicts, resolve, a create during watch, delete and stop.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitUntil } from './helpers/agent-process.ts';
import {
  alive,
  daemonPid,
  hasContent,
  makeCliAgentFixture,
  readTree,
  type CliAgentFixture,
} from './helpers/cli-process.ts';

describe('ksync CLI against a real agent', () => {
  let f: CliAgentFixture;
  let remote: string;

  before(async () => {
    f = await makeCliAgentFixture();
    remote = f.remote;
    await writeFile(join(f.local, 'hello.txt'), 'hello from local\n');
    await writeFile(join(remote, 'server.txt'), 'hello from remote\n');
    // The local side ignores build/ (and keeps that rule to itself, so the remote never reads
    // it): the remote's build/ is never scanned, offered or reported all the same.
    await writeFile(join(f.local, '.ksyncignore'), 'build/\n.ksyncignore\n');
    await mkdir(join(remote, 'build'));
    await writeFile(join(remote, 'build', 'x'), 'remote build output\n');
  });

  after(() => f.cleanup());

  it('create records a spec, stopped until a watch runs', async () => {
    const created = await f.createLocal(['--ignore', '*.log']);
    assert.match(created.stdout, /^created sync local: /);
    const [view] = await f.getAll();
    assert.equal(view?.name, 'local');
    assert.equal(view?.state, 'stopped');
    const dup = await f.ksync(['create', ...f.direct(f.server.url), 'local', '/app']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /^error: a sync named "local" already exists/);
    // With no watch, concurrent commands take turns on the home lock; every create lands.
    const names = ['p1', 'p2', 'p3'];
    await Promise.all(
      names.map(async (name) => {
        await mkdir(join(f.agent.dir, name));
        await f.ok([
          'create',
          '--no-check',
          '--name',
          name,
          ...f.direct(f.server.url),
          join(f.agent.dir, name),
          `/${name}`,
        ]);
      }),
    );
    assert.deepEqual(
      (await f.getAll()).map((v) => v.name),
      ['local', ...names],
    );
    await f.ok(['delete', ...names]);
  });

  it('watch --daemon syncs both ways and get shows it watching', async () => {
    const started = await f.ok(['watch', '--daemon']);
    assert.match(started.stdout, /running in the background \(pid \d+\)/);
    await waitUntil(
      () => hasContent(join(remote, 'hello.txt'), 'hello from local\n'),
      20_000,
      'local → remote',
    );
    await waitUntil(
      () => hasContent(join(f.local, 'server.txt'), 'hello from remote\n'),
      20_000,
      'remote → local',
    );
    await waitUntil(async () => (await f.get('local')).state === 'watching', 20_000, 'watching');

    await writeFile(join(f.local, 'edit.txt'), 'local edit\n');
    await writeFile(join(f.local, 'debug.log'), 'ignored\n');
    await waitUntil(
      () => hasContent(join(remote, 'edit.txt'), 'local edit\n'),
      20_000,
      'local edit',
    );
    await writeFile(join(remote, 'edit.txt'), 'remote edit\n');
    await waitUntil(
      () => hasContent(join(f.local, 'edit.txt'), 'remote edit\n'),
      20_000,
      'remote edit',
    );

    const flushed = await f.ok(['flush', 'local', '--timeout', '30s']);
    assert.match(flushed.stdout, /local is in sync/);
    assert.equal(existsSync(join(remote, 'debug.log')), false, 'ignored file stays local');
    assert.equal(existsSync(join(f.local, 'build')), false, 'ignored remote dir stays remote');
    const view = await f.get('local');
    assert.deepEqual(
      view.problems.filter((p) => p.path.startsWith('build')),
      [],
      'no problem for the ignored remote dir',
    );
    assert.equal(view.state, 'watching');
    assert.ok(view.files >= 3);
    assert.ok(view.lastSync !== undefined);
    const table = await f.ok(['get']);
    assert.match(table.stdout, /^NAME\s+STATE\s+LOCAL\s+REMOTE\s+LAST SYNC/);
  });

  it('a conflict made while paused is listed and resolved', async () => {
    await f.ok(['pause', 'local']);
    assert.equal((await f.get('local')).state, 'paused');
    const paused = await f.ksync(['flush', 'local']);
    assert.equal(paused.code, 1);
    assert.match(paused.stderr, /paused; run: ksync resume local/);

    await writeFile(join(f.local, 'edit.txt'), 'local side\n');
    await writeFile(join(remote, 'edit.txt'), 'remote side\n');
    await f.ok(['resume', 'local']);
    await f.ok(['flush', 'local', '--timeout', '30s']);
    const conflicts = JSON.parse((await f.ok(['conflicts', '-o', 'json'])).stdout) as {
      path: string;
      state: string;
    }[];
    assert.deepEqual(
      conflicts.map((c) => [c.path, c.state]),
      [['edit.txt', 'local-kept']],
    );
    assert.equal(await readFile(join(remote, 'edit.txt'), 'utf8'), 'local side\n');
    assert.equal((await f.get('local')).conflicts, 1);

    const resolved = await f.ok(['resolve', 'local', 'edit.txt', '--keep', 'remote']);
    assert.match(resolved.stdout, /kept the remote version/);
    await f.ok(['flush', 'local', '--timeout', '30s']);
    assert.equal(await readFile(join(f.local, 'edit.txt'), 'utf8'), 'remote side\n');
    await waitUntil(
      () => hasContent(join(remote, 'edit.txt'), 'remote side\n'),
      20_000,
      'resolution',
    );
    assert.equal((await f.ok(['conflicts'])).stderr.trim(), 'no conflicts');
    const again = await f.ksync(['resolve', 'local', 'edit.txt', '--keep', 'remote']);
    assert.equal(again.code, 1);
    assert.equal(
      again.stderr,
      'error: sync local has no conflict at edit.txt; list them with: ksync conflicts local\n',
    );
  });

  it('a create during watch loses nothing and starts syncing at once', async () => {
    const second = join(f.agent.dir, 'second');
    await mkdir(second);
    await mkdir(join(f.agent.root, 'srv'));
    await writeFile(join(second, 'two.txt'), 'second sync\n');
    // Several creates through the running watch, interleaved with reads.
    await f.ok(['create', '--name', 'second', ...f.direct(f.server.url), second, '/srv']);
    await f.getAll();
    await waitUntil(
      () => hasContent(join(f.agent.root, 'srv', 'two.txt'), 'second sync\n'),
      20_000,
      'second sync',
    );
    assert.deepEqual(
      (await f.getAll()).map((v) => v.name),
      ['local', 'second'],
    );
    // Concurrent creates from separate processes all land (the watch is the one writer).
    const extra = ['x1', 'x2', 'x3', 'x4'];
    await Promise.all(
      extra.map(async (name) => {
        await mkdir(join(f.agent.dir, name));
        await f.ok([
          'create',
          '--name',
          name,
          ...f.direct(f.server.url),
          join(f.agent.dir, name),
          `/${name}`,
        ]);
      }),
    );
    assert.deepEqual(
      (await f.getAll()).map((v) => v.name),
      ['local', 'second', ...extra],
    );
    await f.ok(['delete', ...extra]);
    // The watch wrote the spec: a restarted watch still has both.
    await f.ok(['stop']);
    assert.deepEqual(
      (await f.getAll()).map((v) => [v.name, v.state]),
      [
        ['local', 'stopped'],
        ['second', 'stopped'],
      ],
    );
    await f.ok(['watch', '--daemon']);
    await waitUntil(
      async () => (await f.getAll()).every((v) => v.state === 'watching'),
      20_000,
      'both watching after restart',
    );
  });

  it('reset and delete', async () => {
    await f.ok(['reset', 'local']);
    await f.ok(['flush', 'local', '--timeout', '30s']);
    assert.equal((await f.ok(['conflicts', 'local', '-o', 'json'])).stdout.trim(), '[]');
    const deleted = await f.ok(['delete', 'second']);
    assert.equal(deleted.stdout, 'deleted sync second\n');
    assert.deepEqual(
      (await f.getAll()).map((v) => v.name),
      ['local'],
    );
    assert.equal(existsSync(join(f.home, 'syncs', 'second')), false);
    assert.equal(await readFile(join(f.agent.root, 'srv', 'two.txt'), 'utf8'), 'second sync\n');
  });

  it('stop ends the daemon and leaves both trees equal', async () => {
    const pid = await daemonPid(f.home);
    assert.ok(pid !== undefined && alive(pid));
    const stopped = await f.ok(['stop']);
    assert.match(stopped.stdout, /stopped ksync watch/);
    assert.equal(alive(pid), false);
    assert.equal(existsSync(join(f.home, 'ksync.sock')), false);
    const localTree = await readTree(f.local);
    localTree.delete('debug.log');
    const remoteTree = await readTree(remote);
    remoteTree.delete('build/x');
    assert.deepEqual(remoteTree, localTree);
  });
});
