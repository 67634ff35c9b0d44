/**
 * Hostile input to the real agent process over raw WebSockets: bad tokens and versions,
 * malformed and oversized messages, out-of-order requests, and path traversal in every message
 * that carries a path, including through a symlink planted inside the root. Each one is refused
 * with a clear error, the agent stays up, and nothing outside the root is touched.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, symlink, writeFile, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KSYNC_VERSION, MAX_FRAME_BYTES, PROTOCOL_VERSION } from '@ksync/core';
import { makeAgentFixture, type AgentFixture, type AgentProcess } from './helpers/agent-process.ts';
import { RawClient, type Received } from './helpers/agent-raw.ts';

const HOSTILE_PATHS = [
  '../x',
  '/etc/passwd',
  'a/../../x',
  'x\0y',
  'a\\b',
  '..',
  'a//b',
  '../../outside/pwned',
];

function sha256(data: string): string {
  return createHash('sha256').update(data).digest('hex');
}

function errorOf(message: Received): { code: string; message: string; retryable: boolean } {
  assert.equal(message.type, 'error', `expected an error, got ${JSON.stringify(message)}`);
  return message.error as { code: string; message: string; retryable: boolean };
}

describe('agent: hostile input', () => {
  let fixture: AgentFixture;
  let agent: AgentProcess;
  let outside: string;
  let outsideBefore: string[];

  async function assertHealthy(): Promise<void> {
    assert.equal(agent.child.exitCode, null, 'agent still running');
    const res = await fetch(`http://127.0.0.1:${agent.port}/healthz`);
    assert.equal(res.status, 200);
  }

  async function assertOutsideUntouched(): Promise<void> {
    assert.deepEqual(await readdir(outside, { recursive: true }), outsideBefore);
    assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'top secret\n');
  }

  before(async () => {
    fixture = await makeAgentFixture();
    // The directory next to the agent root stands for the node's filesystem.
    outside = join(fixture.dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'top secret\n');
    outsideBefore = await readdir(outside, { recursive: true });
    await mkdir(join(fixture.root, 'app'));
    await writeFile(join(fixture.root, 'app/ok.txt'), 'ok\n');
    // Symlinks a container could plant: absolute and relative, to outside the root.
    await symlink(outside, join(fixture.root, 'app/evil'));
    await symlink('../../outside', join(fixture.root, 'app/evil-rel'));
    await symlink(outside, join(fixture.root, 'evil-root'));
    agent = await fixture.start();
  });

  after(async () => {
    await assertOutsideUntouched();
    const exit = await agent.stop('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null });
    await fixture.cleanup();
  });

  it('refuses a wrong token, closes the connection, and stays up', async () => {
    const c = await RawClient.connect(agent.url);
    c.send({ type: 'hello', id: 1, version: KSYNC_VERSION, protocol: PROTOCOL_VERSION });
    await c.waitFor((m) => m.type === 'welcome');
    c.send({ type: 'auth', id: 2, token: 'not-the-token-at-all' });
    const error = errorOf(await c.waitFor((m) => m.type === 'error'));
    assert.equal(error.code, 'unauthorized');
    assert.match(error.message, /refused the token/);
    assert.equal((await c.closed).code, 1008);
    // An empty and a huge token too.
    for (const token of ['', 'x'.repeat(4096)]) {
      const d = await RawClient.connect(agent.url);
      d.send({ type: 'hello', id: 1, version: KSYNC_VERSION, protocol: PROTOCOL_VERSION });
      d.send({ type: 'auth', id: 2, token });
      assert.equal(errorOf(await d.waitFor((m) => m.type === 'error')).code, 'unauthorized');
      await d.closed;
    }
    await assertHealthy();
  });

  it('refuses a wrong version with a message that says which side to upgrade', async () => {
    const c = await RawClient.connect(agent.url);
    c.send({ type: 'hello', id: 1, version: '9.9.9', protocol: PROTOCOL_VERSION });
    const welcome = await c.waitFor((m) => m.type === 'welcome');
    assert.equal(welcome.version, KSYNC_VERSION);
    const error = errorOf(await c.waitFor((m) => m.type === 'error'));
    assert.equal(error.code, 'version-mismatch');
    assert.equal(
      error.message,
      `CLI 9.9.9, agent ${KSYNC_VERSION}: upgrade the agent with \`ksync init --upgrade\``,
    );
    await c.closed;
    const old = await RawClient.connect(agent.url);
    old.send({ type: 'hello', id: 1, version: '0.0.1', protocol: PROTOCOL_VERSION });
    assert.match(errorOf(await old.waitFor((m) => m.type === 'error')).message, /upgrade the CLI/);
    await old.closed;
    await assertHealthy();
  });

  it('refuses malformed JSON, schema failures, unknown types and binary junk before the handshake', async () => {
    const cases: [string, (c: RawClient) => void, RegExp][] = [
      ['malformed JSON', (c) => c.sendText('{"type": "hello", '), /not valid JSON/],
      ['schema failure', (c) => c.send({ type: 'hello', id: 'one', version: 1 }), /invalid hello/],
      ['unknown type', (c) => c.send({ type: 'rm-rf', id: 1 }), /unknown message type "rm-rf"/],
      [
        'binary before open',
        (c) => c.sendBinary(Buffer.from([1, 0, 0, 0, 1, 65])),
        /before the connection was opened/,
      ],
      [
        'scan before hello',
        (c) => c.send({ type: 'scan', id: 1, full: true }),
        /scan before hello, auth and open/,
      ],
      // Found by the fuzzer: stream control before open used to be ignored in silence.
      ['credit before hello', (c) => c.send({ type: 'credit', id: 1, bytes: 1 }), /credit before/],
      [
        'end before open',
        (c) => {
          c.send({ type: 'hello', id: 1, version: KSYNC_VERSION, protocol: PROTOCOL_VERSION });
          c.send({ type: 'auth', id: 2, token: fixture.token });
          c.send({ type: 'end', id: 2 });
        },
        /end before hello, auth and open/,
      ],
      [
        'abort before auth',
        (c) => {
          c.send({ type: 'hello', id: 1, version: KSYNC_VERSION, protocol: PROTOCOL_VERSION });
          c.send({
            type: 'abort',
            id: 1,
            error: { code: 'aborted', message: 'x', retryable: false },
          });
        },
        /abort before hello, auth and open/,
      ],
      [
        'open before auth',
        (c) => {
          c.send({ type: 'hello', id: 1, version: KSYNC_VERSION, protocol: PROTOCOL_VERSION });
          c.send({ type: 'open', id: 2, root: '/app', ignore: [] });
        },
        /open must come right after auth/,
      ],
      [
        'apply before open',
        (c) => {
          c.send({ type: 'hello', id: 1, version: KSYNC_VERSION, protocol: PROTOCOL_VERSION });
          c.send({ type: 'auth', id: 2, token: fixture.token });
          c.send({ type: 'apply', id: 3, changes: [] });
        },
        /apply before hello, auth and open/,
      ],
    ];
    for (const [name, act, pattern] of cases) {
      const c = await RawClient.connect(agent.url);
      act(c);
      const error = errorOf(await c.waitFor((m) => m.type === 'error'));
      assert.match(error.message, pattern, name);
      assert.equal((await c.closed).code, 1008, name);
    }
    await assertHealthy();
  });

  it('closes the connection on an oversized frame', async () => {
    const c = await RawClient.connect(agent.url);
    c.sendText(
      JSON.stringify({ type: 'hello', id: 1, version: 'x'.repeat(MAX_FRAME_BYTES), protocol: 1 }),
    );
    const closed = await c.closed;
    assert.equal(closed.code, 1009, 'message too big');
    const d = await RawClient.ready(agent.url, fixture.token, '/app');
    d.sendBinary(new Uint8Array(MAX_FRAME_BYTES + 1));
    assert.equal((await d.closed).code, 1009);
    await assertHealthy();
  });

  it('fails one bad request alone once the connection is open', async () => {
    const c = await RawClient.ready(agent.url, fixture.token, '/app');
    c.send({ type: 'scan', id: 10, full: 'please' });
    assert.equal(errorOf(await c.answer(10)).code, 'bad-message');
    c.send({ type: 'teleport', id: 11 });
    assert.match(errorOf(await c.answer(11)).message, /unknown message type/);
    c.send({
      type: 'missing',
      id: 12,
      digests: Array.from({ length: 10_001 }, () => 'a'.repeat(64)),
    });
    assert.match(errorOf(await c.answer(12)).message, /invalid missing: digests/);
    // The connection still works.
    c.send({ type: 'scan', id: 13, full: true });
    assert.equal((await c.answer(13)).type, 'scan-done');
    const page = c.received.find((m) => m.id === 13 && m.type === 'scan-page');
    const paths = (page?.entries as [string, unknown][]).map(([p]) => p).sort();
    // The planted symlinks point outside, so they are not synchronizable: reported, not listed.
    assert.deepEqual(paths, ['', 'ok.txt']);
    // Content indexes must name changes to files, in ascending order.
    c.send({
      type: 'apply',
      id: 15,
      changes: [{ path: 'd', old: null, new: { kind: 'directory' } }],
      content: [0],
    });
    assert.match(errorOf(await c.answer(15)).message, /invalid apply: content/);
    // A content chunk beyond the granted credit is a protocol violation.
    const big = {
      kind: 'file',
      digest: 'b'.repeat(64),
      executable: false,
      size: 100 * 1024 * 1024,
    };
    c.send({
      type: 'apply',
      id: 14,
      changes: [{ path: 'big', old: null, new: big }],
      content: [0],
    });
    // Sent in one burst, faster than the agent can write: far more than one window arrives
    // before its consumer can take any of it.
    for (let i = 0; i < 64; i++) c.sendChunk(14, new Uint8Array(256 * 1024));
    const error = errorOf(await c.waitFor((m) => m.type === 'error' && m.id === undefined));
    assert.match(error.message, /more than its credit/);
    await c.closed;
    await assertHealthy();
  });

  it('refuses path traversal in every message that carries a path', async () => {
    const c = await RawClient.ready(agent.url, fixture.token, '/app');
    let id = 100;
    const digest = sha256('pwned\n');
    for (const path of HOSTILE_PATHS) {
      const requests = [
        { type: 'read', id: ++id, path, digest },
        { type: 'read-contents', id: ++id, files: [{ path, digest, size: 6 }] },
        { type: 'apply', id: ++id, changes: [{ path, old: null, new: { kind: 'directory' } }] },
        {
          type: 'apply',
          id: ++id,
          changes: [{ path, old: null, new: { kind: 'file', digest, executable: false, size: 6 } }],
        },
        { type: 'apply', id: ++id, changes: [{ path, old: { kind: 'directory' }, new: null }] },
        {
          type: 'apply',
          id: ++id,
          changes: [{ path, old: null, new: { kind: 'symlink', target: 'x' } }],
        },
      ];
      for (const request of requests) {
        c.send(request);
        const error = errorOf(await c.answer(request.id));
        assert.equal(error.code, 'bad-message', `${request.type} ${JSON.stringify(path)}`);
        assert.match(error.message, /path/);
      }
    }
    for (const root of ['/../outside', '/app/../../outside', '/a\0b', 'relative', '/a\\..\\..']) {
      const o = await RawClient.connect(agent.url);
      o.send({ type: 'hello', id: 1, version: KSYNC_VERSION, protocol: PROTOCOL_VERSION });
      o.send({ type: 'auth', id: 2, token: fixture.token });
      o.send({ type: 'open', id: 3, root, ignore: [] });
      const error = errorOf(await o.waitFor((m) => m.type === 'error'));
      assert.equal(error.code, 'bad-message', root);
      await o.closed;
    }
    c.close();
    await assertOutsideUntouched();
    await assertHealthy();
  });

  it('never follows a symlink planted inside the root', async () => {
    // Roots through or at a symlink are refused.
    for (const root of ['/evil-root', '/evil-root/sub', '/app/evil', '/app/evil-rel/x']) {
      const o = await RawClient.connect(agent.url);
      o.send({ type: 'hello', id: 1, version: KSYNC_VERSION, protocol: PROTOCOL_VERSION });
      o.send({ type: 'auth', id: 2, token: fixture.token });
      o.send({ type: 'open', id: 3, root, ignore: [] });
      const error = errorOf(await o.waitFor((m) => m.type === 'error'));
      assert.equal(error.code, 'bad-root', root);
      assert.match(error.message, /symlink/, root);
      await o.closed;
    }
    const c = await RawClient.ready(agent.url, fixture.token, '/app');
    // Real content goes with each apply, so that only the path check can stop it.
    const content = 'pwned\n';
    const digest = sha256(content);
    const file = { kind: 'file', digest, executable: false, size: content.length };
    let id = 30;
    for (const link of ['evil', 'evil-rel']) {
      const attempts = [
        [{ path: `${link}/x`, old: null, new: { kind: 'directory' } }],
        [{ path: `${link}/pwned`, old: null, new: file }],
        [
          {
            path: `${link}/secret`,
            old: { kind: 'file', digest: sha256('top secret\n'), executable: false, size: 11 },
            new: file,
          },
        ],
        [
          {
            path: `${link}/secret`,
            old: { kind: 'file', digest: sha256('top secret\n'), executable: false, size: 11 },
            new: null,
          },
        ],
      ];
      for (const changes of attempts) {
        const carried = changes.flatMap((change, i) => (change.new?.kind === 'file' ? [i] : []));
        if (carried.length === 0) {
          c.send({ type: 'apply', id: ++id, changes });
        } else {
          c.send({ type: 'apply', id: ++id, changes, content: carried });
          c.sendChunk(id, Buffer.from(carried.map(() => `\0${content}`).join('')));
          c.send({ type: 'end', id });
        }
        const result = await c.answer(id);
        assert.equal(result.type, 'apply-result', JSON.stringify(result));
        assert.deepEqual(result.applied, [], JSON.stringify(changes));
        const problems = result.problems as { path: string; message: string }[];
        assert.equal(problems.length, 1);
        assert.match(problems[0]?.message ?? '', /symlink|not a directory|refus/);
      }
      c.send({ type: 'read', id: ++id, path: `${link}/secret`, digest: sha256('top secret\n') });
      const read = errorOf(await c.answer(id));
      assert.equal(read.code, 'failed');
      assert.match(read.message, /symlink/);
    }
    assert.equal(c.binary.length, 0, 'no content was sent back');
    // Replacing the planted symlink itself with a directory is refused too (it is not in the
    // scanned state), and writing symlinks that point outside is refused.
    c.send({
      type: 'apply',
      id: ++id,
      changes: [
        { path: 'evil', old: null, new: { kind: 'directory' } },
        { path: 'up', old: null, new: { kind: 'symlink', target: '../../outside' } },
        { path: 'abs', old: null, new: { kind: 'symlink', target: '/etc' } },
      ],
    });
    const result = await c.answer(id);
    assert.deepEqual(result.applied, []);
    assert.equal((result.problems as unknown[]).length, 3);
    assert.ok((await lstat(join(fixture.root, 'app/evil'))).isSymbolicLink());
    await assert.rejects(lstat(join(fixture.root, 'app/up')));
    await assert.rejects(lstat(join(fixture.root, 'app/abs')));
    c.close();
    await assertOutsideUntouched();
    await assertHealthy();
  });
});
