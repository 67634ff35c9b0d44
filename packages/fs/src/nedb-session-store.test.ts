import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Datastore from 'nedb-promises';
import { DIRECTORY, type Conflict, type Entry } from '@ksync/core';
import { openSessionStore } from './nedb-session-store.ts';
import { withTempDir } from './test-helpers.ts';

const file = (digest: string): Entry => ({ kind: 'file', digest, executable: false, size: 1 });

describe('openSessionStore', () => {
  it('persists ancestor updates and removals across reopen', async () => {
    await withTempDir(async (dir) => {
      const store = await openSessionStore(dir);
      assert.equal((await store.loadAncestor()).size, 0);
      await store.updateAncestor([
        { path: '', entry: DIRECTORY },
        { path: 'a', entry: file('1') },
        { path: 'd', entry: DIRECTORY },
        { path: 'd/l', entry: { kind: 'symlink', target: '../a' } },
      ]);
      await store.updateAncestor([
        { path: 'a', entry: file('2') },
        { path: 'd/l', entry: undefined },
        { path: 'b', entry: file('3') },
        { path: 'b', entry: file('4') },
      ]);
      const reopened = await openSessionStore(dir);
      assert.deepEqual(Object.fromEntries(await reopened.loadAncestor()), {
        '': DIRECTORY,
        a: file('2'),
        d: DIRECTORY,
        b: file('4'),
      });
      await reopened.clearAncestor();
      assert.equal((await (await openSessionStore(dir)).loadAncestor()).size, 0);
    });
  });

  it('keeps conflicts by id', async () => {
    await withTempDir(async (dir) => {
      const store = await openSessionStore(dir);
      const conflict: Conflict = {
        id: 'c1',
        path: 'x',
        ancestor: undefined,
        local: file('1'),
        remote: file('2'),
        state: 'blocked',
        detectedAt: 5,
        kept: [],
      };
      await store.saveConflict(conflict);
      await store.saveConflict({ ...conflict, state: 'local-kept' });
      await store.saveConflict({ ...conflict, id: 'c0', detectedAt: 1 });
      assert.deepEqual(
        (await (await openSessionStore(dir)).loadConflicts()).map((c) => [c.id, c.state]),
        [
          ['c0', 'blocked'],
          ['c1', 'local-kept'],
        ],
      );
      await store.removeConflict('c0');
      assert.deepEqual(
        (await store.loadConflicts()).map((c) => c.id),
        ['c1'],
      );
    });
  });

  it('reads an ancestor.db written by an older version once, then keeps it in its own files', async () => {
    await withTempDir(async (dir) => {
      const legacy = Datastore.create({ filename: join(dir, 'ancestor.db') });
      await legacy.insert([
        { _id: '/', entry: DIRECTORY },
        { _id: 'a', entry: file('1') },
      ]);
      // The last append was torn by a crash: nedb drops it, which only makes the ancestor older.
      await appendFile(join(dir, 'ancestor.db'), '{"_id":"b","entry":{"kind":"fi');
      const store = await openSessionStore(dir);
      assert.deepEqual(Object.fromEntries(await store.loadAncestor()), {
        '': DIRECTORY,
        a: file('1'),
      });
      await assert.rejects(stat(join(dir, 'ancestor.db')), { code: 'ENOENT' });
      await store.updateAncestor([{ path: 'c', entry: file('3') }]);
      assert.deepEqual(Object.fromEntries(await (await openSessionStore(dir)).loadAncestor()), {
        '': DIRECTORY,
        a: file('1'),
        c: file('3'),
      });
    });
  });

  it('reloads a 100k-entry ancestor whole, and updates one entry of it', async () => {
    await withTempDir(async (dir) => {
      const store = await openSessionStore(dir);
      const updates: { path: string; entry: Entry }[] = [{ path: '', entry: DIRECTORY }];
      for (let d = 0; d < 1000; d++) {
        updates.push({ path: `d${d}`, entry: DIRECTORY });
        for (let f = 0; f < 100; f++) {
          updates.push({ path: `d${d}/f${f}`, entry: file(`${d}-${f}`.padEnd(64, '0')) });
        }
      }
      await store.updateAncestor(updates);
      const reopened = await openSessionStore(dir);
      const ancestor = await reopened.loadAncestor();
      assert.equal(ancestor.size, updates.length);
      assert.deepEqual(ancestor.get('d999/f99'), file('999-99'.padEnd(64, '0')));
      await reopened.updateAncestor([{ path: 'd0/f0', entry: file('x'.repeat(64)) }]);
      const again = await (await openSessionStore(dir)).loadAncestor();
      assert.equal(again.size, updates.length);
      assert.deepEqual(again.get('d0/f0'), file('x'.repeat(64)));
    });
  });
});
