/**
 * The node agent's server: one HTTP listener that answers `GET /healthz` and `GET /metrics` and
 * upgrades WebSocket connections. Each connection walks through hello (version check) → auth
 * (token) → open (which target and remote root, ignore patterns) and then serves one
 * `LocalEndpoint` for that root until it closes. The agent holds no sync history: everything it
 * knows lives in that endpoint and goes away with the connection. One process serves any number
 * of connections; their requests interleave on the event loop, and content moves in credit-sized
 * chunks, so a large transfer on one connection does not hold up another's.
 *
 * Security: the client is not trusted. Every message is schema-checked (paths included) before
 * anything happens; the root resolver (roots/) maps the open to a directory with the confined
 * resolver (no symlink is followed in any component) and the endpoint does the same for every
 * path it touches; limits on frames, batches, streams and in-flight requests bound what one
 * connection can make the agent hold.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  BATCH_TARGET_BYTES,
  CHUNK_HEADER_BYTES,
  KSYNC_VERSION,
  MAX_FRAME_BYTES,
  MAX_BATCH_ITEMS,
  MAX_IN_FLIGHT,
  PROTOCOL_VERSION,
  changeFromWire,
  checkVersions,
  decodeChunkFrame,
  parseClientMessage,
  splitBatches,
  wireError,
  type Change,
  type ClientMessage,
  type NodeFacts,
  type ScanResult,
  type ServerMessage,
  type WireEntry,
  type WireError,
} from '@ksync/core';
import { hashFile, openLocalEndpoint, type LocalEndpoint } from '@ksync/fs';
import { errorMessage } from './errors.ts';
import type { Logger } from './log.ts';
import { AgentMetrics } from './metrics.ts';
import { METRICS_CONTENT_TYPE } from './prometheus.ts';
import type { RootResolver, ServedRoot } from './roots/resolver.ts';
import { bucketSnapshot } from './snapshot-buckets.ts';
import { CreditSender, StreamReceiver, framesOf } from './streams.ts';
import { tokensMatch } from './token.ts';

/** How to run the agent server. */
export interface AgentServerOptions {
  readonly host: string;
  /** 0 picks a free port (see `AgentServer.port`). */
  readonly port: number;
  /** Maps each `open` to the directory to serve (roots/directory.ts, roots/container.ts). */
  readonly resolver: RootResolver;
  readonly token: string;
  /** The node facts sent in `welcome`. */
  readonly nodeFacts: () => NodeFacts;
  readonly log: Logger;
  /**
   * A directory the agent owns for staging into roots that do not exist yet; emptied when the
   * server starts (leftovers of a crash) and when it closes.
   */
  readonly stagingDir: string;
  /**
   * A directory the agent keeps across its restarts (never emptied): one stat cache file per
   * served root path (stat-cache-file.ts says why that is safe); files not written for a week
   * are removed at start. Without it every connection hashes its root again.
   */
  readonly stateDir?: string;
  /** WebSocket ping interval; a peer that misses two pongs is dropped (default 5000 ms). */
  readonly pingIntervalMs?: number;
}

/** A running agent server. */
export interface AgentServer {
  readonly port: number;
  /** Open connections. */
  connections(): number;
  /** The counters behind `/metrics`. */
  readonly metrics: AgentMetrics;
  /** Closes every connection and endpoint, then the listener. */
  close(): Promise<void>;
}

/** Starts the agent server; resolves once it listens. */
export async function serveAgent(options: AgentServerOptions): Promise<AgentServer> {
  await rm(options.stagingDir, { recursive: true, force: true });
  await mkdir(options.stagingDir, { recursive: true, mode: 0o700 });
  if (options.stateDir !== undefined) await pruneStateDir(options.stateDir);
  const connections = new Set<AgentConnection>();
  const metrics = new AgentMetrics();
  const http: Server = createServer((req, res) => answerHttp(req, res, metrics));
  const wss = new WebSocketServer({
    server: http,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
  });
  let nextConnection = 1;
  wss.on('connection', (ws, req) => {
    const log = options.log.child({
      conn: nextConnection++,
      peer: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`,
    });
    const connection = new AgentConnection(ws, options, log, metrics);
    connections.add(connection);
    log.info('connection opened');
    ws.on('close', (code, reason) => {
      connections.delete(connection);
      connection.cleanup();
      log.info('connection closed', { code, reason: reason.toString('utf8') });
    });
  });
  let listening = false;
  // A failure to listen rejects serveAgent below; only later errors are logged here.
  wss.on('error', (error) => {
    if (listening) options.log.error('websocket server error', { error: error.message });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  listening = true;
  const port = (http.address() as AddressInfo).port;
  return {
    port,
    metrics,
    connections: () => connections.size,
    async close() {
      for (const c of connections) c.terminate(1001, 'agent shutting down');
      await Promise.all([...connections].map((c) => c.closed));
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await rm(options.stagingDir, { recursive: true, force: true });
    },
  };
}

/** The stat cache file of one served root path (a `/proc/<pid>/root/...` path for a container). */
function statCacheFileOf(stateDir: string, root: string): string {
  return join(
    stateDir,
    `${createHash('sha256').update(root).digest('hex').slice(0, 32)}${STAT_CACHE_SUFFIX}`,
  );
}

const STAT_CACHE_SUFFIX = '.stat-cache';
/** Stat caches not written for this long belong to containers long gone. */
const STATE_MAX_AGE_MS = 7 * 24 * 3600_000;

/** Creates the state directory and removes stat caches (and leftover temp files) of the past. */
async function pruneStateDir(stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const now = Date.now();
  for (const name of await readdir(stateDir)) {
    const path = join(stateDir, name);
    const stats = await stat(path).catch(() => undefined);
    const stale = stats !== undefined && now - stats.mtimeMs > STATE_MAX_AGE_MS;
    if (name.endsWith('.tmp') || (name.endsWith(STAT_CACHE_SUFFIX) && stale)) {
      await rm(path, { force: true });
    }
  }
}

function answerHttp(req: IncomingMessage, res: ServerResponse, metrics: AgentMetrics): void {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', version: KSYNC_VERSION }));
    return;
  }
  if (req.method === 'GET' && req.url === '/metrics') {
    res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
    res.end(metrics.render());
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: 'not found' }));
}

type Phase = 'hello' | 'auth' | 'open' | 'ready' | 'closed';

/** One client connection and the endpoint it opened. */
class AgentConnection {
  readonly #ws: WebSocket;
  readonly #o: AgentServerOptions;
  readonly #log: Logger;
  readonly #metrics: AgentMetrics;
  #phase: Phase = 'hello';
  /** Set once the connection was refused: nothing the peer sends afterwards is looked at. */
  #refused = false;
  #endpoint: LocalEndpoint | undefined;
  /** The opened root; checked before every request (a container may have stopped). */
  #served: ServedRoot | undefined;
  #unwatch: (() => void) | undefined;
  /** Requests in flight by id (including open content streams). */
  readonly #inFlight = new Set<number>();
  /** Content streams the client sends with its applies, by request id. */
  readonly #incoming = new Map<number, StreamReceiver>();
  readonly #reads = new Map<number, CreditSender>();
  readonly #ping: NodeJS.Timeout;
  #alive = true;
  #missed = 0;
  /** The number of the last scan result sent (0: none yet); see `#sendScan`. */
  #generation = 0;
  readonly closed: Promise<void>;

  constructor(ws: WebSocket, options: AgentServerOptions, log: Logger, metrics: AgentMetrics) {
    this.#ws = ws;
    this.#o = options;
    this.#log = log;
    this.#metrics = metrics;
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
    // Anything the client sends proves it alive, not only a pong (see the client's pings).
    ws.on('message', (data, isBinary) => {
      this.#alive = true;
      this.#onMessage(data, isBinary);
    });
    ws.on('pong', () => (this.#alive = true));
    ws.on('error', (error) => log.warn('connection error', { error: error.message }));
    this.#ping = setInterval(() => this.#checkAlive(), options.pingIntervalMs ?? 5000);
    this.#ping.unref();
  }

  /** Releases everything the connection holds; called once the socket is closed. */
  cleanup(): void {
    if (this.#phase === 'closed') return;
    if (this.#served !== undefined) this.#metrics.openTargets--;
    this.#phase = 'closed';
    clearInterval(this.#ping);
    const lost = new Error('connection closed');
    for (const receiver of this.#incoming.values()) receiver.fail(lost);
    for (const sender of this.#reads.values()) sender.abort(lost);
    this.#incoming.clear();
    this.#reads.clear();
    this.#unwatch?.();
    const endpoint = this.#endpoint;
    this.#endpoint = undefined;
    endpoint?.close().catch((error: unknown) => {
      this.#log.warn('closing the endpoint failed', { error: errorMessage(error) });
    });
  }

  /** Sends a final error (without id) and closes the connection. */
  refuse(error: WireError, code = 1008): void {
    if (this.#refused) return;
    this.#refused = true;
    this.#log.warn('connection refused', { code: error.code, error: error.message });
    this.#send({ type: 'error', error });
    this.terminate(code, error.code);
  }

  terminate(code: number, reason: string): void {
    // Close politely (the peer reads the error frame before the close); only a socket that is
    // not open yet is cut at once.
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(code, reason);
    else if (this.#ws.readyState !== this.#ws.CLOSING) this.#ws.terminate();
    // A peer that never completes the closing handshake is cut off.
    setTimeout(() => this.#ws.terminate(), 2000).unref();
  }

  #checkAlive(): void {
    if (this.#alive) {
      this.#alive = false;
      this.#missed = 0;
    } else if (++this.#missed >= 2) {
      this.#log.warn('peer missed two pings; dropping the connection');
      this.#ws.terminate();
      return;
    }
    this.#ws.ping();
  }

  #send(message: ServerMessage): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(JSON.stringify(message));
  }

  /** Sends a binary frame; waits for the socket to drain when a lot is buffered. */
  async #sendBinary(frame: Uint8Array): Promise<void> {
    if (this.#ws.readyState !== this.#ws.OPEN) throw new Error('connection closed');
    await this.#write(frame);
  }

  /**
   * Sends one of many messages in a row (the pages of a large scan result); waits for the socket
   * to drain when a lot is buffered, so that a million-entry result neither piles up in memory
   * nor holds the event loop (pings, the liveness probe) until the last page is queued.
   */
  async #sendPaced(message: ServerMessage): Promise<void> {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    await this.#write(JSON.stringify(message));
  }

  #write(data: string | Uint8Array): Promise<void> {
    if (this.#ws.bufferedAmount < MAX_FRAME_BYTES) {
      this.#ws.send(data);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) =>
      this.#ws.send(data, (error) => (error ? reject(error) : resolve())),
    );
  }

  #fail(id: number, error: WireError): void {
    this.#send({ type: 'error', id, error });
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#phase === 'closed' || this.#refused) return;
    const bytes = toBuffer(data);
    if (isBinary) {
      this.#onChunk(bytes);
      return;
    }
    const parsed = parseClientMessage(bytes.toString('utf8'));
    if (!parsed.ok) {
      this.#log.warn('bad message', { error: parsed.error.message });
      // A bad request with a usable id fails alone once the connection is ready; anything else
      // means the peer does not speak the protocol, and it is cut off.
      if (parsed.id !== undefined && this.#phase === 'ready') this.#fail(parsed.id, parsed.error);
      else this.refuse(parsed.error);
      return;
    }
    this.#dispatch(parsed.message);
  }

  #onChunk(bytes: Uint8Array): void {
    if (this.#phase !== 'ready') {
      this.refuse(wireError('not-ready', 'content before the connection was opened'));
      return;
    }
    const chunk = decodeChunkFrame(bytes);
    if (!chunk.ok) {
      this.refuse(wireError('bad-message', chunk.message));
      return;
    }
    // Chunks for a stream that already ended or failed are dropped: they were in flight.
    const receiver = this.#incoming.get(chunk.id);
    if (receiver && !receiver.push(chunk.data)) {
      this.refuse(wireError('too-large', `stream ${chunk.id} sent more than its credit`));
    }
  }

  #dispatch(message: ClientMessage): void {
    switch (message.type) {
      case 'hello':
        this.#hello(message);
        return;
      case 'auth':
        this.#auth(message);
        return;
      case 'open':
        this.#open(message);
        return;
      default:
        break;
    }
    // Stream control and requests need an open connection; anything earlier means the peer
    // does not follow the protocol (no stream can exist yet), so it is refused, not ignored.
    if (this.#phase !== 'ready') {
      this.refuse(
        wireError(
          'not-ready',
          `${message.type} before hello, auth and open; closing the connection`,
        ),
      );
      return;
    }
    switch (message.type) {
      // Stream control for a stream that already ended is dropped: it was in flight.
      case 'credit':
        this.#reads.get(message.id)?.grant(message.bytes);
        return;
      case 'end':
        this.#incoming.get(message.id)?.end();
        return;
      case 'abort': {
        const error = new Error(`aborted by the client: ${message.error.message}`);
        this.#incoming.get(message.id)?.fail(error);
        this.#reads.get(message.id)?.abort(error);
        return;
      }
      default:
        break;
    }
    if (this.#inFlight.has(message.id)) {
      this.#fail(
        message.id,
        wireError('bad-message', `request id ${message.id} is already in use`),
      );
      return;
    }
    if (this.#inFlight.size >= MAX_IN_FLIGHT) {
      this.#fail(
        message.id,
        wireError('too-large', `more than ${MAX_IN_FLIGHT} requests in flight`, true),
      );
      return;
    }
    const endpoint = this.#endpoint;
    if (endpoint === undefined) return;
    // A target that is gone fails every request but `close`, which still releases the endpoint.
    const gone = message.type === 'close' ? undefined : this.#served?.check();
    if (gone !== undefined) {
      this.#metrics.addError(message.type);
      this.#fail(message.id, gone);
      return;
    }
    this.#inFlight.add(message.id);
    const id = message.id;
    this.#serve(endpoint, message)
      .catch((error: unknown) => {
        // The operator sees failures too (a full disk, permissions), not only the client.
        this.#metrics.addError(message.type);
        this.#log.warn('request failed', { type: message.type, error: errorMessage(error) });
        this.#fail(id, wireError('failed', errorMessage(error), true));
      })
      .finally(() => this.#inFlight.delete(id));
  }

  #hello(message: Extract<ClientMessage, { type: 'hello' }>): void {
    if (this.#phase !== 'hello') {
      this.refuse(wireError('not-ready', 'hello sent twice'));
      return;
    }
    const refusal = checkVersions({
      cliVersion: message.version,
      cliProtocol: message.protocol,
      agentVersion: KSYNC_VERSION,
      agentProtocol: PROTOCOL_VERSION,
    });
    // The welcome goes out either way, so an old or new client learns the agent's version.
    this.#send({
      type: 'welcome',
      id: message.id,
      version: KSYNC_VERSION,
      protocol: PROTOCOL_VERSION,
      node: this.#o.nodeFacts(),
    });
    if (refusal !== undefined) {
      this.refuse(wireError('version-mismatch', refusal));
      return;
    }
    this.#phase = 'auth';
  }

  #auth(message: Extract<ClientMessage, { type: 'auth' }>): void {
    if (this.#phase !== 'auth') {
      this.refuse(wireError('not-ready', 'auth must come right after hello'));
      return;
    }
    if (!tokensMatch(message.token, this.#o.token)) {
      this.refuse(wireError('unauthorized', 'the agent refused the token'));
      return;
    }
    this.#send({ type: 'ok', id: message.id });
    this.#phase = 'open';
  }

  #open(message: Extract<ClientMessage, { type: 'open' }>): void {
    if (this.#phase !== 'open') {
      this.refuse(wireError('not-ready', 'open must come right after auth'));
      return;
    }
    const resolved = this.#o.resolver.resolve(message);
    if (!resolved.ok) {
      this.#metrics.addError('open');
      this.refuse(resolved.error);
      return;
    }
    const { served } = resolved;
    const endpoint = openLocalEndpoint({
      root: served.root,
      ignore: message.ignore,
      // The client sends the complete rules; the container's copy of the file never decides.
      ignoreFile: false,
      stagingDir: this.#o.stagingDir,
      hasher: (absolute, stats) => {
        this.#metrics.addHashed();
        return hashFile(absolute, stats);
      },
      ...(this.#o.stateDir === undefined
        ? {}
        : { statCacheFile: statCacheFileOf(this.#o.stateDir, served.root) }),
      onWarning: (warning) => this.#log.warn(warning),
    });
    this.#endpoint = endpoint;
    this.#served = served;
    this.#metrics.openTargets++;
    this.#unwatch = endpoint.watch(() => this.#send({ type: 'changed' }));
    this.#phase = 'ready';
    this.#log.info('endpoint opened', { ...served.fields, absolute: served.root });
    this.#send({ type: 'ok', id: message.id });
  }

  async #serve(endpoint: LocalEndpoint, message: ClientMessage): Promise<void> {
    switch (message.type) {
      case 'scan': {
        const result = await endpoint.scan({
          full: message.full,
          ...(message.ignore === undefined ? {} : { ignore: message.ignore }),
        });
        await this.#sendScan(message.id, result, {
          base: message.base,
          expected: message.buckets,
        });
        return;
      }
      case 'restart-facts': {
        // A directory served in direct mode never restarts: it has no facts to tell.
        const root = this.#served?.readRestartFacts?.();
        const changed =
          root === undefined
            ? { paths: [], truncated: false }
            : await endpoint.readChangedSince({
                sinceNs: root.startedAtNs,
                skip: root.mounts,
                maxPaths: MAX_BATCH_ITEMS,
                maxBytes: BATCH_TARGET_BYTES,
              });
        this.#send({
          type: 'restart-facts-result',
          id: message.id,
          mounts: [...(root?.mounts ?? [])],
          changed: changed.truncated ? null : changed.paths,
        });
        return;
      }
      case 'missing': {
        const digests = await endpoint.missingContent(message.digests);
        this.#send({ type: 'missing-result', id: message.id, digests });
        return;
      }
      case 'signatures': {
        const signatures =
          (await endpoint.readSignatures?.(message.files)) ?? message.files.map(() => undefined);
        this.#send({
          type: 'signatures-result',
          id: message.id,
          signatures: signatures.map((s) => s ?? null),
        });
        return;
      }
      case 'read':
        if (
          await this.#sendStream(message.id, endpoint.readContent(message.path, message.digest))
        ) {
          this.#metrics.addFiles('out', 1);
          this.#send({ type: 'end', id: message.id });
        }
        return;
      case 'read-contents':
        if (await this.#sendStream(message.id, endpoint.readContents(message.files))) {
          this.#metrics.addFiles('out', message.files.length);
          this.#send({ type: 'end', id: message.id });
        }
        return;
      case 'apply': {
        const changes = message.changes.map(changeFromWire);
        const started = performance.now();
        const content = message.content === undefined ? undefined : this.#receive(message.id);
        const result = await endpoint
          .apply(changes, content && { indexes: message.content ?? [], stream: content })
          .finally(() => this.#incoming.delete(message.id));
        this.#metrics.observeApply((performance.now() - started) / 1000, result.problems.length);
        this.#metrics.addFiles('in', result.applied.filter((c) => c.new?.kind === 'file').length);
        const applied = indexesOf(changes, result.applied);
        const carried = new Set(message.content);
        for (const index of applied) {
          const entry = changes[index]?.new;
          if (carried.has(index) && entry?.kind === 'file')
            this.#metrics.addBytes('in', entry.size);
        }
        if (result.problems.length > 0) {
          this.#log.warn('changes did not land', {
            count: result.problems.length,
            problems: result.problems.slice(0, 5),
          });
        }
        this.#send({
          type: 'apply-result',
          id: message.id,
          applied,
          problems: [...result.problems],
        });
        return;
      }
      case 'close':
        this.#unwatch?.();
        this.#unwatch = undefined;
        await endpoint.close();
        this.#send({ type: 'ok', id: message.id });
        this.terminate(1000, 'closed');
        return;
      default:
        return;
    }
  }

  /**
   * Sends a scan result: only its changes when the client holds the previous result (its `base`
   * is the last generation sent on this connection) and the endpoint says what changed since;
   * otherwise the buckets whose digests differ from the ones the client `expected`, or the whole
   * snapshot. Either way the result gets the next generation number.
   */
  async #sendScan(
    id: number,
    result: ScanResult,
    client: { base: number | undefined; expected: readonly string[] | undefined },
  ): Promise<void> {
    const { base, expected } = client;
    const delta = base !== undefined && base === this.#generation && result.changes !== undefined;
    this.#generation = this.#generation >= 0xffff_ffff ? 1 : this.#generation + 1;
    const { snapshot } = result;
    const entries: [string, WireEntry][] = [];
    const removed: string[] = [];
    let differing: number[] | undefined;
    if (delta) {
      for (const path of result.changes?.keys() ?? []) {
        const entry = snapshot.get(path);
        if (entry === undefined) removed.push(path);
        else entries.push([path, entry]);
      }
    } else if (expected !== undefined) {
      const own = bucketSnapshot(snapshot);
      differing = [];
      own.digests.forEach((digest, bucket) => {
        if (digest === expected[bucket]) return;
        differing?.push(bucket);
        entries.push(...(own.entries[bucket] ?? []));
      });
    } else {
      for (const item of snapshot) entries.push(item);
    }
    const entryPages = splitBatches(entries, BATCH_TARGET_BYTES);
    const removedPages = splitBatches(removed, BATCH_TARGET_BYTES);
    const problemPages = splitBatches(result.problems, BATCH_TARGET_BYTES);
    const pages = Math.max(entryPages.length, removedPages.length, problemPages.length);
    for (let i = 0; i < pages; i++) {
      const gone = removedPages[i];
      await this.#sendPaced({
        type: 'scan-page',
        id,
        entries: entryPages[i] ?? [],
        ...(gone === undefined ? {} : { removed: gone }),
        problems: [...(problemPages[i] ?? [])],
      });
    }
    await this.#sendPaced({
      type: 'scan-done',
      id,
      generation: this.#generation,
      delta,
      ...(differing === undefined ? {} : { buckets: differing }),
    });
  }

  /**
   * Sends `stream` as chunk frames on stream `id` within the client's credit; returns false when
   * the client cancelled it (it has forgotten the request already: nothing more is said).
   */
  async #sendStream(id: number, stream: AsyncIterable<Uint8Array>): Promise<boolean> {
    const sender = new CreditSender();
    this.#reads.set(id, sender);
    try {
      for await (const frame of framesOf(id, stream)) {
        const bytes = frame.length - CHUNK_HEADER_BYTES;
        await sender.take(bytes);
        await this.#sendBinary(frame);
        this.#metrics.addBytes('out', bytes);
      }
      return true;
    } catch (error) {
      if (!sender.aborted) throw error;
      return false;
    } finally {
      this.#reads.delete(id);
    }
  }

  /** The content stream the client sends with request `id`, granting credit as it is read. */
  #receive(id: number): StreamReceiver {
    const receiver = new StreamReceiver({
      grant: (bytes) => this.#send({ type: 'credit', id, bytes }),
      onCancel: () => undefined,
    });
    this.#incoming.set(id, receiver);
    return receiver;
  }
}

/** Indexes into `requested` of the changes in `applied` (by identity, else first unused match). */
function indexesOf(requested: readonly Change[], applied: readonly Change[]): number[] {
  const byIdentity = new Map(requested.map((c, i) => [c, i]));
  const used = new Set<number>();
  const out: number[] = [];
  for (const change of applied) {
    let index = byIdentity.get(change);
    if (index === undefined || used.has(index)) {
      index = requested.findIndex((c, i) => !used.has(i) && c.path === change.path);
    }
    if (index >= 0) {
      used.add(index);
      out.push(index);
    }
  }
  return out;
}

/** The bytes of a ws message, without copying when it is one Buffer already. */
function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
