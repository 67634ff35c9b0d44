/**
 * The remote endpoint: the `Endpoint` interface implemented again on the CLI side, over one
 * WebSocket to the node agent (which serves a `LocalEndpoint`). The session controller cannot
 * tell it from a local one.
 *
 * Connection life: one client is one connection. `connectRemoteEndpoint` dials and runs hello →
 * auth → open, and fails with a one-line `UserError` when that does not work. When the
 * connection drops later, the client stays down: `onLost` fires once with the reason, and every
 * call fails at once with a retryable `RemoteError`. The client never re-dials by itself;
 * reconnecting belongs to one owner, the CLI's `SyncRunner` (see docs/architecture.md), which
 * opens a new client and a new session over the same durable state. The sync is state-based, so
 * nothing needs replaying.
 */
import type { Socket } from 'node:net';
import WebSocket, { type RawData } from 'ws';
import {
  BATCH_TARGET_BYTES,
  CHUNK_HEADER_BYTES,
  ContentStreamReader,
  InternalError,
  KSYNC_VERSION,
  MAX_BATCH_ITEMS,
  MAX_FRAME_BYTES,
  MAX_SIGNATURES_PER_REQUEST,
  PROTOCOL_VERSION,
  UserError,
  applyResultFromWire,
  changeToWire,
  checkVersions,
  decodeChunkFrame,
  encodeIncoming,
  entryFromWire,
  parseServerMessage,
  splitBatches,
  SnapshotMirror,
  wireError,
  type ApplyContent,
  type ApplyResult,
  type Change,
  type ChangeListener,
  type ClientMessage,
  type ContainerTarget,
  type ContentRequest,
  type Endpoint,
  type Entry,
  type Problem,
  type RestartFacts,
  type ScanOptions,
  type ScanResult,
  type NodeFacts,
  type ServerMessage,
  type WireError,
} from '@ksync/core';
import { dialTcp, dialWithin, type Dial } from './dial.ts';

export type { Dial } from './dial.ts';
import { RemoteError, errorMessage } from './errors.ts';
import { bucketOf, bucketSnapshot, type Buckets } from './snapshot-buckets.ts';
import { CreditSender, StreamReceiver, framesOf } from './streams.ts';

/** How to reach the agent and what to open there. */
export interface RemoteEndpointOptions {
  /**
   * The agent's WebSocket URL, e.g. `ws://127.0.0.1:7475`. It names the agent in messages and
   * the HTTP request; the bytes go wherever `dial` connects.
   */
  readonly url: string;
  /** Makes the stream each connection runs over (default: TCP to `url`). */
  readonly dial?: Dial;
  readonly token: string;
  /**
   * Remote path, e.g. `/app`: below the agent's directory (`DIR/app`) without a target, inside
   * the container with one.
   */
  readonly root: string;
  /** The container to serve; absent in direct mode. */
  readonly target?: ContainerTarget;
  /** User ignore patterns, applied on the agent side too. */
  readonly ignore: readonly string[];
  /** Called once when the open connection drops, with the reason; not called by `close()`. */
  readonly onLost?: (reason: string) => void;
  /** Ping interval; the agent is considered gone after two missed pongs (default 5000 ms). */
  readonly pingIntervalMs?: number;
  /** Longest wait for the connection and handshake (default 10000 ms). */
  readonly handshakeTimeoutMs?: number;
}

/** An endpoint on the other side of the agent connection. */
export interface RemoteEndpoint extends Endpoint {
  /** True while the connection is up and opened. */
  readonly connected: boolean;
  /** What the agent said about itself in the last handshake. */
  readonly agent: AgentInfo;
  /** Rejects (bad-message) with an agent older than `restart-facts`: the session then trusts no path. */
  readRestartFacts(): Promise<RestartFacts>;
}

/** The agent's release and node facts, from its `welcome`. */
export interface AgentInfo {
  readonly version: string;
  readonly node: NodeFacts | undefined;
}

/**
 * Connects to the agent. Resolves after the first successful handshake, auth and open; rejects
 * with a `UserError` (one line, what to do) when the agent is unreachable, runs another version,
 * refuses the token, or cannot serve the root.
 */
export async function connectRemoteEndpoint(
  options: RemoteEndpointOptions,
): Promise<RemoteEndpoint> {
  const client = new RemoteClient(options);
  await client.start();
  return client;
}

/** Answers a pending request is waiting for. */
type Pending =
  | {
      readonly kind: 'reply';
      readonly expect: ServerMessage['type'];
      readonly resolve: (message: ServerMessage) => void;
      readonly reject: (error: Error) => void;
      /** The content stream this request sends, if any (it takes the agent's credit). */
      readonly sender?: CreditSender;
    }
  | {
      readonly kind: 'scan';
      readonly pages: ScanPages;
      readonly resolve: (pages: ScanPages) => void;
      readonly reject: (error: Error) => void;
    }
  | { readonly kind: 'read'; readonly receiver: StreamReceiver };

/** What the scan pages of one answer carried, and how scan-done described them. */
interface ScanPages {
  readonly entries: [string, Entry][];
  readonly removed: string[];
  readonly problems: Problem[];
  /** The result's number on the connection (absent from an agent that does not number them). */
  generation?: number;
  /** True when the pages hold only the changes since the base the scan named. */
  delta: boolean;
  /** The buckets the pages hold whole, when the scan named the buckets it expected. */
  buckets?: readonly number[];
}

/** One WebSocket connection and the requests in flight on it. */
class Connection {
  readonly ws: WebSocket;
  readonly pending = new Map<number, Pending>();
  #nextId = 1;
  #alive = true;
  #missed = 0;
  #ping: NodeJS.Timeout | undefined;
  /** The reason the agent gave when it refused the connection. */
  refusal: WireError | undefined;
  lostReason: string | undefined;
  /**
   * The generation of the agent's scan result that the client's snapshot copy holds, on this
   * connection (undefined: none, so the next scan asks for the whole snapshot).
   */
  scanBase: number | undefined;
  readonly #onChanged: () => void;
  readonly #onLost: (connection: Connection) => void;

  constructor(ws: WebSocket, onChanged: () => void, onLost: (connection: Connection) => void) {
    this.ws = ws;
    this.#onChanged = onChanged;
    this.#onLost = onLost;
    // Anything the agent sends proves it alive, not only a pong: behind a slow port-forward a
    // pong can wait behind megabytes of scan pages in the same stream.
    ws.on('message', (data, isBinary) => {
      this.#alive = true;
      this.#onMessage(data, isBinary);
    });
    ws.on('pong', () => (this.#alive = true));
    ws.on('close', (code, reason) =>
      this.#lost(`closed (${code}${reason.length ? ` ${reason.toString('utf8')}` : ''})`),
    );
    ws.on('error', (error) => this.#lost(error.message));
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN && this.lostReason === undefined;
  }

  startPings(intervalMs: number): void {
    this.#ping = setInterval(() => {
      if (this.#alive) {
        this.#alive = false;
        this.#missed = 0;
      } else if (++this.#missed >= 2) {
        this.#lost('the agent missed two pings');
        this.ws.terminate();
        return;
      }
      this.ws.ping();
    }, intervalMs);
    this.#ping.unref();
  }

  nextId(): number {
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffff_ffff ? 1 : this.#nextId + 1;
    return id;
  }

  send(message: ClientMessage): void {
    if (!this.open) throw this.lostError();
    this.ws.send(JSON.stringify(message));
  }

  /** Sends a binary frame, waiting for the socket to drain when much is buffered. */
  async sendBinary(frame: Uint8Array): Promise<void> {
    if (!this.open) throw this.lostError();
    if (this.ws.bufferedAmount < MAX_FRAME_BYTES) {
      this.ws.send(frame);
      return;
    }
    await new Promise<void>((resolve, reject) =>
      this.ws.send(frame, (error) => (error ? reject(error) : resolve())),
    );
  }

  /**
   * Sends a request and resolves with the reply of type `expect` (or rejects on `error`). With a
   * `sender`, the request's content stream follows (see `sendStream`).
   */
  request(
    message: ClientMessage & { id: number },
    expect: ServerMessage['type'],
    sender?: CreditSender,
  ): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      this.pending.set(message.id, {
        kind: 'reply',
        expect,
        resolve,
        reject,
        ...(sender === undefined ? {} : { sender }),
      });
      try {
        this.send(message);
      } catch (error) {
        this.pending.delete(message.id);
        reject(asError(error));
      }
    });
  }

  lostError(): RemoteError {
    const reason = this.refusal?.message ?? this.lostReason ?? 'connection closed';
    return new RemoteError(
      this.refusal ?? wireError('closed', `lost the connection to the agent: ${reason}`, true),
    );
  }

  close(code: number): void {
    clearInterval(this.#ping);
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(code);
      setTimeout(() => this.ws.terminate(), 1000).unref();
    }
  }

  #lost(reason: string): void {
    if (this.lostReason !== undefined) return;
    this.lostReason = reason;
    clearInterval(this.#ping);
    const error = this.lostError();
    for (const pending of this.pending.values()) failPending(pending, error);
    this.pending.clear();
    this.#onLost(this);
  }

  /** Treats a broken message from the agent as the end of this connection. */
  #violation(message: string): void {
    this.refusal ??= wireError('bad-message', `the agent sent a bad message: ${message}`, true);
    this.#lost(message);
    this.ws.terminate();
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.lostReason !== undefined) return;
    const bytes = toBuffer(data);
    if (isBinary) {
      const chunk = decodeChunkFrame(bytes);
      if (!chunk.ok) return this.#violation(chunk.message);
      const pending = this.pending.get(chunk.id);
      // Chunks of a read the consumer cancelled were already in flight: dropped.
      if (pending?.kind === 'read' && !pending.receiver.push(chunk.data)) {
        this.#violation(`stream ${chunk.id} sent more than its credit`);
      }
      return;
    }
    const parsed = parseServerMessage(bytes.toString('utf8'));
    if (!parsed.ok) return this.#violation(parsed.error.message);
    this.#dispatch(parsed.message);
  }

  #dispatch(message: ServerMessage): void {
    if (message.type === 'changed') {
      this.#onChanged();
      return;
    }
    if (message.type === 'error' && message.id === undefined) {
      // The agent refuses the whole connection; it closes the socket next.
      this.refusal = message.error;
      return;
    }
    const id = message.id as number;
    const pending = this.pending.get(id);
    if (pending === undefined) return; // an answer to something already given up
    switch (message.type) {
      case 'error': {
        this.pending.delete(id);
        failPending(pending, new RemoteError(message.error));
        return;
      }
      case 'credit':
        if (pending.kind === 'reply') pending.sender?.grant(message.bytes);
        return;
      case 'end':
        if (pending.kind === 'read') {
          this.pending.delete(id);
          pending.receiver.end();
        }
        return;
      case 'scan-page':
        if (pending.kind !== 'scan') return this.#violation(`unexpected scan-page for ${id}`);
        for (const [path, entry] of message.entries) {
          pending.pages.entries.push([path, entryFromWire(entry) as Entry]);
        }
        for (const path of message.removed ?? []) pending.pages.removed.push(path);
        for (const p of message.problems) pending.pages.problems.push(p);
        return;
      case 'scan-done':
        if (pending.kind !== 'scan') return this.#violation(`unexpected scan-done for ${id}`);
        this.pending.delete(id);
        if (message.generation !== undefined) pending.pages.generation = message.generation;
        pending.pages.delta = message.delta === true;
        if (message.buckets !== undefined) pending.pages.buckets = message.buckets;
        pending.resolve(pending.pages);
        return;
      default:
        break;
    }
    if (pending.kind !== 'reply' || pending.expect !== message.type) {
      return this.#violation(`unexpected ${message.type} for request ${id}`);
    }
    this.pending.delete(id);
    pending.resolve(message);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function failPending(pending: Pending, error: Error): void {
  switch (pending.kind) {
    case 'read':
      pending.receiver.fail(error);
      return;
    case 'reply':
      pending.sender?.abort(error);
      pending.reject(error);
      return;
    default:
      pending.reject(error);
  }
}

/** The `RemoteEndpoint` implementation. */
class RemoteClient implements RemoteEndpoint {
  readonly #o: RemoteEndpointOptions;
  readonly #listeners = new Set<ChangeListener>();
  #connection: Connection | undefined;
  #closed = false;
  readonly #dial: Dial;
  agent: AgentInfo = { version: '', node: undefined };
  /**
   * The remote snapshot as of the last scan, kept up to date by the agent's deltas.
   * `#scanned` says whether a scan result was handed out yet.
   */
  #mirror = new SnapshotMirror();
  #scanned = false;

  constructor(options: RemoteEndpointOptions) {
    this.#o = options;
    this.#dial = options.dial ?? dialTcp(options.url);
  }

  get connected(): boolean {
    return this.#connection?.open === true;
  }

  /** The first connection; failures become `UserError`s. */
  async start(): Promise<void> {
    try {
      this.#connection = await this.#connect();
    } catch (error) {
      throw this.#userError(error);
    }
  }

  async scan(options: ScanOptions): Promise<ScanResult> {
    const connection = this.#require();
    const id = connection.nextId();
    const base = connection.scanBase;
    // Until this answer is applied the copy matches no generation: a scan that fails or is
    // lost makes the next one ask for the whole snapshot.
    connection.scanBase = undefined;
    // Without a base the agent would send its whole snapshot: name the buckets of the snapshot
    // it most likely holds, and it sends only those that differ.
    const expected =
      base === undefined && options.expected !== undefined && options.expected.size > 0
        ? bucketSnapshot(options.expected)
        : undefined;
    const pages = await new Promise<ScanPages>((resolve, reject) => {
      connection.pending.set(id, {
        kind: 'scan',
        pages: { entries: [], removed: [], problems: [], delta: false },
        resolve,
        reject,
      });
      try {
        // The rules go with every scan, so edits of `.ksyncignore` reach the agent.
        connection.send({
          type: 'scan',
          id,
          full: options.full,
          ...(options.ignore === undefined ? {} : { ignore: [...options.ignore] }),
          ...(base === undefined ? {} : { base }),
          ...(expected === undefined ? {} : { buckets: [...expected.digests] }),
        });
      } catch (error) {
        connection.pending.delete(id);
        reject(asError(error));
      }
    });
    if (pages.delta && base === undefined) {
      throw new RemoteError(wireError('bad-message', 'agent scan: a delta without a base', true));
    }
    let changes;
    try {
      changes = pages.delta
        ? this.#mirror.update(pages.entries, pages.removed)
        : this.#mirror.replace(
            pages.buckets === undefined ? pages.entries : withExpected(expected, pages),
          );
    } catch (error) {
      // The mirror kept its previous state, which no longer matches the agent's: start over.
      this.#mirror = new SnapshotMirror();
      this.#scanned = false;
      throw new RemoteError(wireError('bad-message', `agent scan: ${errorMessage(error)}`, true));
    }
    connection.scanBase = pages.generation;
    const first = !this.#scanned;
    this.#scanned = true;
    return {
      snapshot: this.#mirror.snapshot,
      problems: pages.problems,
      ...(first ? {} : { changes }),
    };
  }

  watch(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  readContent(path: string, digest: string): AsyncGenerator<Uint8Array> {
    return this.#read({ type: 'read', id: 0, path, digest });
  }

  async *readContents(files: readonly ContentRequest[]): AsyncGenerator<Uint8Array> {
    // One request per batch, one after another: the stream stays in the files' order.
    for (const batch of splitBatches(files, BATCH_TARGET_BYTES)) {
      yield* this.#read({ type: 'read-contents', id: 0, files: batch });
    }
  }

  /** Sends a read request (its id is assigned here) and yields the stream that answers it. */
  async *#read(
    message: Extract<ClientMessage, { type: 'read' | 'read-contents' }>,
  ): AsyncGenerator<Uint8Array> {
    const connection = this.#require();
    const id = connection.nextId();
    const receiver = new StreamReceiver({
      grant: (bytes) => {
        if (connection.open) connection.send({ type: 'credit', id, bytes });
      },
      onCancel: () => {
        connection.pending.delete(id);
        if (connection.open) {
          connection.send({ type: 'abort', id, error: wireError('aborted', 'read cancelled') });
        }
      },
    });
    connection.pending.set(id, { kind: 'read', receiver });
    connection.send({ ...message, id });
    yield* receiver;
  }

  async missingContent(digests: readonly string[]): Promise<string[]> {
    const connection = this.#require();
    const asked = new Set(digests);
    const batches: string[][] = [];
    for (let i = 0; i < digests.length; i += MAX_BATCH_ITEMS) {
      batches.push(digests.slice(i, i + MAX_BATCH_ITEMS));
    }
    const answers = await Promise.all(
      batches.map(async (batch) => {
        const reply = await connection.request(
          { type: 'missing', id: connection.nextId(), digests: batch },
          'missing-result',
        );
        return reply.type === 'missing-result' ? reply.digests : [];
      }),
    );
    // Only digests that were asked about: an agent cannot make the controller send others.
    return [...new Set(answers.flat())].filter((d) => asked.has(d));
  }

  async readSignatures(files: readonly ContentRequest[]): Promise<(string | undefined)[]> {
    const connection = this.#require();
    const signatures: (string | undefined)[] = [];
    // One request after another: each answer holds up to MAX_SIGNATURES_PER_REQUEST signatures.
    for (let i = 0; i < files.length; i += MAX_SIGNATURES_PER_REQUEST) {
      const batch = files
        .slice(i, i + MAX_SIGNATURES_PER_REQUEST)
        .map(({ path, digest, size }) => ({ path, digest, size }));
      const reply = await connection.request(
        { type: 'signatures', id: connection.nextId(), files: batch },
        'signatures-result',
      );
      if (reply.type !== 'signatures-result' || reply.signatures.length !== batch.length) {
        throw new RemoteError(wireError('bad-message', 'agent sent the wrong signatures', true));
      }
      signatures.push(...reply.signatures.map((s) => s ?? undefined));
    }
    return signatures;
  }

  /** The container's volumes and the paths it changed since it started (core's rebase.ts). */
  async readRestartFacts(): Promise<RestartFacts> {
    const connection = this.#require();
    const reply = await connection.request(
      { type: 'restart-facts', id: connection.nextId() },
      'restart-facts-result',
    );
    if (reply.type !== 'restart-facts-result') {
      throw new RemoteError(wireError('bad-message', 'agent sent no restart facts', true));
    }
    return { mounts: reply.mounts, changed: reply.changed ?? undefined };
  }

  async apply(changes: readonly Change[], content?: ApplyContent): Promise<ApplyResult> {
    if (changes.length === 0) return { applied: [], problems: [] };
    const connection = this.#require();
    const applied: Change[] = [];
    const problems: Problem[] = [];
    const reader = content && new ContentStreamReader(content.stream);
    let next = 0; // the next of content.indexes to send
    try {
      // Batches go one after another, so the order the changes must be applied in is kept; each
      // carries the content its own changes need.
      let offset = 0;
      for (const batch of splitBatches(changes.map(changeToWire), BATCH_TARGET_BYTES)) {
        const requested = changes.slice(offset, offset + batch.length);
        const carried: number[] = [];
        const indexes = content?.indexes ?? [];
        for (; next < indexes.length && (indexes[next] as number) < offset + batch.length; next++) {
          carried.push((indexes[next] as number) - offset);
        }
        offset += batch.length;
        const id = connection.nextId();
        const message = {
          type: 'apply' as const,
          id,
          changes: batch,
          ...(carried.length > 0 && { content: carried }),
        };
        let reply: ServerMessage;
        if (reader === undefined || carried.length === 0) {
          reply = await connection.request(message, 'apply-result');
        } else {
          const sizes = carried.map((i) => fileSize(requested[i]));
          reply = await this.#send(connection, message, batchContent(reader, sizes));
        }
        if (reply.type !== 'apply-result') throw new InternalError('unexpected apply reply');
        const result = applyResultFromWire(requested, reply.applied, reply.problems);
        applied.push(...result.applied);
        problems.push(...result.problems);
      }
    } finally {
      await reader?.cancel();
    }
    return { applied, problems };
  }

  /**
   * Sends `message` and the content stream that follows it on its id, within the agent's
   * credit; resolves with the agent's answer. When the source fails, the agent is told to give up
   * the stream (`abort`) and the source's error is thrown; when the agent fails the request, its
   * error is thrown (it explains more than the aborted send).
   */
  async #send(
    connection: Connection,
    message: ClientMessage & { id: number },
    stream: AsyncIterable<Uint8Array>,
  ): Promise<ServerMessage> {
    const { id } = message;
    const sender = new CreditSender();
    let failed: Error | undefined;
    const answer = connection.request(message, 'apply-result', sender);
    answer.catch((error: unknown) => (failed = asError(error)));
    try {
      for await (const frame of framesOf(id, stream)) {
        await sender.take(frame.length - CHUNK_HEADER_BYTES);
        await connection.sendBinary(frame);
      }
      connection.send({ type: 'end', id });
    } catch (error) {
      if (failed !== undefined) throw failed;
      connection.pending.delete(id);
      if (connection.open) {
        connection.send({
          type: 'abort',
          id,
          error: wireError('aborted', `source failed: ${errorMessage(error)}`),
        });
      }
      throw error;
    }
    return answer;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection?.open) {
      const id = connection.nextId();
      // Ask the agent to release the endpoint, but do not wait long for a broken one.
      await Promise.race([
        connection.request({ type: 'close', id }, 'ok').catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 2000).unref()),
      ]);
    }
    connection?.close(1000);
  }

  #require(): Connection {
    const connection = this.#connection;
    if (this.#closed) throw new RemoteError(wireError('closed', 'the remote endpoint is closed'));
    if (connection === undefined || !connection.open) {
      throw new RemoteError(
        wireError('closed', `not connected to the agent at ${this.#o.url}`, true),
      );
    }
    return connection;
  }

  /** Makes one connection and runs hello, auth and open on it. */
  async #connect(): Promise<Connection> {
    const timeoutMs = this.#o.handshakeTimeoutMs ?? 10_000;
    const started = Date.now();
    const stream = await dialWithin(this.#dial, timeoutMs);
    // The handshake timer below covers the upgrade and the hello/auth/open exchange; ws's own
    // `handshakeTimeout` is not used, because it needs socket methods a dialed Duplex may lack.
    const ws = new WebSocket(this.#o.url, {
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      createConnection: () => stream as Socket,
    });
    const connection = new Connection(
      ws,
      () => this.#fire(),
      (lost) => this.#onLost(lost),
    );
    const timer = setTimeout(
      () => {
        connection.refusal ??= wireError('closed', `no answer within ${timeoutMs} ms`, true);
        ws.terminate();
        stream.destroy();
      },
      Math.max(0, timeoutMs - (Date.now() - started)),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', (error) => reject(error));
        ws.once('unexpected-response', (_req, res) =>
          reject(new Error(`answered HTTP ${res.statusCode ?? '?'} instead of a WebSocket`)),
        );
        ws.once('close', () => reject(connection.lostError()));
      });
      const welcome = await connection.request(
        {
          type: 'hello',
          id: connection.nextId(),
          version: KSYNC_VERSION,
          protocol: PROTOCOL_VERSION,
        },
        'welcome',
      );
      if (welcome.type === 'welcome') {
        const refusal = checkVersions({
          cliVersion: KSYNC_VERSION,
          cliProtocol: PROTOCOL_VERSION,
          agentVersion: welcome.version,
          agentProtocol: welcome.protocol,
        });
        if (refusal !== undefined) throw new RemoteError(wireError('version-mismatch', refusal));
        this.agent = { version: welcome.version, node: welcome.node };
      }
      await connection.request(
        { type: 'auth', id: connection.nextId(), token: this.#o.token },
        'ok',
      );
      await connection.request(
        {
          type: 'open',
          id: connection.nextId(),
          root: this.#o.root,
          ignore: [...this.#o.ignore],
          ...(this.#o.target !== undefined && { target: this.#o.target }),
        },
        'ok',
      );
    } catch (error) {
      connection.close(1000);
      ws.terminate();
      // A refusal that arrived just before the close explains more than the close.
      if (
        connection.refusal !== undefined &&
        !(error instanceof RemoteError && error.code !== 'closed')
      ) {
        throw new RemoteError(connection.refusal);
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
    connection.startPings(this.#o.pingIntervalMs ?? 5000);
    return connection;
  }

  #onLost(connection: Connection): void {
    if (this.#closed || connection !== this.#connection) return;
    this.#o.onLost?.(connection.lostError().message);
  }

  #fire(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /** Words a first-connection failure for the user; the `cause` keeps the error (and its code). */
  #userError(error: unknown): UserError {
    const url = this.#o.url;
    if (error instanceof RemoteError) {
      switch (error.code) {
        case 'version-mismatch':
          return new UserError(error.message, { cause: error });
        case 'unauthorized':
          return new UserError(
            `the ksync agent at ${url} refused the token: pass the token file the agent was started with (--token-file)`,
            { cause: error },
          );
        case 'bad-root':
          return new UserError(`the agent cannot sync ${this.#o.root}: ${error.message}`, {
            cause: error,
          });
        case 'closed':
          return new UserError(
            `the ksync agent at ${url} closed the connection: ${error.message}; check that the agent is running and reachable`,
            { cause: error },
          );
        default:
          return new UserError(
            `the ksync agent at ${url} refused the connection: ${error.message}`,
            { cause: error },
          );
      }
    }
    const code = (error as NodeJS.ErrnoException).code;
    return new UserError(
      `cannot reach the ksync agent at ${url} (${code ?? errorMessage(error)}): check that the agent is running and its port is forwarded`,
      { cause: error },
    );
  }
}

/** The size of the file a change creates (the caller checked that it does). */
function fileSize(change: Change | undefined): number {
  if (change?.new?.kind !== 'file') throw new InternalError('content for a change to no file');
  return change.new.size;
}

/**
 * The next files of a content stream as a content stream of their own (one apply batch's
 * share), re-framed from `reader`: a status byte, then each present file's chunks.
 */
async function* batchContent(
  reader: ContentStreamReader,
  sizes: readonly number[],
): AsyncGenerator<Uint8Array> {
  for (const size of sizes) yield* encodeIncoming(await reader.nextFile(size));
}

/** The bytes of a ws message, without copying when it is one Buffer already. */
function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/**
 * The agent's snapshot from a bucketed answer: the expected entries of every bucket it did not
 * send, and the entries it sent for the others. Throws on an answer that does not fit the
 * question (buckets nobody asked for, or an entry outside the buckets it said it sent).
 */
function* withExpected(
  expected: Buckets | undefined,
  pages: ScanPages,
): Generator<[string, Entry]> {
  if (expected === undefined) throw new InternalError('buckets in the answer to a scan without');
  const sent = new Set(pages.buckets);
  for (const [path] of pages.entries) {
    if (!sent.has(bucketOf(path))) {
      throw new InternalError(`${JSON.stringify(path)} is outside the buckets that were sent`);
    }
  }
  for (const [bucket, group] of expected.entries.entries()) if (!sent.has(bucket)) yield* group;
  yield* pages.entries;
}
