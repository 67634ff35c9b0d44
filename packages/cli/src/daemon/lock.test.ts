import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tryLock } from './lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'ksync-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('tryLock', () => {
  it('takes a free lock, refuses a live holder, and releases', () => {
    const path = join(dir, 'a.lock');
    const first = tryLock(path);
    assert.ok('held' in first);
    assert.equal(readFileSync(path, 'utf8').trim(), String(process.pid));
    const second = tryLock(path, 1); // pid 1 is alive; it sees us as the holder
    assert.deepEqual(second, { holder: process.pid });
    first.held.release();
    assert.equal(existsSync(path), false);
  });

  it('takes over a stale lock from a dead pid', () => {
    const path = join(dir, 'b.lock');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    writeFileSync(path, `${dead.stdout.toString()}\n`);
    const attempt = tryLock(path);
    assert.ok('held' in attempt);
    attempt.held.release();
  });
});
