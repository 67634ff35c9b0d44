/**
 * Bad input gives one line on stderr, exit code 1 and no stack trace: missing local dir, bad URL,
 * bad mode (all reported together), unknown sync, unreachable agent, bad flags and durations.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from './helpers/agent-process.ts';
import {
  makeCliFixture,
  runKsync,
  type CliFixture,
  type CliResult,
} from './helpers/cli-process.ts';

function assertUserError(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.match(lines[0] ?? '', /^error: /);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(result.stdout, '');
}

describe('ksync CLI errors', () => {
  let f: CliFixture;
  let url: string;

  before(async () => {
    f = await makeCliFixture();
    await mkdir(join(f.local, 'sub'));
    url = `ws://127.0.0.1:${await freePort()}`; // nobody listens there
  });
  after(() => f.cleanup());

  it('a missing local dir', async () => {
    const r = await f.ksync(['create', ...f.direct(url), 'nope', '/app']);
    assertUserError(r, /local directory nope does not exist; create it first/);
  });

  it('a bad URL', async () => {
    const r = await f.ksync(['create', ...f.direct('http://x:1'), 'local', '/app']);
    assertUserError(r, /agent URL "http:\/\/x:1" must start with ws:\/\/ or wss:\/\//);
  });

  it('a bad mode', async () => {
    const r = await f.ksync(['create', '-m', 'sideways', ...f.direct(url), 'local', '/app']);
    assertUserError(r, /unknown sync mode "sideways"; use one of: two-way, two-way-safe/);
  });

  it('every problem at once', async () => {
    const r = await f.ksync([
      'create',
      '-m',
      'sideways',
      '--direct',
      'nope',
      '--token-file',
      'missing',
      'gone',
      'app',
    ]);
    assertUserError(
      r,
      /remote path "app" must be absolute.*not a URL.*unknown sync mode.*does not exist.*token file .* does not exist/,
    );
  });

  it('an unreachable agent', async () => {
    const r = await f.ksync(['create', ...f.direct(url), 'local', '/app']);
    assertUserError(r, new RegExp(`127\\.0\\.0\\.1`));
    assert.equal((await f.ok(['get', '-o', 'json'])).stdout.trim(), '[]', 'nothing was created');
  });

  it('an unknown sync', async () => {
    for (const args of [
      ['get', 'nosuch'],
      ['flush', 'nosuch'],
      ['pause', 'nosuch'],
      ['delete', 'nosuch'],
      ['resolve', 'nosuch', 'a', '--keep', 'local'],
    ]) {
      assertUserError(await f.ksync(args), /no sync named "nosuch"; list them with: ksync get/);
    }
  });

  it('a created sync whose agent is down: flush fails with the reason', async () => {
    await f.ok(['create', '--no-check', ...f.direct(url), 'local', '/app']);
    const r = await f.ksync(['flush', 'local', '--timeout', '10s']);
    assertUserError(r, /127\.0\.0\.1/);
  });

  it('dangerous and overlapping roots', async () => {
    // The fixture's KSYNC_HOME is <dir>/home: a sync of <dir> would copy its own state.
    assertUserError(
      await f.ksync(['create', '--no-check', '--force', ...f.direct(url), f.agent.dir, '/x']),
      /local directory .* contains ksync's own state \(.*\/home\); sync a directory that does not/,
    );
    assertUserError(
      await f.ksync(['create', '--no-check', '--name', 'all', ...f.direct(url), '/', '/x']),
      /local directory \/ is the whole filesystem; sync a project directory, or pass --force/,
    );
    assertUserError(
      await f.ksync(['create', '--no-check', '--name', 'sub', ...f.direct(url), 'local/sub', '/y']),
      /local directory .*\/local\/sub overlaps sync local \(.*\/local\); or pass --force/,
    );
    assertUserError(
      await f.ksync(['create', '--no-check', '--name', 'top', ...f.direct(url), 'local/sub', '/']),
      /remote path \/ overlaps sync local \(\/app on the same agent\)/,
    );
    assert.deepEqual(
      (await f.getAll()).map((v) => v.name),
      ['local'],
      'nothing was created',
    );
    await f.ok([
      'create',
      '--no-check',
      '--force',
      '--name',
      'sub',
      ...f.direct(url),
      'local/sub',
      '/',
    ]);
    await f.ok(['delete', 'sub']);
  });

  it('a KSYNC_HOME too deep for the control socket is a user error', async () => {
    const home = join(f.agent.dir, 'h'.repeat(120));
    for (const args of [['get'], ['watch']]) {
      const r = await runKsync(args, { home, cwd: f.agent.dir, timeoutMs: 30_000 });
      assertUserError(
        r,
        /^error: KSYNC_HOME is too deep for ksync's control socket \(.* is \d+ bytes; a unix socket path holds at most 107\): set KSYNC_HOME to a shorter path/,
      );
    }
  });

  it('bad flags, formats and durations', async () => {
    assertUserError(await f.ksync(['get', '-o', 'xml']), /unknown output format "xml"/);
    assertUserError(
      await f.ksync(['flush', 'local', '--timeout', 'soon']),
      /invalid duration "soon"/,
    );
    assertUserError(await f.ksync(['frobnicate']), /unknown command 'frobnicate'/);
    assertUserError(await f.ksync(['create']), /missing required argument/);
    assertUserError(
      await f.ksync(['resolve', 'local', 'a', '--keep', 'both']),
      /argument 'both' is invalid/,
    );
    assertUserError(await f.ksync(['completion', 'fish']), /unsupported shell "fish"/);
  });

  it('version and completion work without state', async () => {
    assert.match((await f.ok(['version'])).stdout, /^ksync \d+\.\d+\.\d+/);
    assert.match((await f.ok(['completion', 'bash'])).stdout, /complete -F _ksync ksync/);
  });
});
