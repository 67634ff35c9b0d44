/**
 * What the CLI says about paths it cannot sync, through the real agent: the state is `problems`,
 * never "in sync"; `get -o wide` and `describe` show each problem's side and text; flush fails
 * naming them; and conflict tables stay one line per row for names with a newline, with a
 * `ksync resolve` suggestion quoted for the shell.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCliAgentFixture, type CliAgentFixture } from './helpers/cli-process.ts';

describe('problems and conflicts as the CLI tells them', () => {
  let f: CliAgentFixture;

  before(async () => {
    f = await makeCliAgentFixture();
    await writeFile(join(f.local, 'ok.txt'), 'ok\n');
    await writeFile(join(f.local, 'back\\slash.txt'), 'a name ksync skips\n');
    execFileSync('mkfifo', [join(f.remote, 'pipe')]);
    for (const name of ['my file.txt', 'new\nline.txt']) {
      await writeFile(join(f.local, name), 'local\n');
      await writeFile(join(f.remote, name), 'remote\n');
    }
    await f.createLocal();
  });
  after(() => f.cleanup());

  it('flush fails naming each problem with its side, and never says in sync', async () => {
    const flush = await f.ksync(['flush', 'local', '--timeout', '30s']);
    assert.equal(flush.code, 1);
    const lines = flush.stderr.trimEnd().split('\n');
    // The two conflicts are warnings, one line each even for the name with a newline.
    assert.deepEqual(lines.slice(0, -1).sort(), [
      'warning: sync local: conflict at my file.txt (local version kept; remote version saved)',
      'warning: sync local: conflict at new\\nline.txt (local version kept; remote version saved)',
    ]);
    assert.match(
      lines.at(-1) ?? '',
      /^error: local is not in sync \(transferred \d+ files, [^)]*\): 2 problems: (local back\\slash\.txt|remote pipe): .+ \(and 1 more\); see: ksync describe local$/,
    );
    assert.doesNotMatch(flush.stdout + flush.stderr, /is in sync/);
  });

  it('get and describe show the problems with their side', async () => {
    await f.ok(['watch', '--daemon']);
    let view = await f.get('local');
    for (let i = 0; i < 100 && view.state !== 'problems'; i++) view = await f.get('local');
    assert.equal(view.state, 'problems');
    assert.deepEqual(view.problems.map((p) => [p.side, p.path]).sort(), [
      ['local', 'back\\slash.txt'],
      ['remote', 'pipe'],
    ]);
    const wide = (await f.ok(['get', '-o', 'wide'])).stdout;
    assert.match(wide, /2 problems: (local|remote) .*; see: ksync describe local\s+-\n$/);
    assert.doesNotMatch(wide, /in sync/);
    const described = (await f.ok(['describe', 'local'])).stdout;
    assert.match(described, /^State:\s+problems: 2 problems/m);
    assert.match(described, /^SIDE\s+PATH\s+PROBLEM$/m);
    assert.match(described, /^local\s+back\\slash\.txt\s+\S.*$/m);
    assert.match(described, /^remote\s+pipe\s+\S.*$/m);
  });

  it('conflicts: one line per row, and a resolve suggestion quoted for the shell', async () => {
    const table = (await f.ok(['conflicts'])).stdout;
    const lines = table.trimEnd().split('\n');
    assert.equal(lines.length, 5, 'header, two rows, a blank line and the hint');
    assert.ok(lines.some((l) => /^local\s+new\\nline\.txt\s+local-kept/.test(l)));
    assert.ok(lines.some((l) => /^local\s+my file\.txt\s+local-kept/.test(l)));
    assert.match(
      lines[4] ?? '',
      /^resolve one with: ksync resolve local ('my file\.txt'|\$'new\\nline\.txt') --keep local\|remote$/,
    );
  });
});
