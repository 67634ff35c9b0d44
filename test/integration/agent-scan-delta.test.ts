/**
 * Scan deltas through the real agent process: once the client names the result it holds, a scan
 * sends only what changed since (the pages of an edit carry one entry, not the tree), a stale or
 * missing base gets the whole snapshot again, and the client's copy of the remote snapshot stays
 * equal to what a fresh full scan of the remote directory finds.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { entriesEqual, type Entry, type Snapshot } from '@ksync/core';
import { connectRemoteEndpoint } from '@ksync/agent/client';
import { openLocalEndpoint } from '@ksync/fs';
import {
  startAgentFixture,
  type AgentFixture,
  type AgentProcess,
} from './helpers/agent-process.ts';
import { bucketOf, bucketSnapshot } from '../../packages/agent/src/snapshot-buckets.ts';
import { RawClient, type Received } from './helpers/agent-raw.ts';

/** What the agent answered to scan `id`: the pages' entries and removals, and scan-done. */
async function scanAnswer(c: RawClient, id: number) {
  const done = await c.answer(id);
  assert.equal(done.type, 'scan-done', JSON.stringify(done));
  const pages = c.received.filter((m) => m.id === id && m.type === 'scan-page');
  return {
    done,
    paths: pages.flatMap((p) => (p.entries as [string, unknown][]).map(([path]) => path)).sort(),
    removed: pages.flatMap((p) => (p.removed as string[] | undefined) ?? []).sort(),
  };
}

/** Waits for the agent's next `changed` push after `seen` messages. */
async function changedAfter(c: RawClient, seen: number): Promise<void> {
  await c.waitFor((m: Received) => m.type === 'changed' && c.received.indexOf(m) >= seen);
}

/** The paths at which two snapshots differ. */
function differences(a: Snapshot, b: Snapshot): string[] {
  return [...new Set([...a.keys(), ...b.keys()])].filter((p) => !entriesEqual(a.get(p), b.get(p)));
}

/** A full scan of `root` by a fresh filesystem endpoint. */
async function scanFresh(root: string): Promise<Snapshot> {
  const endpoint = openLocalEndpoint({ root, watch: false });
  try {
    return (await endpoint.scan({ full: true })).snapshot;
  } finally {
    await endpoint.close();
  }
}

describe('agent: scan deltas', () => {
  let fixture: AgentFixture;
  let agent: AgentProcess;

  before(async () => ({ fixture, agent } = await startAgentFixture()));
  after(async () => fixture.cleanup());

  it('sends only the changes since the base the client names, and everything otherwise', async () => {
    const app = join(fixture.root, 'raw');
    await mkdir(join(app, 'd'), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(join(app, 'd', `f${i}`), `v1 ${i}`);
    const c = await RawClient.ready(agent.url, fixture.token, '/raw');
    try {
      c.send({ type: 'scan', id: 10, full: false });
      const first = await scanAnswer(c, 10);
      assert.equal(first.done.delta, false);
      assert.equal(first.paths.length, 22, 'the root, d and 20 files');
      const base = first.done.generation as number;

      let seen = c.received.length;
      await writeFile(join(app, 'd/f3'), 'v2');
      await changedAfter(c, seen);
      c.send({ type: 'scan', id: 11, full: false, base });
      const edit = await scanAnswer(c, 11);
      assert.equal(edit.done.delta, true);
      assert.deepEqual(edit.paths, ['d/f3']);
      assert.deepEqual(edit.removed, []);

      seen = c.received.length;
      await rm(join(app, 'd/f4'));
      await changedAfter(c, seen);
      c.send({ type: 'scan', id: 12, full: false, base: edit.done.generation });
      const removal = await scanAnswer(c, 12);
      assert.equal(removal.done.delta, true);
      assert.deepEqual(removal.paths, []);
      assert.deepEqual(removal.removed, ['d/f4']);

      // A base that is not the last result sent (the client missed one) gets everything.
      c.send({ type: 'scan', id: 13, full: false, base });
      const stale = await scanAnswer(c, 13);
      assert.equal(stale.done.delta, false);
      assert.equal(stale.paths.length, 21);
      // A full rescan with the right base walks the tree, and still sends only what changed.
      c.send({ type: 'scan', id: 14, full: true, base: stale.done.generation });
      const full = await scanAnswer(c, 14);
      assert.equal(full.done.delta, true);
      assert.deepEqual(full.paths, []);
    } finally {
      c.close();
    }
  });

  it("keeps the client's copy equal to the remote tree, and reports each scan's changes", async () => {
    const app = join(fixture.root, 'client');
    await mkdir(join(app, 'd'), { recursive: true });
    await writeFile(join(app, 'd/a'), 'A');
    await writeFile(join(app, 'b'), 'B');
    const remote = await connectRemoteEndpoint({
      url: agent.url,
      token: fixture.token,
      root: '/client',
      ignore: [],
    });
    try {
      let changedEvents = 0;
      remote.watch(() => changedEvents++);
      const first = await remote.scan({ full: false });
      assert.equal(first.changes, undefined, 'the first result has nothing to compare with');
      let previous = new Map(first.snapshot);
      assert.deepEqual(differences(previous, await scanFresh(app)), []);

      /**
       * Scans until the copy equals the tree (the agent's watcher may report the edits in more
       * than one batch), checking that every result's changes are exactly its differences from
       * the previous result; returns every path reported changed.
       */
      const scanUntilSettled = async (): Promise<string[]> => {
        const reported = new Set<string>();
        const deadline = Date.now() + 10_000;
        for (;;) {
          const result = await remote.scan({ full: false });
          const changes = result.changes ?? new Map<string, Entry | undefined>();
          assert.deepEqual(
            [...changes.keys()].sort(),
            differences(previous, result.snapshot).sort(),
          );
          for (const [path, old] of changes) assert.deepEqual(old, previous.get(path));
          for (const path of changes.keys()) reported.add(path);
          previous = new Map(result.snapshot);
          if (differences(result.snapshot, await scanFresh(app)).length === 0) break;
          assert.ok(Date.now() < deadline, 'the copy did not catch up with the tree');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return [...reported].sort();
      };

      await writeFile(join(app, 'd/a'), 'A2');
      await mkdir(join(app, 'n'));
      await writeFile(join(app, 'n/x'), 'X');
      assert.deepEqual(await scanUntilSettled(), ['d/a', 'n', 'n/x']);
      await rm(join(app, 'd'), { recursive: true });
      assert.deepEqual(await scanUntilSettled(), ['d', 'd/a']);
      assert.ok(changedEvents > 0, 'the agent pushed changed events');
    } finally {
      await remote.close();
    }
  });

  it("a new connection's first scan sends only the buckets that differ from the expected snapshot", async () => {
    const app = join(fixture.root, 'buckets');
    await mkdir(join(app, 'd'), { recursive: true });
    for (let i = 0; i < 300; i++) await writeFile(join(app, 'd', `f${i}`), `v1 ${i}`);
    const expected = await scanFresh(app);
    // Changed while no client was connected (the daemon was down): one file.
    await writeFile(join(app, 'd/f7'), 'v2');
    const now = await scanFresh(app);
    const c = await RawClient.ready(agent.url, fixture.token, '/buckets');
    try {
      c.send({ type: 'scan', id: 10, full: true, buckets: bucketSnapshot(expected).digests });
      const answer = await scanAnswer(c, 10);
      assert.deepEqual(answer.done.buckets, [bucketOf('d/f7')]);
      assert.equal(answer.done.delta, false);
      assert.deepEqual(
        answer.paths,
        [...now.keys()].filter((p) => bucketOf(p) === bucketOf('d/f7')).sort(),
      );
      assert.ok(answer.paths.length < 10, `${answer.paths.length} of ${now.size} entries sent`);
    } finally {
      c.close();
    }
    const remote = await connectRemoteEndpoint({
      url: agent.url,
      token: fixture.token,
      root: '/buckets',
      ignore: [],
    });
    try {
      const first = await remote.scan({ full: true, expected });
      assert.deepEqual(differences(first.snapshot, now), []);
      // An expected snapshot that is wrong everywhere still ends in the agent's state.
      await rm(join(app, 'd'), { recursive: true });
      await writeFile(join(app, 'n'), 'N');
      const other = await connectRemoteEndpoint({
        url: agent.url,
        token: fixture.token,
        root: '/buckets',
        ignore: [],
      });
      try {
        const result = await other.scan({ full: true, expected });
        assert.deepEqual(differences(result.snapshot, await scanFresh(app)), []);
      } finally {
        await other.close();
      }
    } finally {
      await remote.close();
    }
  });
});
