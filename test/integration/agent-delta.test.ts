/**
 * Block deltas through the real agent: a one-byte change in a big file crosses the wire as a
 * signature and one block (counted on the TCP connection by a proxy), both ways; an edit made
 * to the receiver's file while a delta is on its way is never overwritten; and hostile delta
 * messages get a wire error or a problem while the agent stays up and touches nothing.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONTENT_DELTA } from '@ksync/core';
import { flipByte } from '../../bench/measure.ts';
import { startCounter } from '../../bench/ws-counter.ts';
import {
  hashFileHex,
  startAgentFixture,
  writeBigFile,
  type AgentFixture,
  type AgentProcess,
} from './helpers/agent-process.ts';
import { RawClient, type Received } from './helpers/agent-raw.ts';
import { startAgentSession } from './helpers/agent-session.ts';

const MiB = 1024 * 1024;
const SIZE = 256 * MiB;

describe('agent: block deltas', () => {
  let fixture: AgentFixture;
  let agent: AgentProcess;

  before(async () => ({ fixture, agent } = await startAgentFixture()));
  after(() => fixture.cleanup());

  it(
    'sends under 1 MB for one changed byte of a 256 MiB file, each way',
    { timeout: 300_000 },
    async () => {
      const counter = await startCounter(agent.url);
      await mkdir(join(fixture.root, 'big'));
      const s = await startAgentSession({
        url: counter.url,
        token: fixture.token,
        remoteRoot: '/big',
        run: false,
      });
      try {
        const remote = join(fixture.root, 'big', 'data.bin');
        const local = join(s.local, 'data.bin');
        await writeBigFile(local, SIZE, 3);
        await s.session.flush();
        assert.equal(await hashFileHex(remote), await hashFileHex(local));

        const wire = (): number => counter.counts.bytesToAgent + counter.counts.bytesFromAgent;
        let before = wire();
        await flipByte(local, 100 * MiB + 7);
        await s.session.cycle({ full: true });
        const up = wire() - before;
        assert.equal(await hashFileHex(remote), await hashFileHex(local));

        before = wire();
        await flipByte(remote, 200 * MiB + 11);
        await s.session.cycle({ full: true });
        const down = wire() - before;
        assert.equal(await hashFileHex(local), await hashFileHex(remote));
        console.log(`one changed byte of ${SIZE / MiB} MiB: ${up} bytes up, ${down} bytes down`);
        assert.ok(up < 1_000_000, `${up} bytes on the wire for one changed byte (local → remote)`);
        assert.ok(
          down < 1_000_000,
          `${down} bytes on the wire for one changed byte (remote → local)`,
        );
      } finally {
        await s.stop();
        await counter.close();
      }
    },
  );

  it('refuses hostile delta messages, keeps the file, and stays up', async () => {
    await mkdir(join(fixture.root, 'hostile'));
    const target = join(fixture.root, 'hostile', 'f.bin');
    await writeBigFile(target, 2 * MiB, 9);
    const digest = await hashFileHex(target);
    const c = await RawClient.ready(agent.url, fixture.token, '/hostile');
    try {
      c.send({ type: 'scan', id: 10, full: true });
      await c.waitFor((m) => m.type === 'scan-done' && m.id === 10);
      const file = { kind: 'file', digest, executable: false, size: 2 * MiB };

      // Not base64, and too many files per request: schema errors for that request alone.
      c.send({
        type: 'read-contents',
        id: 11,
        files: [{ path: 'f.bin', digest, size: 1, base: '!!' }],
      });
      const files = Array.from({ length: 5 }, () => ({ path: 'f.bin', digest, size: 2 * MiB }));
      c.send({ type: 'signatures', id: 12, files });
      for (const id of [11, 12]) {
        const reply: Received = await c.waitFor((m) => m.id === id);
        assert.equal(reply.type, 'error');
        assert.equal((reply.error as { code: string }).code, 'bad-message');
      }

      // A signature of the right shape is answered; a malformed one in read-contents makes that
      // file missing (status 1), not a crash.
      c.send({ type: 'signatures', id: 13, files: [{ path: 'f.bin', digest, size: 2 * MiB }] });
      const signed: Received = await c.waitFor((m) => m.id === 13);
      assert.equal(signed.type, 'signatures-result');
      assert.equal(typeof (signed.signatures as unknown[])[0], 'string');
      c.send({
        type: 'read-contents',
        id: 14,
        files: [{ path: 'f.bin', digest, size: 2 * MiB, base: 'AAAA' }],
      });
      const ended: Received = await c.waitFor((m) => m.id === 14 && m.type !== 'credit');
      assert.equal(ended.type, 'end');

      // An apply whose delta copies from past the end of the base: a problem, file unchanged.
      const copyPastEnd = Buffer.from([1, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0x10, 0]);
      const segment = Buffer.alloc(4);
      segment.writeUInt32BE(copyPastEnd.length);
      c.send({
        type: 'apply',
        id: 15,
        changes: [{ path: 'f.bin', old: file, new: { ...file, digest: 'e'.repeat(64) } }],
        content: [0],
      });
      c.sendChunk(
        15,
        Buffer.concat([Buffer.from([CONTENT_DELTA]), segment, copyPastEnd, Buffer.alloc(4)]),
      );
      c.send({ type: 'end', id: 15 });
      const result: Received = await c.waitFor((m) => m.id === 15 && m.type === 'apply-result');
      assert.deepEqual(result.applied, []);
      assert.match(JSON.stringify(result.problems), /outside/);
      assert.equal(await hashFileHex(target), digest);

      assert.equal(agent.child.exitCode, null, 'agent still running');
      const res = await fetch(`http://127.0.0.1:${agent.port}/healthz`);
      assert.equal(res.status, 200);
    } finally {
      c.ws.close();
    }
  });

  it(
    'never overwrites an edit the receiver made while the delta was under way',
    { timeout: 120_000 },
    async () => {
      await mkdir(join(fixture.root, 'race'));
      const s = await startAgentSession({
        url: agent.url,
        token: fixture.token,
        remoteRoot: '/race',
        run: false,
      });
      try {
        const local = join(s.local, 'r.bin');
        const remote = join(fixture.root, 'race', 'r.bin');
        await writeBigFile(local, 8 * MiB, 4);
        await s.session.flush();
        // Sign the remote file, then edit it there before the delta arrives: the session's apply
        // must refuse to rebuild from a base that is no longer the one it was told about.
        await flipByte(local, 1000);
        const signatures = s.remote.readSignatures?.bind(s.remote);
        assert.ok(signatures !== undefined);
        s.remote.readSignatures = async (files) => {
          const result = await signatures(files);
          await writeFile(remote, 'edited in the container meanwhile\n');
          return result;
        };
        await s.session.cycle({ full: true });
        assert.equal(await readFile(remote, 'utf8'), 'edited in the container meanwhile\n');
      } finally {
        await s.stop();
      }
    },
  );
});
