import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  MAX_BATCH_ITEMS,
  MAX_CHUNK_BYTES,
  MAX_PATH_LENGTH,
  STREAM_WINDOW_BYTES,
  applyResultFromWire,
  changeFromWire,
  changeToWire,
  checkVersions,
  compareVersions,
  decodeChunkFrame,
  encodeChunkFrame,
  oneLine,
  parseClientMessage,
  parseServerMessage,
  splitBatches,
  validateRemoteRoot,
  type Change,
} from '../index.ts';

const D = 'a'.repeat(64);
const TARGET = {
  kind: 'container',
  namespace: 'default',
  pod: 'web-7d4b9c',
  podUid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
  container: 'app',
  containerId: `containerd://${'b'.repeat(64)}`,
  nodeName: '127.0.0.1',
} as const;
const FILE = { kind: 'file', digest: D, executable: false, size: 3 } as const;

function client(message: unknown) {
  return parseClientMessage(JSON.stringify(message));
}

function server(message: unknown) {
  return parseServerMessage(JSON.stringify(message));
}

const HOSTILE_PATHS = [
  '../x',
  '/etc/passwd',
  'a/../../x',
  'a/./b',
  'a//b',
  'a/',
  'x\0y',
  'a\\b',
  '..',
  '.',
  'e\u0301', // not NFC
  'x'.repeat(MAX_PATH_LENGTH + 1),
];

describe('protocol messages', () => {
  it('accepts every valid client message', () => {
    const valid = [
      { type: 'hello', id: 1, version: '0.1.0', protocol: 1 },
      { type: 'auth', id: 2, token: 't' },
      { type: 'open', id: 3, root: '/app', ignore: ['node_modules/'] },
      { type: 'open', id: 3, root: '/', ignore: [] },
      { type: 'open', id: 3, root: '/app', ignore: [], target: TARGET },
      {
        type: 'open',
        id: 3,
        root: '/',
        ignore: [],
        target: { ...TARGET, containerId: `cri-o://${D}`, runtimeClassName: 'runc' },
      },
      { type: 'scan', id: 4, full: true },
      { type: 'missing', id: 5, digests: [D] },
      { type: 'restart-facts', id: 5 },
      { type: 'read', id: 6, path: 'src/a.ts', digest: D },
      { type: 'read-contents', id: 7, files: [{ path: 'src/a.ts', digest: D, size: 0 }] },
      {
        type: 'apply',
        id: 8,
        changes: [
          { path: 'a', old: null, new: { kind: 'directory' } },
          { path: 'a/b', old: FILE, new: null },
          { path: 'a/l', old: null, new: { kind: 'symlink', target: 'b' } },
        ],
      },
      {
        type: 'apply',
        id: 8,
        changes: [
          { path: 'a', old: null, new: FILE },
          { path: 'b', old: FILE, new: FILE },
        ],
        content: [0, 1],
      },
      { type: 'close', id: 9 },
      { type: 'credit', id: 6, bytes: 1024 },
      { type: 'end', id: 7 },
      { type: 'abort', id: 7, error: { code: 'aborted', message: 'stop', retryable: false } },
    ];
    for (const m of valid) {
      const parsed = client(m);
      assert.ok(parsed.ok, `${JSON.stringify(m)}: ${parsed.ok ? '' : parsed.error.message}`);
    }
  });

  it('accepts every valid server message', () => {
    const valid = [
      { type: 'welcome', id: 1, version: '0.1.0', protocol: 1 },
      {
        type: 'welcome',
        id: 1,
        version: '0.1.0',
        protocol: 1,
        node: {
          name: 'node-1',
          inotify: { maxUserWatches: 8192, maxUserInstances: 128 },
          runtimes: ['containerd'],
        },
      },
      {
        type: 'welcome',
        id: 1,
        version: '0.1.0',
        protocol: 1,
        node: { inotify: {}, runtimes: [] },
      },
      { type: 'ok', id: 2 },
      {
        type: 'scan-page',
        id: 3,
        entries: [
          ['', { kind: 'directory' }],
          ['a', FILE],
        ],
        problems: [],
      },
      { type: 'scan-page', id: 3, entries: [], problems: [{ path: 'bad\\name', message: 'x' }] },
      { type: 'scan-done', id: 3 },
      { type: 'missing-result', id: 4, digests: [] },
      { type: 'restart-facts-result', id: 4, mounts: ['', 'data'], changed: ['a', 'data'] },
      { type: 'restart-facts-result', id: 4, mounts: [], changed: null },
      { type: 'apply-result', id: 5, applied: [0, 2], problems: [{ path: 'a', message: 'm' }] },
      { type: 'changed' },
      { type: 'credit', id: 6, bytes: 1 },
      { type: 'end', id: 6 },
      { type: 'error', id: 7, error: { code: 'failed', message: 'm', retryable: true } },
      { type: 'error', error: { code: 'unauthorized', message: 'm', retryable: false } },
    ];
    for (const m of valid) {
      const parsed = server(m);
      assert.ok(parsed.ok, `${JSON.stringify(m)}: ${parsed.ok ? '' : parsed.error.message}`);
    }
  });

  it('refuses malformed JSON, unknown types and schema failures with bad-message', () => {
    const bad = parseClientMessage('{"type":');
    assert.equal(bad.ok, false);
    assert.equal(!bad.ok && bad.error.code, 'bad-message');
    assert.match(!bad.ok ? bad.error.message : '', /not valid JSON/);

    const unknown = client({ type: 'format-disk', id: 1 });
    assert.equal(unknown.ok, false);
    assert.match(!unknown.ok ? unknown.error.message : '', /unknown message type "format-disk"/);

    for (const m of [
      null,
      [],
      'hello',
      { id: 1 },
      { type: 'scan', id: 0, full: true }, // id must be ≥ 1
      { type: 'scan', id: 2 ** 32, full: true },
      { type: 'scan', id: 1.5, full: true },
      { type: 'scan', id: 1, full: 'yes' },
      { type: 'missing', id: 1, digests: ['ABC'] },
      { type: 'missing', id: 1, digests: [D.toUpperCase()] },
      { type: 'read-contents', id: 1, files: [{ path: 'a', digest: D, size: -1 }] },
      { type: 'read-contents', id: 1, files: [{ path: '../a', digest: D, size: 1 }] },
      { type: 'apply', id: 1, changes: [{ path: 'a', old: null, new: FILE }], content: [1] },
      { type: 'apply', id: 1, changes: [{ path: 'a', old: FILE, new: null }], content: [0] },
      {
        type: 'apply',
        id: 1,
        changes: [
          { path: 'a', old: null, new: FILE },
          { path: 'b', old: null, new: FILE },
        ],
        content: [1, 0],
      },
      { type: 'credit', id: 1, bytes: 0 },
      { type: 'credit', id: 1, bytes: STREAM_WINDOW_BYTES + 1 },
      { type: 'apply', id: 1, changes: [{ path: 'a', old: null, new: { kind: 'fifo' } }] },
      { type: 'apply', id: 1, changes: [{ path: 'a', old: null, new: { ...FILE, size: 1e300 } }] },
      { type: 'open', id: 1, root: 'app', ignore: [] },
      { type: 'open', id: 1, root: '/app', ignore: 'x' },
      { type: 'open', id: 1, root: '/app', ignore: [], target: { ...TARGET, kind: 'directory' } },
      { type: 'open', id: 1, root: '/app', ignore: [], target: { ...TARGET, containerId: D } },
      {
        type: 'open',
        id: 1,
        root: '/app',
        ignore: [],
        target: { ...TARGET, containerId: `rkt://${D}` },
      },
      { type: 'open', id: 1, root: '/app', ignore: [], target: { ...TARGET, podUid: 'x' } },
      { type: 'open', id: 1, root: '/app', ignore: [], target: { ...TARGET, pod: '../etc' } },
      { type: 'open', id: 1, root: '/app', ignore: [], target: { ...TARGET, nodeName: '' } },
    ]) {
      const parsed = client(m);
      assert.equal(parsed.ok, false, JSON.stringify(m));
      assert.equal(!parsed.ok && parsed.error.code, 'bad-message');
    }
  });

  it('echoes a usable request id with the error so one bad request fails alone', () => {
    const parsed = client({ type: 'read', id: 42, path: '../x', digest: D });
    assert.equal(parsed.ok, false);
    assert.equal(!parsed.ok && parsed.id, 42);
    assert.match(!parsed.ok ? parsed.error.message : '', /invalid read: path: .*"\.\." component/);
  });

  it('refuses hostile paths in every message that carries one', () => {
    for (const path of HOSTILE_PATHS) {
      const carriers = [
        client({ type: 'read', id: 1, path, digest: D }),
        client({
          type: 'apply',
          id: 1,
          changes: [{ path, old: null, new: { kind: 'directory' } }],
        }),
        client({
          type: 'apply',
          id: 1,
          changes: [
            { path: 'ok', old: null, new: null },
            { path, old: FILE, new: null },
          ],
        }),
        client({ type: 'open', id: 1, root: `/${path}`, ignore: [] }),
        server({ type: 'scan-page', id: 1, entries: [[path, FILE]], problems: [] }),
      ];
      carriers.forEach((parsed, i) => {
        // As a root, `//etc/passwd` and `/a/` are only extra slashes, which are fine.
        if (i === 3 && (path === '/etc/passwd' || path === 'a/')) return;
        assert.equal(parsed.ok, false, `carrier ${i} accepted ${JSON.stringify(path)}`);
      });
    }
    assert.equal(client({ type: 'open', id: 1, root: '/a/../../etc', ignore: [] }).ok, false);
    assert.equal(client({ type: 'open', id: 1, root: '/\0', ignore: [] }).ok, false);
  });

  it('property: any path that passes the schema also passes validatePath unchanged', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (path) => {
        const parsed = client({ type: 'read', id: 1, path, digest: D });
        if (!parsed.ok || path === '') return; // '' is the root itself
        assert.ok(!path.split('/').some((p) => p === '..' || p === '.' || p === ''));
        assert.ok(!path.startsWith('/') && !path.includes('\0') && !path.includes('\\'));
        assert.equal(path, path.normalize('NFC'));
      }),
    );
  });

  it('refuses restart facts with a path that is no sync path, or too many', () => {
    for (const m of [
      { type: 'restart-facts-result', id: 1, mounts: ['../etc'], changed: [] },
      { type: 'restart-facts-result', id: 1, mounts: [], changed: ['/abs'] },
      { type: 'restart-facts-result', id: 1, mounts: [] },
      {
        type: 'restart-facts-result',
        id: 1,
        mounts: [],
        changed: Array.from({ length: MAX_BATCH_ITEMS + 1 }, (_, i) => `f${i}`),
      },
    ]) {
      assert.equal(server(m).ok, false, JSON.stringify(m).slice(0, 80));
    }
  });

  it('enforces batch limits', () => {
    const digests = Array.from({ length: MAX_BATCH_ITEMS + 1 }, () => D);
    assert.equal(client({ type: 'missing', id: 1, digests }).ok, false);
    assert.equal(client({ type: 'missing', id: 1, digests: digests.slice(1) }).ok, true);
    const changes = Array.from({ length: MAX_BATCH_ITEMS + 1 }, (_, i) => ({
      path: `f${i}`,
      old: null,
      new: FILE,
    }));
    assert.equal(client({ type: 'apply', id: 1, changes }).ok, false);
    const entries = Array.from({ length: MAX_BATCH_ITEMS + 1 }, (_, i) => [`f${i}`, FILE]);
    assert.equal(server({ type: 'scan-page', id: 1, entries, problems: [] }).ok, false);
  });

  it('round-trips changes and rebuilds apply results from indexes only', () => {
    const changes: Change[] = [
      { path: 'a', old: undefined, new: { kind: 'directory' } },
      { path: 'a/f', old: FILE, new: undefined },
    ];
    const wire = changes.map(changeToWire);
    assert.deepEqual(
      (JSON.parse(JSON.stringify(wire)) as typeof wire).map(changeFromWire),
      changes,
    );
    const result = applyResultFromWire(
      changes,
      [1, 1, 7],
      [{ path: 'a', message: 'x\x1b[31m\ny' }],
    );
    assert.deepEqual(result.applied, [changes[1]]);
    assert.equal(result.problems[0]?.message, 'x [31m y');
  });

  it('splits batches by count and by size', () => {
    const small = Array.from({ length: 25_000 }, (_, i) => i);
    assert.deepEqual(
      splitBatches(small, 1e9).map((b) => b.length),
      [MAX_BATCH_ITEMS, MAX_BATCH_ITEMS, 5000],
    );
    const big = Array.from({ length: 10 }, () => 'x'.repeat(1000));
    const batches = splitBatches(big, 3000);
    assert.ok(batches.every((b) => b.length <= 2));
    assert.equal(batches.flat().length, 10);
  });
});

describe('protocol framing', () => {
  it('round-trips chunk frames', () => {
    const data = Uint8Array.from([1, 2, 3]);
    const frame = encodeChunkFrame(0xdeadbeef, data);
    assert.equal(frame.length, 8);
    const decoded = decodeChunkFrame(frame);
    assert.ok(decoded.ok);
    assert.equal(decoded.id, 0xdeadbeef);
    assert.deepEqual([...decoded.data], [1, 2, 3]);
  });

  it('refuses short, unknown, empty-stream and oversized frames', () => {
    assert.equal(decodeChunkFrame(new Uint8Array(5)).ok, false);
    assert.equal(decodeChunkFrame(Uint8Array.from([9, 0, 0, 0, 1, 1])).ok, false);
    assert.equal(decodeChunkFrame(Uint8Array.from([1, 0, 0, 0, 0, 1])).ok, false);
    assert.equal(decodeChunkFrame(encodeChunkFrame(1, new Uint8Array(MAX_CHUNK_BYTES))).ok, true);
    assert.equal(
      decodeChunkFrame(encodeChunkFrame(1, new Uint8Array(MAX_CHUNK_BYTES + 1))).ok,
      false,
    );
  });
});

describe('protocol handshake', () => {
  it('compares versions numerically', () => {
    assert.equal(compareVersions('0.10.0', '0.9.3'), 1);
    assert.equal(compareVersions('0.1.0', '0.1.0'), 0);
    assert.equal(compareVersions('1.0', '1.0.1'), -1);
  });

  it('says which side to upgrade', () => {
    const same = { cliVersion: '0.1.0', cliProtocol: 1, agentVersion: '0.1.0', agentProtocol: 1 };
    assert.equal(checkVersions(same), undefined);
    assert.equal(
      checkVersions({ ...same, cliVersion: '0.2.0' }),
      'CLI 0.2.0, agent 0.1.0: upgrade the agent with `ksync init --upgrade`',
    );
    assert.match(
      checkVersions({ ...same, agentVersion: '0.3.0' }) ?? '',
      /^CLI 0\.1\.0, agent 0\.3\.0: upgrade the CLI to 0\.3\.0/,
    );
    assert.equal(
      checkVersions({ ...same, cliProtocol: 2 }),
      'CLI 0.1.0 (protocol 2), agent 0.1.0 (protocol 1): upgrade the agent with `ksync init --upgrade`',
    );
    assert.match(
      checkVersions({ ...same, agentProtocol: 2 }) ?? '',
      /^CLI 0\.1\.0 \(protocol 1\), agent 0\.1\.0 \(protocol 2\): upgrade the CLI/,
    );
  });

  it('maps remote roots below the agent directory', () => {
    assert.equal(validateRemoteRoot('/'), '');
    assert.equal(validateRemoteRoot('/app'), 'app');
    assert.equal(validateRemoteRoot('/srv/app/'), 'srv/app');
    assert.throws(() => validateRemoteRoot('app'), /absolute/);
    assert.throws(() => validateRemoteRoot('/a/../b'), /\.\./);
  });

  it('makes untrusted text one safe line', () => {
    assert.equal(oneLine('a\nb\x1b]0;pwned\x07c'), 'a b ]0;pwned c');
    assert.equal(oneLine('x'.repeat(5000)).length, 1000);
  });
});
