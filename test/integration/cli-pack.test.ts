/**
 * The published package works outside the workspace: `npm pack` (which builds dist/) and
 * `npm install -g --prefix TMP` of the tarball give a `ksync` and a `ksync-agent` that sync.
 * Needs the npm registry for the package's dependencies, as `make setup` does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from './helpers/agent-process.ts';
import { makeCliFixture, runKsync, type CliFixture } from './helpers/cli-process.ts';

describe('npm pack + npm install -g of the ksync package', () => {
  let dir: string;
  let f: CliFixture;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ksync-pack-'));
    f = await makeCliFixture();
  });
  after(async () => {
    await f.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('installs working ksync and ksync-agent binaries', async () => {
    const pack = spawnSync('npm', ['pack', '--pack-destination', dir], {
      cwd: join(REPO, 'packages/cli'),
      encoding: 'utf8',
      timeout: 180_000,
    });
    assert.equal(pack.status, 0, pack.stderr);
    const tarball = join(dir, pack.stdout.trim().split('\n').pop() ?? '');
    const prefix = join(dir, 'prefix');
    const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, tarball], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(install.status, 0, install.stderr);
    const bin = join(prefix, 'bin', 'ksync');
    const version = spawnSync(bin, ['version'], { encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^ksync \d+\.\d+\.\d+/);

    // The installed binaries, not the checkout's, sync with each other.
    const agent = await f.agent.start({ command: [join(prefix, 'bin', 'ksync-agent')] });
    const remote = join(f.agent.root, 'app');
    await mkdir(remote);
    await writeFile(join(f.local, 'packed.txt'), 'from the installed cli\n');
    const env = { ...process.env, KSYNC_HOME: f.home, NO_COLOR: '1' };
    const create = spawnSync(bin, ['create', ...f.direct(agent.url), f.local, '/app'], {
      encoding: 'utf8',
      env,
    });
    assert.equal(create.status, 0, create.stderr);
    const flush = spawnSync(bin, ['flush', 'local', '--timeout', '30s'], { encoding: 'utf8', env });
    assert.equal(flush.status, 0, flush.stderr);
    assert.equal(await readFile(join(remote, 'packed.txt'), 'utf8'), 'from the installed cli\n');
    // And the checkout's launcher reads the same state.
    const get = await runKsync(['get', '-o', 'json'], {
      home: f.home,
      cwd: dir,
      timeoutMs: 30_000,
    });
    assert.match(get.stdout, /"name": "local"/);
  });
});
