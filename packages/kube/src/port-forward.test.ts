import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import type { KubeTarget } from './config.ts';
import { fakeKubeTarget } from './test-target.ts';
import { KubeForbiddenError } from './errors.ts';
import { PORT_FORWARD_PROTOCOL, dialPortForward } from './port-forward.ts';

/** How the fake API server treats the next connection. */
type Behaviour = (ws: WebSocket) => void;

const PORT = 7475;
const portPrefix = (channel: number): Buffer => Buffer.from([channel, PORT & 0xff, PORT >> 8]);

/** Sends each channel's port prefix, then echoes channel 0 back. */
const echo: Behaviour = (ws) => {
  ws.send(portPrefix(0));
  ws.send(portPrefix(1));
  ws.on('message', (data: Buffer) => ws.send(data));
};

describe('dialPortForward against a fake API server', () => {
  let server: Server;
  let wss: WebSocketServer;
  let behaviour: Behaviour = echo;
  let lastRequest: IncomingMessage | undefined;
  let refuse: { status: number; body: string } | undefined;
  let target: KubeTarget;

  before(async () => {
    server = createServer();
    wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) =>
        protocols.has(PORT_FORWARD_PROTOCOL) ? PORT_FORWARD_PROTOCOL : false,
    });
    server.on('upgrade', (req, socket, head) => {
      lastRequest = req;
      if (refuse !== undefined) {
        socket.end(
          `HTTP/1.1 ${refuse.status} Forbidden\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(refuse.body)}\r\n\r\n${refuse.body}`,
        );
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => behaviour(ws));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    target = fakeKubeTarget(`http://127.0.0.1:${port}`, 'default', 'secret-token');
  });
  beforeEach(() => {
    behaviour = echo;
    refuse = undefined;
  });
  after(async () => {
    wss.close();
    server.close();
    server.closeAllConnections();
    await once(server, 'close');
  });

  const dial = (): Promise<Duplex> =>
    dialPortForward({ target, namespace: 'ksync-system', pod: 'agent-x', port: PORT });

  it('asks for the pod and port with the kubeconfig credentials, and frames data on channel 0', async () => {
    let received: Buffer | undefined;
    behaviour = (ws) => {
      echo(ws);
      ws.once('message', (data: Buffer) => (received = data));
    };
    const stream = await dial();
    assert.equal(
      lastRequest?.url,
      '/api/v1/namespaces/ksync-system/pods/agent-x/portforward?ports=7475',
    );
    assert.equal(lastRequest?.headers.authorization, 'Bearer secret-token');
    stream.write('hello');
    const [back] = (await once(stream, 'data')) as [Buffer];
    assert.equal(back.toString(), 'hello', 'the port prefix is stripped');
    assert.deepEqual(
      received,
      Buffer.from([0, ...Buffer.from('hello')]),
      'one channel byte, no prefix',
    );
    stream.destroy();
  });

  it('strips a port prefix split across messages', async () => {
    behaviour = (ws) => {
      ws.send(Buffer.from([0, PORT & 0xff]));
      ws.send(Buffer.from([0, PORT >> 8, ...Buffer.from('ab')]));
      ws.send(Buffer.from([0, ...Buffer.from('cd')]));
      ws.close();
    };
    const stream = await dial();
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'abcd');
  });

  it('fails the stream with the text of the error channel', async () => {
    behaviour = (ws) => {
      ws.send(portPrefix(0));
      ws.send(portPrefix(1));
      ws.send(
        Buffer.concat([
          Buffer.from([1]),
          Buffer.from('dial tcp4 127.0.0.1:7475: connect: connection refused'),
        ]),
      );
    };
    const stream = await dial();
    stream.resume();
    const [error] = (await once(stream, 'error')) as [Error];
    assert.equal(
      error.message,
      'port-forward to ksync-system/agent-x:7475 failed: dial tcp4 127.0.0.1:7475: connect: connection refused',
    );
  });

  it('ends the stream when the server closes, and closes the WebSocket when we end', async () => {
    let serverSide: WebSocket | undefined;
    behaviour = (ws) => {
      echo(ws);
      serverSide = ws;
    };
    const first = await dial();
    first.resume();
    serverSide?.close();
    await once(first, 'close');
    assert.ok(first.readableEnded);

    const second = await dial();
    const closed = once(serverSide as WebSocket, 'close');
    second.end();
    await closed;
  });

  it('refuses with a forbidden error naming create pods/portforward', async () => {
    refuse = {
      status: 403,
      body: JSON.stringify({
        kind: 'Status',
        reason: 'Forbidden',
        message:
          'pods "agent-x" is forbidden: User "bob" cannot create resource "pods/portforward"',
      }),
    };
    await assert.rejects(dial(), (error: unknown) => {
      assert.ok(error instanceof KubeForbiddenError);
      assert.match(
        error.message,
        /^forbidden: user "bob" cannot create pods\/portforward in namespace "ksync-system"/,
      );
      return true;
    });
  });

  it('holds back a reader that does not read, then delivers everything', async () => {
    const chunk = Buffer.alloc(256 * 1024, 7);
    const count = 64;
    behaviour = (ws) => {
      ws.send(portPrefix(0));
      for (let i = 0; i < count; i++) ws.send(Buffer.concat([Buffer.from([0]), chunk]));
      ws.close();
    };
    const stream = await dial();
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(
      stream.readableLength < 8 * 1024 * 1024,
      `buffered ${stream.readableLength} bytes while nobody read`,
    );
    let total = 0;
    for await (const c of stream) total += (c as Buffer).length;
    assert.equal(total, count * chunk.length);
  });

  it('holds back a writer while the server does not read, then delivers everything', async () => {
    let serverSide: WebSocket | undefined;
    let received = 0;
    behaviour = (ws) => {
      serverSide = ws;
      ws.on('message', (data: Buffer) => (received += data.length - 1));
      // The server stops reading its socket.
      (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    };
    const stream = await dial();
    const chunk = Buffer.alloc(256 * 1024, 1);
    const total = 128;
    let acknowledged = 0;
    const writing = (async () => {
      for (let i = 0; i < total; i++) {
        if (!stream.write(chunk, () => (acknowledged += chunk.length))) await once(stream, 'drain');
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(
      acknowledged < (total * chunk.length) / 2,
      `${acknowledged} of ${total * chunk.length} bytes taken while the server read nothing`,
    );
    (serverSide as unknown as { _socket: { resume(): void } })._socket.resume();
    await writing;
    await new Promise<void>((resolve) => stream.write(Buffer.alloc(0), () => resolve()));
    for (let i = 0; i < 100 && received < total * chunk.length; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(received, total * chunk.length);
    stream.destroy();
  });
});
