/**
 * A raw WebSocket client for hostile-input tests: it speaks (or abuses) the agent protocol by
 * hand and records everything the agent sends.
 */
import WebSocket from 'ws';
import { KSYNC_VERSION, PROTOCOL_VERSION, encodeChunkFrame } from '@ksync/core';

/** A JSON message the agent sent. */
export type Received = Record<string, unknown> & { type: string; id?: number };

/** A hand-driven connection. */
export class RawClient {
  readonly ws: WebSocket;
  readonly received: Received[] = [];
  readonly binary: Buffer[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: (() => void)[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString('utf8') });
        this.#wake();
      }),
    );
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => {
      const bytes = data as Buffer;
      if (isBinary) this.binary.push(bytes);
      else this.received.push(JSON.parse(bytes.toString('utf8')) as Received);
      this.#wake();
    });
  }

  /** Connects without sending anything. */
  static async connect(url: string): Promise<RawClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawClient(ws);
  }

  /** Connects and completes hello, auth and open for `root`. */
  static async ready(
    url: string,
    token: string,
    root = '/',
    ignore: string[] = [],
  ): Promise<RawClient> {
    const c = await RawClient.connect(url);
    c.send({ type: 'hello', id: 1, version: KSYNC_VERSION, protocol: PROTOCOL_VERSION });
    await c.waitFor((m) => m.type === 'welcome');
    c.send({ type: 'auth', id: 2, token });
    await c.waitFor((m) => m.id === 2);
    c.send({ type: 'open', id: 3, root, ignore });
    const opened = await c.waitFor((m) => m.id === 3);
    if (opened.type !== 'ok') throw new Error(`open failed: ${JSON.stringify(opened)}`);
    return c;
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  sendText(text: string): void {
    this.ws.send(text);
  }

  sendBinary(data: Uint8Array): void {
    this.ws.send(data);
  }

  sendChunk(id: number, data: Uint8Array): void {
    this.ws.send(encodeChunkFrame(id, data));
  }

  /** Waits for a received message matching `match` (already received ones count). */
  async waitFor(match: (m: Received) => boolean, timeoutMs = 10_000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find(match);
      if (found) return found;
      if (this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`closed before a match; got ${JSON.stringify(this.received)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out; got ${JSON.stringify(this.received)}`);
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** The answer to request `id` (its error, result or ok). */
  answer(id: number): Promise<Received> {
    return this.waitFor((m) => m.id === id && m.type !== 'credit' && m.type !== 'scan-page');
  }

  close(): void {
    this.ws.close();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
