/**
 * The client does not trust the agent either: a fake agent (an in-process `ws` server) that
 * sends hostile or broken messages makes the call fail and the connection drop, and nothing it
 * sends reaches the caller unchecked.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { KSYNC_VERSION, PROTOCOL_VERSION, UserError, encodeChunkFrame } from '@ksync/core';
import { connectRemoteEndpoint } from './client.ts';
import { dialTcp } from './dial.ts';
import { RemoteError } from './errors.ts';

type Script = (ws: WebSocket, message: Record<string, unknown>) => void;

/** The handshake of a well-behaved agent of the same release. */
const acceptHandshake: Script = (ws, m) => {
  if (m.type === 'hello') {
    ws.send(
      JSON.stringify({
        type: 'welcome',
        id: m.id,
        version: KSYNC_VERSION,
        protocol: PROTOCOL_VERSION,
        node: { name: 'node-1', inotify: { maxUserWatches: 8192 }, runtimes: ['containerd'] },
      }),
    );
  } else ws.send(JSON.stringify({ type: 'ok', id: m.id }));
};

/** A fake agent: completes the handshake, then lets `script` answer every request. */
async function withFakeAgent(
  script: Script,
  body: (url: string, dropAll: () => void) => Promise<void>,
  handshake: Script = acceptHandshake,
): Promise<void> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse((data as Buffer).toString('utf8')) as Record<string, unknown>;
      if (['hello', 'auth', 'open'].includes(m.type as string)) handshake(ws, m);
      else script(ws, m);
    });
  });
  try {
    await body(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, () => {
      for (const c of wss.clients) c.terminate();
    });
  } finally {
    for (const c of wss.clients) c.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
}

const options = { token: 't', root: '/app', ignore: [] };
const D = 'a'.repeat(64);

describe('remote endpoint client against a hostile agent', () => {
  it('refuses a scan page with a traversal path and drops the connection', async () => {
    await withFakeAgent(
      (ws, m) => {
        ws.send(
          JSON.stringify({
            type: 'scan-page',
            id: m.id,
            entries: [['../etc/passwd', { kind: 'directory' }]],
            problems: [],
          }),
        );
        ws.send(JSON.stringify({ type: 'scan-done', id: m.id }));
      },
      async (url) => {
        const remote = await connectRemoteEndpoint({ ...options, url });
        await assert.rejects(remote.scan({ full: true }), (error) => {
          assert.ok(error instanceof RemoteError);
          assert.equal(error.code, 'bad-message');
          assert.match(error.message, /"\.\." component/);
          return true;
        });
        assert.equal(remote.connected, false);
        await remote.close();
      },
    );
  });

  it('refuses a scan that breaks snapshot invariants (an entry without its parent)', async () => {
    await withFakeAgent(
      (ws, m) => {
        ws.send(
          JSON.stringify({
            type: 'scan-page',
            id: m.id,
            entries: [
              ['', { kind: 'directory' }],
              ['a/b', { kind: 'directory' }],
            ],
            problems: [],
          }),
        );
        ws.send(JSON.stringify({ type: 'scan-done', id: m.id }));
      },
      async (url) => {
        const remote = await connectRemoteEndpoint({ ...options, url });
        await assert.rejects(remote.scan({ full: true }), /no parent directory/);
        await remote.close();
      },
    );
  });

  it('reports only the changes it asked for, and only digests it asked about', async () => {
    await withFakeAgent(
      (ws, m) => {
        if (m.type === 'apply') {
          ws.send(
            JSON.stringify({
              type: 'apply-result',
              id: m.id,
              applied: [0, 0, 5],
              problems: [{ path: 'x', message: 'bad\u001b[2J\nthing' }],
            }),
          );
        } else if (m.type === 'missing') {
          ws.send(
            JSON.stringify({ type: 'missing-result', id: m.id, digests: [D, 'b'.repeat(64)] }),
          );
        }
      },
      async (url) => {
        const remote = await connectRemoteEndpoint({ ...options, url });
        const change = { path: 'a', old: undefined, new: { kind: 'directory' } as const };
        const result = await remote.apply([change]);
        assert.deepEqual(result.applied, [change]);
        assert.equal(result.problems[0]?.message, 'bad [2J thing');
        assert.deepEqual(await remote.missingContent([D]), [D]);
        await remote.close();
      },
    );
  });

  it('keeps a busy agent whose pongs are late, and drops a silent one', async () => {
    // A scan of a huge directory behind a slow port-forward: pages keep arriving, but the pong
    // waits behind them (found on the cluster with 1,000,000 entries). Here the agent answers
    // no ping at all, and sends pages for six ping intervals before it finishes.
    await withFakeAgent(
      (ws, m) => {
        ws.pong = () => undefined;
        if (m.type !== 'scan') return;
        let pages = 0;
        const timer = setInterval(() => {
          if (++pages < 30) {
            ws.send(JSON.stringify({ type: 'scan-page', id: m.id, entries: [], problems: [] }));
            return;
          }
          clearInterval(timer);
          ws.send(JSON.stringify({ type: 'scan-done', id: m.id }));
        }, 10);
      },
      async (url) => {
        const remote = await connectRemoteEndpoint({ ...options, url, pingIntervalMs: 50 });
        const result = await remote.scan({ full: true });
        assert.equal(result.snapshot.size, 0);
        // Silent now: no pong and nothing else, so it is dropped after two missed pings.
        await assert.rejects(
          new Promise((resolve) => setTimeout(resolve, 400)).then(() =>
            remote.scan({ full: true }),
          ),
          /not connected to the agent|missed two pings/,
        );
        await remote.close();
      },
    );
  });

  it('drops a read stream that sends more than its credit', async () => {
    await withFakeAgent(
      (ws, m) => {
        if (m.type !== 'read') return;
        for (let i = 0; i < 12; i++)
          ws.send(encodeChunkFrame(m.id as number, new Uint8Array(256 * 1024)));
      },
      async (url) => {
        const remote = await connectRemoteEndpoint({ ...options, url });
        // A consumer that takes one chunk and then stalls grants no more credit.
        const stream = remote.readContent('f', D)[Symbol.asyncIterator]();
        assert.equal(((await stream.next()).value as Uint8Array).length, 256 * 1024);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await assert.rejects(async () => {
          for (;;) if ((await stream.next()).done) return;
        }, /more than its credit/);
        assert.equal(remote.connected, false);
        await remote.close();
      },
    );
  });

  it('turns a refused handshake into a one-line UserError', async () => {
    await withFakeAgent(
      () => undefined,
      async (url) => {
        await assert.rejects(connectRemoteEndpoint({ ...options, url }), (error) => {
          assert.ok(error instanceof UserError);
          assert.equal(
            error.message,
            `CLI ${KSYNC_VERSION}, agent 0.0.1: upgrade the agent with \`ksync init --upgrade\``,
          );
          return true;
        });
      },
      (ws, m) => {
        // An old agent that does not check versions itself: the client does.
        if (m.type === 'hello')
          ws.send(
            JSON.stringify({
              type: 'welcome',
              id: m.id,
              version: '0.0.1',
              protocol: PROTOCOL_VERSION,
            }),
          );
        else ws.send(JSON.stringify({ type: 'ok', id: m.id }));
      },
    );
    await withFakeAgent(
      () => undefined,
      async (url) => {
        await assert.rejects(
          connectRemoteEndpoint({ ...options, url, handshakeTimeoutMs: 300 }),
          (error) => {
            assert.ok(error instanceof UserError);
            assert.match(error.message, /no answer within 300 ms/);
            return true;
          },
        );
      },
      () => undefined, // never answers
    );
  });
});

describe('remote endpoint client transport', () => {
  it('runs over any Duplex its dial makes; a dropped connection stays down and says so once', async () => {
    const opens: Record<string, unknown>[] = [];
    const target = {
      kind: 'container',
      namespace: 'default',
      pod: 'web',
      podUid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
      container: 'app',
      containerId: `containerd://${'b'.repeat(64)}`,
      nodeName: 'node-1',
    } as const;
    await withFakeAgent(
      () => undefined,
      async (url, dropAll) => {
        let dials = 0;
        // Not a net.Socket: a plain Duplex over one, as a port-forward stream would be.
        const dial = async (): Promise<Duplex> => {
          dials++;
          const socket = await dialTcp(url)();
          return Duplex.from({ readable: socket, writable: socket });
        };
        const lost: string[] = [];
        const remote = await connectRemoteEndpoint({
          ...options,
          url: 'ws://ksync-agent',
          dial,
          target,
          onLost: (reason) => lost.push(reason),
        });
        assert.equal(dials, 1);
        assert.equal(remote.agent.node?.name, 'node-1');
        assert.deepEqual(opens[0]?.target, target);
        // The agent drops the connection: the client reports it once and never dials again
        // (reconnecting is its owner's job), and calls fail fast with a retryable error.
        dropAll();
        for (let waited = 0; lost.length === 0; waited += 10) {
          assert.ok(waited < 5000, 'no onLost within 5 s');
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(lost.length, 1);
        assert.match(lost[0] ?? '', /lost the connection to the agent/);
        assert.equal(remote.connected, false);
        assert.equal(dials, 1);
        await assert.rejects(remote.scan({ full: true }), (error) => {
          assert.ok(error instanceof RemoteError);
          assert.equal(error.retryable, true);
          return true;
        });
        await remote.close();
        assert.equal(lost.length, 1);
      },
      (ws, m) => {
        if (m.type === 'open') opens.push(m);
        acceptHandshake(ws, m);
      },
    );
  });

  it('names the agent in the error when dialing fails', async () => {
    await assert.rejects(
      connectRemoteEndpoint({
        ...options,
        url: 'ws://ksync-agent',
        dial: () => Promise.reject(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })),
      }),
      /cannot reach the ksync agent at ws:\/\/ksync-agent \(ECONNREFUSED\)/,
    );
  });

  it('an agent that predates restart-facts fails that request alone; the connection stays', async () => {
    await withFakeAgent(
      (ws, m) => {
        if (m.type === 'restart-facts') {
          const error = { code: 'bad-message', message: 'unknown message type', retryable: false };
          ws.send(JSON.stringify({ type: 'error', id: m.id, error }));
        } else ws.send(JSON.stringify({ type: 'missing-result', id: m.id, digests: [D] }));
      },
      async (url) => {
        const remote = await connectRemoteEndpoint({ ...options, url });
        await assert.rejects(remote.readRestartFacts(), (error) => {
          assert.ok(error instanceof RemoteError);
          assert.equal(error.code, 'bad-message');
          return true;
        });
        assert.deepEqual(await remote.missingContent([D]), [D]);
        assert.equal(remote.connected, true);
        await remote.close();
      },
    );
  });
});
