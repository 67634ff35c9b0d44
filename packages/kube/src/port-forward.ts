/**
 * `dialPortForward()`: one TCP connection to a port of a pod, as a Duplex, over the API server's
 * pod `portforward` WebSocket. Our own thin client on `ws` rather than client-node's
 * `PortForward`, which propagates no close, has no backpressure and swallows errors after open
 * (shared/docs/kubernetes-research.md §1.2).
 *
 * Protocol (`v4.channel.k8s.io`, served by every API server and kubelet): each WebSocket message
 * is `[channel byte][payload]`; for the one port asked for, channel 0 carries data both ways and
 * channel 1 carries errors from the server. The server starts each of its channels with the port
 * as a 2-byte little-endian number, which is stripped here. One WebSocket is exactly one TCP
 * connection; there is no half-close, so ending our side closes the whole stream.
 *
 * Invariants:
 * - Auth and TLS come from the kubeconfig through client-node's `applyToHTTPSOptions`, applied
 *   again on every dial so that expiring exec-plugin tokens are refreshed.
 * - Text on the error channel destroys the stream with that error; a WebSocket that closes
 *   ends the stream (or destroys it, if an error came first), and destroying the stream closes
 *   the WebSocket.
 * - Backpressure both ways: the socket is paused while the reader is full, and writes wait for
 *   the WebSocket to flush once more than `WRITE_HIGH_WATER` bytes are buffered.
 */
import { Duplex } from 'node:stream';
import WebSocket, { type ClientOptions, type RawData } from 'ws';
import { UserError, oneLine } from '@ksync/core';
import type { KubeTarget } from './config.ts';
import { fromStatus, parseStatusBody, toKubeError, type KubeAction } from './errors.ts';
import { toBuffer } from './ws-data.ts';

/** The only port-forward subprotocol the kubelet's WebSocket server speaks with binary data. */
export const PORT_FORWARD_PROTOCOL = 'v4.channel.k8s.io';

const DATA_CHANNEL = 0;
const ERROR_CHANNEL = 1;
/** Above this many unsent bytes, a write waits until the WebSocket has flushed. */
const WRITE_HIGH_WATER = 1024 * 1024;

/** Where to port-forward to. */
export interface PortForwardOptions {
  readonly target: KubeTarget;
  readonly namespace: string;
  readonly pod: string;
  readonly port: number;
  /** Longest wait for the WebSocket upgrade (default 10000 ms). */
  readonly timeoutMs?: number;
}

/** Opens a port-forward stream; rejects with a one-line `UserError` when it cannot. */
export async function dialPortForward(opts: PortForwardOptions): Promise<Duplex> {
  const { target, namespace, pod, port } = opts;
  const url = new URL(
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/portforward`,
    target.server.replace(/\/*$/, '/'),
  );
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  url.searchParams.set('ports', String(port));
  const wsOptions: ClientOptions = {
    perMessageDeflate: false,
    handshakeTimeout: opts.timeoutMs ?? 10_000,
  };
  const action: KubeAction = { verb: 'create', resource: 'pods/portforward', namespace, name: pod };
  try {
    await target.kc.applyToHTTPSOptions(wsOptions);
  } catch (error) {
    throw new UserError(
      `cannot use the credentials of context "${target.context}": ${oneLine(String(error))}`,
    );
  }
  const ws = new WebSocket(url, [PORT_FORWARD_PROTOCOL], wsOptions);
  ws.binaryType = 'nodebuffer';
  return new Promise<Duplex>((resolve, reject) => {
    const fail = (error: Error): void => {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      reject(error);
    };
    ws.once('open', () => {
      ws.removeAllListeners();
      if (ws.protocol !== PORT_FORWARD_PROTOCOL) {
        fail(
          new UserError(
            `the API server at ${target.server} does not speak ${PORT_FORWARD_PROTOCOL} for port-forward`,
          ),
        );
        return;
      }
      // Listen before anything else runs: the server sends the port prefixes right away.
      resolve(new PortForwardStream(ws, `${namespace}/${pod}:${port}`));
    });
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = parseStatusBody(Buffer.concat(chunks));
        fail(fromStatus({ status: res.statusCode ?? 0, body, action, endpoint: target }));
      });
      res.on('error', (error) => fail(toKubeError(error, action, target)));
    });
    ws.once('error', (error) => fail(toKubeError(error, action, target)));
  });
}

/** The Duplex over one open port-forward WebSocket. */
class PortForwardStream extends Duplex {
  readonly #ws: WebSocket;
  readonly #where: string;
  /** Port-prefix bytes still to strip per server channel. */
  readonly #prefixLeft = [2, 2];
  #error: Error | undefined;

  constructor(ws: WebSocket, where: string) {
    super({ allowHalfOpen: false });
    this.#ws = ws;
    this.#where = where;
    ws.on('message', (data: RawData) => this.#onMessage(toBuffer(data)));
    ws.on('error', (error) => this.destroy(error));
    ws.on('close', () => {
      if (this.#error !== undefined) this.destroy(this.#error);
      else {
        this.push(null);
        // No half-close: the other direction is gone too.
        if (!this.writableEnded) this.end();
      }
    });
  }

  #onMessage(message: Buffer): void {
    if (message.length === 0) return;
    const channel = message[0] ?? -1;
    let payload = message.subarray(1);
    const prefix = this.#prefixLeft[channel];
    if (prefix !== undefined && prefix > 0) {
      const strip = Math.min(prefix, payload.length);
      this.#prefixLeft[channel] = prefix - strip;
      payload = payload.subarray(strip);
    }
    if (payload.length === 0) return;
    if (channel === DATA_CHANNEL) {
      if (!this.push(payload)) this.#ws.pause();
    } else if (channel === ERROR_CHANNEL) {
      this.#error ??= new UserError(
        `port-forward to ${this.#where} failed: ${oneLine(payload.toString('utf8'))}`,
      );
      this.#ws.close();
    }
  }

  override _read(): void {
    if (this.#ws.isPaused) this.#ws.resume();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      callback(this.#error ?? new UserError(`port-forward to ${this.#where} is closed`));
      return;
    }
    const frame = Buffer.allocUnsafe(chunk.length + 1);
    frame[0] = DATA_CHANNEL;
    chunk.copy(frame, 1);
    if (this.#ws.bufferedAmount + frame.length <= WRITE_HIGH_WATER) {
      this.#ws.send(frame);
      callback();
    } else {
      this.#ws.send(frame, (error) => callback(error));
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#ws.close(1000);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.terminate();
    }
    callback(error);
  }

  /** Socket stubs, so that the stream can serve as `ws`'s `createConnection` result. */
  setTimeout(): this {
    return this;
  }
  /** See `setTimeout`. */
  setNoDelay(): this {
    return this;
  }
  /** See `setTimeout`. */
  setKeepAlive(): this {
    return this;
  }
}
