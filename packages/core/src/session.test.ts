import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SyncMode } from './mode.ts';
import { Session, type SessionStatus } from './session.ts';
import type { Snapshot } from './snapshot.ts';
import { describeSnapshot, snapshotOf, type SnapshotDescription } from './test-snapshots.ts';
import {
  MemoryConflictStore,
  MemoryEndpoint,
  MemorySessionStore,
  contentOf,
} from './testing/memory.ts';

/** Time moves only when the session sleeps, and each sleep yields one turn of the event loop. */
class TestClock {
  time = 1_700_000_000_000;
  now(): number {
    return this.time;
  }
  async sleep(ms: number): Promise<void> {
    this.time += ms;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function setup(options: {
  local: SnapshotDescription;
  remote: SnapshotDescription;
  mode?: SyncMode;
  deletionBound?: number;
  deletionHoldMs?: number;
  remoteEndpoint?: MemoryEndpoint;
  /** Collects the session's warnings. */
  warnings?: string[];
}) {
  const local = new MemoryEndpoint(snapshotOf(options.local));
  const remote = options.remoteEndpoint ?? new MemoryEndpoint(snapshotOf(options.remote));
  const clock = new TestClock();
  const store = new MemorySessionStore();
  const conflictContent = new MemoryConflictStore();
  const session = await Session.open({
    name: 'test',
    mode: options.mode ?? 'two-way',
    local,
    remote,
    store,
    conflictContent,
    clock,
    ...(options.deletionBound === undefined ? {} : { deletionBound: options.deletionBound }),
    ...(options.deletionHoldMs === undefined ? {} : { deletionHoldMs: options.deletionHoldMs }),
    ...(options.warnings === undefined
      ? {}
      : { log: { info: () => undefined, warn: (m: string) => options.warnings?.push(m) } }),
  });
  return { local, remote, store, conflictContent, session, clock };
}

const view = (s: Snapshot) => describeSnapshot(s);

function digestIn(s: Snapshot, path: string): string {
  const entry = s.get(path);
  assert.ok(entry?.kind === 'file');
  return entry.digest;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A side being emptied file by file: from `start()`, each scan finds one more file deleted. */
class EmptyingEndpoint extends MemoryEndpoint {
  #deleting: string[] = [];
  start(paths: readonly string[]): void {
    this.#deleting = [...paths];
  }
  override async scan(options: Parameters<MemoryEndpoint['scan']>[0]) {
    const next = this.#deleting.shift();
    if (next !== undefined) this.tree.delete(next);
    return super.scan(options);
  }
}

/** An endpoint whose reads send half of a file, then wait for `release` before the rest. */
class SlowReadEndpoint extends MemoryEndpoint {
  release: () => void = () => undefined;
  readonly #gate = new Promise<void>((resolve) => (this.release = resolve));
  override async *readContent(_path: string, digest: string): AsyncIterable<Uint8Array> {
    const bytes = contentOf(digest);
    const half = Math.floor(bytes.length / 2);
    yield bytes.subarray(0, half);
    await this.#gate;
    yield bytes.subarray(half);
  }
}

describe('session', () => {
  it('reports the cycle transfer total and the bytes streamed while a file is in flight', async () => {
    const local = new SlowReadEndpoint(snapshotOf({ big: 'abcdefghij', small: 'xy' }));
    const remote = new MemoryEndpoint(snapshotOf({}));
    const seen: (SessionStatus['transfer'] | undefined)[] = [];
    const session = await Session.open({
      name: 'test',
      mode: 'two-way',
      local,
      remote,
      store: new MemorySessionStore(),
      conflictContent: new MemoryConflictStore(),
      clock: new TestClock(),
      onStatus: (status) => seen.push(status.transfer),
    });
    const flushed = session.flush();
    while (session.status().transfer?.doneBytes !== 5) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Files stream one after another in one content stream: `big` is half sent (5 of 10 bytes).
    assert.deepEqual(session.status().transfer, {
      files: 2,
      bytes: 12,
      doneFiles: 0,
      doneBytes: 5,
    });
    assert.ok(seen.some((t) => t !== undefined && t.doneBytes > 0 && t.doneFiles === 0));
    local.release();
    await flushed;
    assert.ok(seen.some((t) => t?.doneFiles === 2 && t.doneBytes === 12));
    assert.equal(session.status().transfer, undefined, 'only while transferring');
    assert.equal(session.status().transferredBytes, 12);
  });

  it('first sync merges both sides and records the ancestor', async () => {
    const t = await setup({ local: { a: 'x', 'd/b': 'y' }, remote: { c: 'z' } });
    const report = await t.session.flush();
    assert.equal(report.inSync, true);
    const expected = view(snapshotOf({ a: 'x', 'd/b': 'y', c: 'z' }));
    assert.deepEqual(view(t.local.tree), expected);
    assert.deepEqual(view(t.remote.tree), expected);
    assert.deepEqual(view(t.store.ancestor), expected);
    assert.equal(t.session.status().state, 'watching');
    assert.equal(t.session.status().files, 3);
  });

  it('a true conflict keeps local, saves the remote version, and resolve restores it', async () => {
    const t = await setup({ local: { a: 'L' }, remote: { a: 'R' } });
    await t.session.flush();
    assert.deepEqual(view(t.remote.tree), view(snapshotOf({ a: 'L' })));
    const [conflict] = t.session.conflicts();
    assert.equal(conflict?.state, 'local-kept');
    assert.equal(conflict?.path, 'a');
    assert.deepEqual([...t.conflictContent.files.keys()], [`${conflict?.id}/a`]);

    await t.session.resolve('a', 'remote');
    await t.session.flush();
    assert.deepEqual(view(t.local.tree), view(snapshotOf({ a: 'R' })));
    assert.deepEqual(view(t.remote.tree), view(snapshotOf({ a: 'R' })));
    assert.equal(t.session.conflicts().length, 0);
    assert.equal(t.conflictContent.files.size, 0);
  });

  it('two-way-safe blocks a conflict until it is resolved', async () => {
    const t = await setup({
      local: { a: 'L', b: 'same' },
      remote: { a: 'R' },
      mode: 'two-way-safe',
    });
    await t.session.flush();
    assert.deepEqual(view(t.local.tree), view(snapshotOf({ a: 'L', b: 'same' })));
    assert.deepEqual(view(t.remote.tree), view(snapshotOf({ a: 'R', b: 'same' })));
    await t.session.cycle();
    assert.equal(t.session.conflicts().length, 1, 'a blocked conflict is recorded once');

    await t.session.resolve('a', 'local');
    await t.session.flush();
    assert.deepEqual(view(t.remote.tree), view(snapshotOf({ a: 'L', b: 'same' })));
    assert.equal(t.session.conflicts().length, 0);
  });

  it('halts when the remote root is emptied, and resume propagates it', async () => {
    const t = await setup({ local: { a: 'x', b: 'y' }, remote: {} });
    await t.session.flush();
    t.remote.edit(snapshotOf({}));
    const report = await t.session.cycle();
    assert.equal(report.halted, 'root-emptied');
    assert.equal(t.session.status().state, 'halted-root-emptied');
    assert.deepEqual(view(t.local.tree), view(snapshotOf({ a: 'x', b: 'y' })), 'nothing deleted');

    await t.session.resume();
    await t.session.flush();
    assert.deepEqual(view(t.local.tree), view(snapshotOf({})));
  });

  it('a halt is sticky: a file written into the emptied root does not lift it', async () => {
    const t = await setup({ local: { a: 'x', b: 'y' }, remote: {} });
    await t.session.flush();
    t.remote.edit(snapshotOf({}));
    assert.equal((await t.session.cycle()).halted, 'root-emptied');
    t.remote.edit(snapshotOf({ 'app.log': 'started' }));
    assert.equal((await t.session.cycle()).halted, 'root-emptied');
    assert.deepEqual(view(t.local.tree), view(snapshotOf({ a: 'x', b: 'y' })));
  });

  it('a root that lost all synced content but gained a new file still counts as emptied', async () => {
    const t = await setup({ local: { a: 'x', 'd/b': 'y' }, remote: {} });
    await t.session.flush();
    t.remote.edit(snapshotOf({ 'pid.txt': '1' }));
    assert.equal((await t.session.cycle()).halted, 'root-emptied');
  });

  it('a root emptied file by file, a scan apart, halts before any deletion crosses', async () => {
    const files = { a: '1', b: '2', c: '3', d: '4', e: '5' };
    const remote = new EmptyingEndpoint(new Map());
    const t = await setup({ local: files, remote: {}, remoteEndpoint: remote });
    await t.session.flush();
    remote.start(Object.keys(files));
    const report = await t.session.cycle();
    assert.equal(report.halted, 'root-emptied');
    assert.deepEqual(view(t.local.tree), view(snapshotOf(files)), 'nothing deleted locally');
  });

  it('without the deletion hold, the same emptying crosses file by file until the last', async () => {
    const files = { a: '1', b: '2', c: '3' };
    const remote = new EmptyingEndpoint(new Map());
    const t = await setup({ local: files, remote: {}, remoteEndpoint: remote, deletionHoldMs: 0 });
    await t.session.flush();
    remote.start(Object.keys(files));
    assert.equal((await t.session.cycle()).halted, undefined);
    assert.equal((await t.session.cycle()).halted, undefined);
    assert.equal((await t.session.cycle()).halted, 'root-emptied');
    assert.deepEqual(view(t.local.tree), view(snapshotOf({ c: '3' })));
  });

  it('a deletion is propagated after one hold that finds no more', async () => {
    const t = await setup({ local: { a: '1', b: '2' }, remote: {}, deletionHoldMs: 500 });
    await t.session.flush();
    t.remote.edit(snapshotOf({ a: '1' }));
    const before = t.clock.time;
    const report = await t.session.cycle();
    assert.equal(report.appliedLocal, 1);
    assert.equal(t.clock.time - before, 500);
    assert.deepEqual(view(t.local.tree), view(snapshotOf({ a: '1' })));
  });

  it('deletions that stop part-way are propagated together, with no halt', async () => {
    const files = { a: '1', b: '2', c: '3', d: '4' };
    const remote = new EmptyingEndpoint(new Map());
    const t = await setup({ local: files, remote: {}, remoteEndpoint: remote });
    await t.session.flush();
    remote.start(['a', 'b']);
    const report = await t.session.cycle();
    assert.equal(report.halted, undefined);
    assert.equal(report.appliedLocal, 2);
    assert.deepEqual(view(t.local.tree), view(snapshotOf({ c: '3', d: '4' })));
  });

  it('renaming the only top-level directory is not an emptied root', async () => {
    const t = await setup({ local: { 'src/a': 'x', 'src/b': 'y' }, remote: {} });
    await t.session.flush();
    t.local.edit(snapshotOf({ 'lib/a': 'x', 'lib/b': 'y' }));
    const report = await t.session.flush();
    assert.equal(report.halted, undefined);
    assert.deepEqual(view(t.remote.tree), view(snapshotOf({ 'lib/a': 'x', 'lib/b': 'y' })));
  });

  it('run does not spin while halted, and resume still gets through', async () => {
    const t = await setup({ local: { a: 'x' }, remote: {} });
    await t.session.flush();
    const running = t.session.run();
    t.remote.edit(snapshotOf({}));
    for (let i = 0; i < 100 && t.session.status().state !== 'halted-root-emptied'; i++) {
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(t.session.status().state, 'halted-root-emptied');
    t.remote.edit(snapshotOf({})); // a pending change event while halted
    let ticks = 0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        if (++ticks < 20) setImmediate(tick);
        else resolve();
      };
      setImmediate(tick);
    });
    assert.equal(ticks, 20, 'the event loop keeps turning');
    await t.session.reset();
    await t.session.flush();
    assert.equal(t.remote.tree.get('a')?.kind, 'file');
    t.session.stop();
    await running;
  });

  it('resolve works right after open, before any cycle', async () => {
    const t = await setup({ local: { a: 'L' }, remote: { a: 'R' } });
    await t.session.flush();
    const reopened = await Session.open({
      name: 'test',
      mode: 'two-way',
      local: t.local,
      remote: t.remote,
      store: t.store,
      conflictContent: t.conflictContent,
      clock: new TestClock(),
    });
    await reopened.resolve('a', 'remote');
    await reopened.flush();
    assert.deepEqual(view(t.local.tree), view(snapshotOf({ a: 'R' })));
  });

  it('reset after a halt re-seeds the emptied side instead', async () => {
    const t = await setup({ local: { a: 'x' }, remote: {} });
    await t.session.flush();
    t.remote.edit(snapshotOf({}));
    assert.equal((await t.session.cycle()).halted, 'root-emptied');
    await t.session.reset();
    await t.session.flush();
    assert.deepEqual(view(t.remote.tree), view(snapshotOf({ a: 'x' })));
  });

  it('halts when a cycle would delete more files than the bound', async () => {
    const t = await setup({
      local: { a: '1', b: '2', c: '3', k: 'keep' },
      remote: {},
      deletionBound: 2,
    });
    await t.session.flush();
    t.local.edit(snapshotOf({ k: 'keep' }));
    assert.equal((await t.session.cycle()).halted, 'deletion-bound');
    assert.equal(t.remote.tree.size, 5);
    assert.deepEqual(t.session.status().halt, {
      reason: 'deletion-bound',
      side: 'remote',
      deletions: 3,
      bound: 2,
      preview: ['a', 'b', 'c'].map((path) => ({ side: 'remote', path })),
    });
  });

  it('halts when a root is deleted', async () => {
    const t = await setup({ local: { a: '1' }, remote: {} });
    await t.session.flush();
    t.remote.edit(new Map());
    assert.equal((await t.session.cycle()).halted, 'root-deleted');
    assert.equal(t.local.tree.get('a')?.kind, 'file');
    assert.equal(t.session.status().halt?.side, 'local');
    assert.equal(t.session.status().halt?.deletions, 1);
  });

  it('a failed transfer leaves the ancestor untouched and is retried', async () => {
    const t = await setup({ local: { a: 'x', b: 'y' }, remote: {} });
    t.remote.failContent.add('x');
    const report = await t.session.cycle();
    assert.ok(
      report.problems.some((p) => p.path === 'a' && p.message.includes('content did not arrive')),
    );
    assert.equal(t.remote.tree.has('a'), false);
    assert.equal(t.store.ancestor.has('a'), false);
    assert.equal(t.store.ancestor.has('b'), true);
    t.remote.failContent.clear();
    await t.session.flush();
    assert.equal(t.remote.tree.get('a')?.kind, 'file');
  });

  it('a path changed between scan and apply is skipped and synced next cycle', async () => {
    const t = await setup({ local: { a: 'x' }, remote: { a: 'x' } });
    await t.session.flush();
    t.local.edit(snapshotOf({ a: 'x2' }));
    // The remote changes after the scan: its apply must refuse, keeping the remote edit.
    const originalApply = t.remote.apply.bind(t.remote);
    t.remote.apply = async (changes) => {
      t.remote.tree.set('a', { kind: 'file', digest: 'r3', executable: false, size: 2 });
      t.remote.apply = originalApply;
      return originalApply(changes);
    };
    const report = await t.session.cycle();
    assert.ok(report.problems.some((p) => p.path === 'a'));
    assert.deepEqual(
      t.store.ancestor.get('a'),
      snapshotOf({ a: 'x' }).get('a'),
      'ancestor untouched',
    );
    await t.session.flush();
    // Both edited: local wins, and the remote's edit is kept in the conflict store.
    assert.deepEqual(view(t.remote.tree), view(snapshotOf({ a: 'x2' })));
    assert.equal(t.session.conflicts()[0]?.kept[0]?.entry.digest, 'r3');
  });

  it('run cycles on change events until stopped', async () => {
    const t = await setup({ local: { a: 'x' }, remote: {} });
    const running = t.session.run();
    await t.session.flush();
    t.local.edit(snapshotOf({ a: 'x', b: 'new' }));
    for (let i = 0; i < 50 && !t.remote.tree.has('b'); i++)
      await new Promise((r) => setImmediate(r));
    assert.equal(t.remote.tree.get('b')?.kind, 'file');
    t.session.stop();
    await running;
  });

  it('pause stops cycles; resume continues', async () => {
    const t = await setup({ local: { a: 'x' }, remote: {} });
    await t.session.pause();
    await assert.rejects(t.session.cycle(), /paused/);
    await t.session.resume();
    await t.session.flush();
    assert.equal(t.remote.tree.has('a'), true);
  });

  it('a new ignore rule takes the paths out of the sync on both sides, deleting nothing', async () => {
    const t = await setup({ local: { 'src/a': 'x' }, remote: { 'gen/out': 'g', 'x.log': 'l' } });
    t.local.ownIgnore = [];
    await t.session.flush();
    assert.deepEqual(view(t.remote.tree), view(t.local.tree));
    // The user ignores gen/ and *.log while both sides hold them (synced, in the ancestor).
    t.local.ownIgnore = ['gen/', '*.log'];
    t.remote.edit(snapshotOf({ 'src/a': 'x', 'gen/out': 'g2', 'x.log': 'l2' }));
    const report = await t.session.flush();
    assert.equal(report.inSync, true);
    assert.deepEqual(
      t.remote.scannedWith,
      ['gen/', '*.log'],
      'the remote scans with the new rules',
    );
    assert.deepEqual(
      view(t.remote.tree),
      view(snapshotOf({ 'src/a': 'x', 'gen/out': 'g2', 'x.log': 'l2' })),
    );
    assert.deepEqual(
      view(t.local.tree),
      view(snapshotOf({ 'src/a': 'x', 'gen/out': 'g', 'x.log': 'l' })),
    );
    assert.deepEqual(
      view(t.store.ancestor),
      view(snapshotOf({ 'src/a': 'x' })),
      'ancestor forgets them',
    );
    // Un-ignoring merges like a first sync: the differing versions are a conflict that keeps both.
    t.local.ownIgnore = [];
    await t.session.flush();
    assert.equal(t.session.conflicts().length, 2);
    const saved = [...t.conflictContent.files.keys()]
      .map((k) => k.slice(k.indexOf('/') + 1))
      .sort();
    assert.deepEqual(saved, ['gen/out', 'x.log']);
    assert.deepEqual(view(t.remote.tree), view(t.local.tree));
  });

  it('a first cycle that learns the rules from the local scan rescans the remote incrementally', async () => {
    const t = await setup({ local: { a: 'x', 'b.log': 'l' }, remote: {} });
    t.local.ownIgnore = ['*.log'];
    const fulls: boolean[] = [];
    const scan = t.remote.scan.bind(t.remote);
    t.remote.scan = (options) => {
      fulls.push(options.full);
      return scan(options);
    };
    await t.session.cycle();
    // The first scan was full and ran without rules; the second only applies the rules (the
    // endpoint rescans by itself when they changed), instead of walking the whole side again.
    assert.deepEqual(fulls, [true, false]);
    assert.deepEqual(t.remote.scannedWith, ['*.log']);
    assert.deepEqual(view(t.remote.tree), view(snapshotOf({ a: 'x' })));
  });

  it('a local-wins conflict that cannot land is blocked once and touches nothing', async () => {
    const t = await setup({ local: { m: 'L' }, remote: { 'm/a': 'edit', 'm/sock': 's' } });
    t.remote.problemPaths.add('m/sock'); // a socket: the scan cannot sync it
    const first = await t.session.cycle();
    assert.equal(first.inSync, false);
    assert.deepEqual(view(t.remote.tree), view(snapshotOf({ 'm/a': 'edit', 'm/sock': 's' })));
    const second = await t.session.cycle();
    assert.equal(second.inSync, true);
    // The socket itself stays a problem, and a flush reports it.
    assert.deepEqual(
      (await t.session.flush()).problems.map((p) => [p.side, p.path]),
      [['remote', 'm/sock']],
    );
    await t.session.cycle({ full: true });
    const conflicts = t.session.conflicts();
    assert.equal(conflicts.length, 1, 'recorded once');
    assert.equal(conflicts[0]?.state, 'blocked');
    // Nothing was overwritten, but the remote version is saved too: it outlives its container.
    assert.deepEqual(
      conflicts[0]?.kept.map((k) => k.path),
      ['m/a'],
    );
    assert.equal(t.conflictContent.files.size, 1);
    assert.deepEqual(view(t.local.tree), view(snapshotOf({ m: 'L' })));
    assert.deepEqual(view(t.remote.tree), view(snapshotOf({ 'm/a': 'edit', 'm/sock': 's' })));
  });

  it('after a container restart, rebasing keeps local content and records no conflicts', async () => {
    const t = await setup({ local: { a: 'A1', b: 'B1', placed: 'P1' }, remote: {} });
    await t.session.flush();
    t.local.edit(snapshotOf({ a: 'A2', placed: 'P1' })); // a edited, b deleted locally
    t.remote.edit(snapshotOf({ a: 'A0', b: 'B0', image: 'I0' })); // the image again
    await t.session.rebaseOntoRemote('kept');
    await t.session.flush();
    assert.deepEqual(t.session.conflicts(), []);
    const expected = view(snapshotOf({ a: 'A2', placed: 'P1', image: 'I0' }));
    assert.deepEqual(view(t.local.tree), expected);
    assert.deepEqual(view(t.remote.tree), expected);
  });

  it('a container edit made after the restart, before the rebase, is a conflict that keeps it', async () => {
    // docs/reliability.md: f was synced, the container restarted and wrote f anew at once.
    const t = await setup({ local: { f: 'A', g: 'G' }, remote: {} });
    await t.session.flush();
    t.remote.edit(snapshotOf({ f: 'C', g: 'G0' })); // f written since the start; g is the image's
    t.remote.restartFacts = { mounts: [], changed: ['f'] };
    await t.session.rebaseOntoRemote('kept');
    await t.session.flush();
    // f may be an edit or the entrypoint's defaults over a synced file: both versions are kept
    // (two-way keeps local's in place and saves the container's). g is the image's: no conflict.
    const [conflict, ...others] = t.session.conflicts();
    assert.deepEqual(others, []);
    assert.deepEqual(
      conflict?.kept.map((k) => [k.path, k.entry.digest]),
      [['f', digestIn(snapshotOf({ f: 'C' }), 'f')]],
    );
    assert.equal(t.conflictContent.files.size, 1);
    const expected = view(snapshotOf({ f: 'A', g: 'G' }));
    assert.deepEqual(view(t.local.tree), expected);
    assert.deepEqual(view(t.remote.tree), expected);
  });

  it("a new pod's fresh volume does not delete the synced files it lacks", async () => {
    const t = await setup({ local: { 'data/v': 'V', a: 'A' }, remote: {} });
    await t.session.flush();
    // Another pod, started from this ancestor: its emptyDir is empty, a is the image's.
    t.remote.edit(snapshotOf({ data: {}, a: 'A0' }));
    t.remote.restartFacts = { mounts: ['data'], changed: [] };
    await t.session.rebaseOntoRemote('new');
    await t.session.flush();
    assert.deepEqual(t.session.conflicts(), []);
    const expected = view(snapshotOf({ 'data/v': 'V', a: 'A' }));
    assert.deepEqual(view(t.local.tree), expected);
    assert.deepEqual(view(t.remote.tree), expected);
  });

  it('an unsynced container edit on a volume survives the restart; a local edit beside it conflicts', async () => {
    const t = await setup({ local: { 'data/v': 'A', 'data/w': 'A', a: 'A' }, remote: {} });
    await t.session.flush();
    t.local.edit(snapshotOf({ 'data/v': 'A', 'data/w': 'L', a: 'A' }));
    // The volume kept the container's unsynced edits; a is back to the image's version.
    t.remote.edit(snapshotOf({ 'data/v': 'C', 'data/w': 'C', a: 'A0' }));
    t.remote.restartFacts = { mounts: ['data'], changed: [] };
    await t.session.rebaseOntoRemote('kept');
    await t.session.flush();
    assert.deepEqual(
      t.session.conflicts().map((c) => c.path),
      ['data/w'],
    );
    assert.equal(view(t.local.tree)['data/v'], view(snapshotOf({ 'data/v': 'C' }))['data/v']);
    assert.equal(view(t.remote.tree).a, view(snapshotOf({ a: 'A' })).a);
    const [conflict] = t.session.conflicts();
    assert.deepEqual(
      conflict?.kept.map((k) => [k.path, k.entry.digest]),
      [['data/w', digestIn(snapshotOf({ w: 'C' }), 'w')]],
      "the container's data/w is saved",
    );
  });

  it('without restart facts the rebase trusts no path: differences become conflicts, nothing is lost', async () => {
    const warnings: string[] = [];
    const t = await setup({ local: { f: 'A', g: 'G' }, remote: {}, warnings });
    await t.session.flush();
    t.remote.edit(snapshotOf({ f: 'C', g: 'G' }));
    t.remote.restartFacts = new Error('an older agent');
    await t.session.rebaseOntoRemote('kept');
    await t.session.flush();
    assert.ok(warnings.some((w) => /changed paths are unknown \(an older agent\)/.test(w)));
    assert.deepEqual(
      t.session.conflicts().map((c) => c.path),
      ['f'],
    );
    assert.deepEqual(view(t.local.tree), view(snapshotOf({ f: 'A', g: 'G' })));
  });

  for (const mode of ['two-way-safe', 'two-way'] as const) {
    it(`a container restart loses no unsynced container version kept by a blocked conflict (${mode})`, async () => {
      // Synced: f and m/a. Then both sides edit f; m becomes a local file while the container
      // edits m/a and holds a socket beside it, which the local version cannot replace.
      const t = await setup({ local: { f: 'A', 'm/a': 'A' }, remote: {}, mode });
      await t.session.flush();
      t.local.edit(snapshotOf({ f: 'L', m: 'L' }));
      t.remote.edit(snapshotOf({ f: 'R', 'm/a': 'edit', 'm/sock': 's' }));
      t.remote.problemPaths.add('m/sock');
      await t.session.cycle();
      await t.session.cycle();
      // The remote versions whose content the conflict store holds, as path=digest.
      const saved = (): string[] =>
        t.session
          .conflicts()
          .flatMap((c) =>
            c.kept.flatMap((k) => {
              const bytes = t.conflictContent.files.get(`${c.id}/${k.path}`);
              const whole = bytes !== undefined && equalBytes(bytes, contentOf(k.entry.digest));
              return whole ? [`${k.path}=${k.entry.digest}`] : [];
            }),
          )
          .sort();
      const edit = digestIn(snapshotOf({ 'm/a': 'edit' }), 'm/a');
      const before = saved();
      assert.ok(before.includes(`m/a=${edit}`), 'the container version is saved');
      assert.ok(t.session.conflicts().some((c) => c.path === 'm' && c.state === 'blocked'));
      // The container restarts in place: its volume keeps the unsynced versions.
      await t.session.rebaseOntoRemote('kept');
      await t.session.cycle();
      await t.session.cycle();
      assert.deepEqual(saved(), before, 'every saved copy outlives the restart');
      assert.equal(view(t.remote.tree)['m/a'], view(snapshotOf({ 'm/a': 'edit' }))['m/a']);
    });
  }

  it('a container restart does not revert local content kept by a local-wins conflict', async () => {
    const t = await setup({ local: { f: 'A' }, remote: {} });
    await t.session.flush();
    t.local.edit(snapshotOf({ f: 'L' }));
    t.remote.edit(snapshotOf({ f: 'R' }));
    await t.session.flush();
    assert.deepEqual(
      t.session.conflicts().map((c) => [c.path, c.state]),
      [['f', 'local-kept']],
    );
    // The container restarts and its image's f comes back (f is not on a volume).
    t.remote.edit(snapshotOf({ f: 'I' }));
    await t.session.rebaseOntoRemote('kept');
    await t.session.flush();
    assert.deepEqual(view(t.local.tree), view(snapshotOf({ f: 'L' })));
    assert.deepEqual(view(t.remote.tree), view(snapshotOf({ f: 'L' })));
  });

  it('resolve of an unknown path is a user error', async () => {
    const t = await setup({ local: {}, remote: {} });
    await assert.rejects(t.session.resolve('nope', 'local'), { name: 'UserError' });
  });
});
