/**
 * A grammar-based fuzzer for the agent protocol. Cases are generated from the zod schemas in
 * `@ksync/core` protocol/messages.ts (so a message type added there is fuzzed without touching
 * this file), biased towards values that get deep (the real token, known digests, paths that
 * exist or cross a planted symlink, a handful of request ids that collide), then mutated (a
 * field dropped or replaced, the type swapped, the JSON cut short or replaced by junk, invalid
 * UTF-8) and mixed with binary frames (valid chunks, unknown kinds, short, oversize, stream 0),
 * content streams that respect or abuse their credit, and floods past the in-flight limit.
 *
 * The oracle (`runFuzzCase`) drives one real WebSocket connection per case and checks what can
 * be checked from outside without modelling the file system:
 * - every message the agent sends passes the agent-side schema;
 * - before the connection is open every frame gets an answer (welcome, ok, or an `error`
 *   without id followed by a close): never silence;
 * - once open, every request gets a final answer (result, `ok`, `end`, `scan-done` or an
 *   `error` with its id) unless the connection closes first, a bad frame with a usable id is
 *   answered with an `error` naming that id, and a bad frame without one refuses the connection;
 * - the agent closes a connection only after saying why: an `error` without id (code 1008), an
 *   `ok` to `close` (1000), or a WebSocket-level refusal of the frame itself (1007 invalid
 *   UTF-8, 1009 too big).
 * The caller checks the process (alive, `/healthz`) and the files outside the root after each case.
 */
import fc from 'fast-check';
import WebSocket from 'ws';
import {
  CHUNK_FRAME_KIND,
  CONTENT_PRESENT,
  KSYNC_VERSION,
  MAX_CHUNK_BYTES,
  MAX_FRAME_BYTES,
  MAX_IN_FLIGHT,
  PROTOCOL_VERSION,
  STREAM_WINDOW_BYTES,
  checkVersions,
  clientMessageSchema,
  decodeChunkFrame,
  encodeChunkFrame,
  parseClientMessage,
  parseServerMessage,
  type ClientMessage,
} from '@ksync/core';

/** The parts of a zod 4 schema the generator reads (`schema._zod.def`). */
interface SchemaNode {
  readonly _zod: { readonly def: SchemaDef };
}

interface SchemaDef {
  readonly type: string;
  readonly shape?: Readonly<Record<string, SchemaNode>>;
  readonly values?: readonly unknown[];
  readonly entries?: Readonly<Record<string, string>>;
  readonly element?: SchemaNode;
  readonly items?: readonly SchemaNode[];
  readonly innerType?: SchemaNode;
  readonly options?: readonly SchemaNode[];
  readonly checks?: readonly { readonly _zod: { readonly def: CheckDef } }[];
}

interface CheckDef {
  readonly check: string;
  readonly format?: string;
  readonly pattern?: RegExp;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly value?: number;
}

/** Values the generator prefers for a field of that name, so that cases get past the checks. */
export type FieldHints = Readonly<Record<string, fc.Arbitrary<unknown>>>;

function checksOf(node: SchemaNode): CheckDef[] {
  return (node._zod.def.checks ?? []).map((c) => c._zod.def);
}

/** A value arbitrary that mostly stays small but also hits the limit and one past it. */
function withBoundary<T>(
  small: fc.Arbitrary<T>,
  atLimit: fc.Arbitrary<T> | undefined,
  pastLimit: fc.Arbitrary<T> | undefined,
): fc.Arbitrary<T> {
  const arbs: fc.WeightedArbitrary<T>[] = [{ weight: 30, arbitrary: small }];
  if (atLimit) arbs.push({ weight: 1, arbitrary: atLimit });
  if (pastLimit) arbs.push({ weight: 1, arbitrary: pastLimit });
  return fc.oneof(...arbs);
}

/**
 * An arbitrary of values of the shape `node` describes (valid except where refinements the
 * generator cannot see apply); `hints` replace the arbitrary of every object field of that name.
 */
export function arbitraryFromSchema(node: SchemaNode, hints: FieldHints): fc.Arbitrary<unknown> {
  const def = node._zod.def;
  const checks = checksOf(node);
  const max = checks.find((c) => c.check === 'max_length')?.maximum;
  const min = checks.find((c) => c.check === 'min_length')?.minimum ?? 0;
  switch (def.type) {
    case 'object': {
      const shape = def.shape ?? {};
      const fields: Record<string, fc.Arbitrary<unknown>> = {};
      const required: string[] = [];
      for (const [key, child] of Object.entries(shape)) {
        const optional = child._zod.def.type === 'optional';
        const inner = optional ? (child._zod.def.innerType as SchemaNode) : child;
        fields[key] = hints[key] ?? arbitraryFromSchema(inner, hints);
        if (!optional) required.push(key);
      }
      return fc.record(fields, { requiredKeys: required });
    }
    case 'literal':
      return fc.constantFrom(...(def.values ?? [null]));
    case 'enum':
      return fc.constantFrom(...Object.values(def.entries ?? {}));
    case 'string': {
      const pattern = checks.find((c) => c.format === 'regex')?.pattern;
      if (pattern) {
        return fc.oneof(
          { weight: 10, arbitrary: fc.stringMatching(pattern) },
          { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
        );
      }
      return withBoundary(
        fc.string({ minLength: min, maxLength: Math.min(max ?? 16, 16) }),
        max === undefined ? undefined : fc.constant('x'.repeat(max)),
        max === undefined ? undefined : fc.constant('x'.repeat(max + 1)),
      );
    }
    case 'number': {
      const low = checks.find((c) => c.check === 'greater_than')?.value;
      const high = checks.find((c) => c.check === 'less_than')?.value;
      if (checks.some((c) => c.format === 'safeint')) {
        return fc.integer({
          min: Math.max(low ?? Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
          max: Math.min(high ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
        });
      }
      return fc.oneof(fc.integer(), fc.double());
    }
    case 'boolean':
      return fc.boolean();
    case 'array': {
      const element = arbitraryFromSchema(def.element as SchemaNode, hints);
      return withBoundary(
        fc.array(element, { minLength: min, maxLength: Math.min(max ?? 4, 4) }),
        max === undefined ? undefined : element.map((e) => Array.from({ length: max }, () => e)),
        max === undefined
          ? undefined
          : element.map((e) => Array.from({ length: max + 1 }, () => e)),
      );
    }
    case 'tuple':
      return fc.tuple(...(def.items ?? []).map((item) => arbitraryFromSchema(item, hints)));
    case 'optional':
      return fc.option(arbitraryFromSchema(def.innerType as SchemaNode, hints), {
        nil: undefined,
      });
    case 'nullable':
      return fc.option(arbitraryFromSchema(def.innerType as SchemaNode, hints), { nil: null });
    case 'union':
      return fc.oneof(...(def.options ?? []).map((o) => arbitraryFromSchema(o, hints)));
    default:
      return fc.jsonValue();
  }
}

/** The `type` literal of each option of a discriminated union on `type`. */
function optionsByType(union: SchemaNode): Map<string, SchemaNode> {
  const out = new Map<string, SchemaNode>();
  for (const option of union._zod.def.options ?? []) {
    const literal = option._zod.def.shape?.type?._zod.def.values?.[0];
    if (typeof literal === 'string') out.set(literal, option);
  }
  return out;
}

/** Handshake messages: fuzzed in their own step, and rarely once the connection is open. */
const HANDSHAKE_TYPES = new Set(['hello', 'auth', 'open']);

/** One frame the fuzzer sends, or a step of its own between frames. */
export type FuzzFrame =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'invalid-utf8' }
  | { readonly kind: 'binary'; readonly bytes: Uint8Array }
  /** Waits (at most 1 s) until the agent granted `bytes` of credit on stream `id` in total. */
  | { readonly kind: 'await-credit'; readonly id: number; readonly bytes: number }
  | { readonly kind: 'pause'; readonly ms: number };

/** One connection's worth of frames: three handshake steps, then anything. */
export interface FuzzCase {
  readonly handshake: readonly FuzzFrame[];
  readonly frames: readonly FuzzFrame[];
}

/** Content the fuzzer can send and name by digest. */
export interface FuzzContent {
  readonly data: Buffer;
  readonly digest: string;
}

/** What the generator is told about the agent under test. */
export interface FuzzWorld {
  readonly token: string;
  readonly contents: readonly FuzzContent[];
  /** Sync paths below the roots: real ones, ones through planted symlinks, odd ones. */
  readonly paths: readonly string[];
  /** Files in the served roots with the digest of their content, for reads that succeed. */
  readonly files: readonly { readonly path: string; readonly digest: string }[];
  /** Remote roots for `open` the agent serves. */
  readonly roots: readonly string[];
  /** Remote roots it must refuse (through a symlink, outside). */
  readonly badRoots: readonly string[];
}

const IDS = [1, 2, 3, 4, 5, 6, 7, 8];

const BAD_IDS = [0, -1, 1.5, 2 ** 32, '1', null];

/** Field hints for the agent under test. */
function hintsFor(world: FuzzWorld): FieldHints {
  const digests = world.contents.map((c) => c.digest);
  const entries = fc.oneof(
    fc.constant(null),
    fc.constant({ kind: 'directory' }),
    fc.tuple(fc.constantFrom(...world.contents), fc.boolean()).map(([c, executable]) => ({
      kind: 'file',
      digest: c.digest,
      executable,
      size: c.data.length,
    })),
    fc.record({
      kind: fc.constant('symlink'),
      target: fc.constantFrom('ok.txt', 'd/f', '../x', '/etc', 'd/../..'),
    }),
  );
  return {
    id: fc.oneof(
      { weight: 20, arbitrary: fc.constantFrom(...IDS) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 ** 32 - 1 }) },
    ),
    token: fc.oneof(
      { weight: 30, arbitrary: fc.constant(world.token) },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    ),
    version: fc.oneof(
      { weight: 30, arbitrary: fc.constant(KSYNC_VERSION) },
      { weight: 1, arbitrary: fc.constantFrom('0.0.1', '99.0.0', '', 'x.y') },
    ),
    protocol: fc.oneof(
      { weight: 30, arbitrary: fc.constant(PROTOCOL_VERSION) },
      { weight: 1, arbitrary: fc.constantFrom(0, PROTOCOL_VERSION + 1, -1, 0.5) },
    ),
    root: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom(...world.roots) },
      { weight: 1, arbitrary: fc.constantFrom(...world.badRoots) },
    ),
    path: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom(...world.paths) },
      { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
    ),
    digest: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom(...digests) },
      { weight: 1, arbitrary: fc.stringMatching(/^[0-9a-f]{64}$/) },
    ),
    size: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom(...world.contents.map((c) => c.data.length)) },
      { weight: 1, arbitrary: fc.nat() },
    ),
    // Entries that can match what is on disk (so that an apply gets past its check) or land.
    old: entries,
    new: entries,
    ignore: fc.array(
      fc.oneof(
        fc.constantFrom('*.log', 'node_modules/', '!keep', '[', '\\', '**', '/a/**/b', '#x', ' '),
        fc.string({ maxLength: 10 }),
      ),
      { maxLength: 4 },
    ),
    target: fc.oneof(
      { weight: 20, arbitrary: fc.constant(undefined) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('container'),
          namespace: fc.constant('default'),
          pod: fc.constant('p'),
          podUid: fc.uuid(),
          container: fc.constant('c'),
          containerId: fc.stringMatching(/^containerd:\/\/[0-9a-f]{64}$/),
          nodeName: fc.constantFrom('test-node', 'other'),
        }),
      },
    ),
  };
}

/**
 * A message with one field replaced by any JSON value, or its type swapped: a bad request that
 * keeps its id, which the agent must answer with an error naming that id.
 */
function withBadField(
  message: fc.Arbitrary<Record<string, unknown>>,
  types: readonly string[],
): fc.Arbitrary<Record<string, unknown>> {
  return fc.oneof(
    fc.tuple(message, fc.nat(), fc.jsonValue()).map(([m, n, value]) => {
      const keys = Object.keys(m).filter((k) => k !== 'id');
      return { ...m, [keys[n % keys.length] as string]: value };
    }),
    fc.tuple(message, fc.constantFrom(...types, 'rm-rf', '')).map(([m, type]) => ({ ...m, type })),
  );
}

/**
 * A text frame that breaks the protocol so that no request id can be trusted: the id dropped
 * or malformed, the JSON cut short or replaced by junk, or invalid UTF-8.
 */
function brokenText(message: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<FuzzFrame> {
  return fc.oneof(
    message.map(({ id: _, ...rest }) => text(JSON.stringify(rest))),
    fc
      .tuple(message, fc.constantFrom(...BAD_IDS))
      .map(([m, badId]) => text(JSON.stringify({ ...m, id: badId }))),
    fc
      .tuple(message, fc.nat())
      .map(([m, n]) => JSON.stringify(m).slice(0, n))
      .map((json) => text(json.slice(0, Math.max(0, json.length - 1)))),
    fc.oneof(fc.string(), fc.json()).map(text),
    fc.constant<FuzzFrame>({ kind: 'invalid-utf8' }),
  );
}

function text(value: string): FuzzFrame {
  return { kind: 'text', text: value };
}

/** Valid chunk frames for the ids in play (for streams that may or may not exist). */
function chunkFrames(): fc.Arbitrary<FuzzFrame> {
  return fc
    .tuple(
      fc.constantFrom(...IDS),
      fc.oneof(
        { weight: 8, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }) },
        { weight: 1, arbitrary: fc.constant(new Uint8Array(MAX_CHUNK_BYTES)) },
      ),
    )
    .map(([i, d]) => ({ kind: 'binary', bytes: encodeChunkFrame(i, d) }));
}

/** Binary frames that no receiver may accept: short, unknown kind, stream 0, too big. */
function brokenBinary(): fc.Arbitrary<FuzzFrame> {
  const bin = (bytes: Uint8Array): FuzzFrame => ({ kind: 'binary', bytes });
  return fc.oneof(
    fc.uint8Array({ maxLength: 5 }).map(bin),
    fc
      .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 1, maxLength: 8 }))
      .filter(([kind]) => kind !== CHUNK_FRAME_KIND)
      .map(([kind, d]) => {
        const frame = encodeChunkFrame(1, d);
        frame[0] = kind;
        return bin(frame);
      }),
    fc.constant(bin(encodeChunkFrame(1, new Uint8Array(8)).fill(0, 1, 5))),
    fc.constant(bin(encodeChunkFrame(1, new Uint8Array(MAX_CHUNK_BYTES + 1)))),
    fc.constant(bin(new Uint8Array(MAX_FRAME_BYTES + 1))),
  );
}

/**
 * A content stream in frames: an `apply` creating one file (right or wrong digest and size) with
 * its content stream (a status byte, then the content) cut into chunks, sent politely (waiting
 * for credit) or in one burst past the window, then `end`, `abort`, more chunks, or nothing.
 */
function contentFlows(world: FuzzWorld): fc.Arbitrary<FuzzFrame[]> {
  return fc
    .record({
      id: fc.constantFrom(...IDS),
      content: fc.constantFrom(...world.contents),
      digestOf: fc.constantFrom(...world.contents),
      sizeDelta: fc.constantFrom(0, 0, 0, 1, -1),
      chunk: fc.oneof(
        fc.constantFrom(1, 4096, 65_536, MAX_CHUNK_BYTES),
        fc.integer({ min: 1, max: MAX_CHUNK_BYTES }),
      ),
      polite: fc.boolean(),
      tail: fc.constantFrom('end', 'end', 'end', 'abort', 'extra', 'none'),
    })
    .map(({ id, content, digestOf, sizeDelta, chunk, polite, tail }) => {
      const file = {
        kind: 'file',
        digest: digestOf.digest,
        executable: false,
        size: Math.max(0, content.data.length + sizeDelta),
      };
      const frames: FuzzFrame[] = [
        text(
          JSON.stringify({
            type: 'apply',
            id,
            changes: [{ path: `fuzz-${id}`, old: null, new: file }],
            content: [0],
          }),
        ),
      ];
      const stream = Buffer.concat([Uint8Array.of(CONTENT_PRESENT), content.data]);
      // At most 64 chunks a stream, so that a case stays short.
      const step = Math.max(chunk, Math.ceil(stream.length / 64));
      for (let offset = 0; offset < stream.length; offset += step) {
        const piece = stream.subarray(offset, offset + step);
        if (polite) frames.push({ kind: 'await-credit', id, bytes: offset + piece.length });
        frames.push({ kind: 'binary', bytes: encodeChunkFrame(id, piece) });
      }
      if (tail === 'extra')
        frames.push({ kind: 'binary', bytes: encodeChunkFrame(id, Buffer.from('x')) });
      if (tail === 'end' || tail === 'extra')
        frames.push(text(JSON.stringify({ type: 'end', id })));
      if (tail === 'abort') {
        frames.push(
          text(
            JSON.stringify({
              type: 'abort',
              id,
              error: { code: 'aborted', message: 'fuzz', retryable: false },
            }),
          ),
        );
      }
      return frames;
    });
}

/** A read of a file that exists, then maybe credit, an abort, or nothing before the drain. */
function readFlows(world: FuzzWorld): fc.Arbitrary<FuzzFrame[]> {
  return fc
    .record({
      id: fc.constantFrom(...IDS),
      file: fc.constantFrom(...world.files),
      tail: fc.constantFrom('none', 'credit', 'abort'),
      pause: fc.integer({ min: 0, max: 20 }),
    })
    .map(({ id, file, tail, pause }) => {
      const frames: FuzzFrame[] = [
        text(JSON.stringify({ type: 'read', id, path: file.path, digest: file.digest })),
        { kind: 'pause', ms: pause },
      ];
      if (tail === 'credit') {
        frames.push(text(JSON.stringify({ type: 'credit', id, bytes: STREAM_WINDOW_BYTES })));
      } else if (tail === 'abort') {
        const error = { code: 'aborted', message: 'fuzz', retryable: false };
        frames.push(text(JSON.stringify({ type: 'abort', id, error })));
      }
      return frames;
    });
}

/** Every frame arbitrary of a case. */
export function fuzzCases(world: FuzzWorld): fc.Arbitrary<FuzzCase> {
  const hints = hintsFor(world);
  const byType = optionsByType(clientMessageSchema);
  const types = [...byType.keys()];
  const messageOf = (type: string) =>
    arbitraryFromSchema(byType.get(type) as SchemaNode, hints) as fc.Arbitrary<
      Record<string, unknown>
    >;
  const anyMessage = fc.oneof(
    ...types.map((type) => ({
      weight: HANDSHAKE_TYPES.has(type) ? 1 : 6,
      arbitrary: messageOf(type),
    })),
  );
  const json = (m: fc.Arbitrary<unknown>) => m.map((value) => text(JSON.stringify(value)));
  // Frames that keep the connection open (when the agent is right): most of a case.
  const frame = fc.oneof(
    { weight: 48, arbitrary: json(anyMessage).map((f) => [f]) },
    { weight: 8, arbitrary: json(withBadField(anyMessage, types)).map((f) => [f]) },
    { weight: 8, arbitrary: chunkFrames().map((f) => [f]) },
    { weight: 12, arbitrary: contentFlows(world) },
    { weight: 6, arbitrary: readFlows(world) },
    {
      weight: 4,
      arbitrary: fc.integer({ min: 0, max: 30 }).map((ms): FuzzFrame[] => [{ kind: 'pause', ms }]),
    },
    // A flood of cheap requests past the in-flight limit, each with its own id.
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1, max: MAX_IN_FLIGHT + 64 })
        .map((n) =>
          Array.from({ length: n }, (_, i) =>
            text(JSON.stringify({ type: 'missing', id: 1000 + i, digests: [] })),
          ),
        ),
    },
  );
  // Frames that must end it: at most one per case, anywhere.
  const fatal = fc.oneof(
    { weight: 3, arbitrary: brokenText(anyMessage) },
    { weight: 2, arbitrary: brokenBinary() },
    { weight: 1, arbitrary: json(fc.oneof(...[...HANDSHAKE_TYPES].map(messageOf))) },
  );
  const step = (type: string) =>
    fc.oneof(
      { weight: 30, arbitrary: json(messageOf(type)) },
      { weight: 1, arbitrary: json(fc.oneof(anyMessage, withBadField(anyMessage, types))) },
      { weight: 1, arbitrary: fatal },
    );
  return fc.record({
    handshake: fc.tuple(step('hello'), step('auth'), step('open')),
    frames: fc
      .tuple(fc.array(frame, { maxLength: 24 }), fc.option(fc.tuple(fatal, fc.nat()), { freq: 2 }))
      .map(([groups, end]) => {
        if (end !== null) groups.splice(end[1] % (groups.length + 1), 0, [end[0]]);
        return groups.flat();
      }),
  });
}

/** A broken invariant, with what the agent said. */
export interface FuzzViolation {
  readonly what: string;
  readonly received: readonly unknown[];
}

/** What one case did, for the run's tally. */
export interface FuzzOutcome {
  readonly frames: number;
  readonly opened: boolean;
  /** The close code when the agent closed the connection (undefined when the fuzzer did). */
  readonly closeCode: number | undefined;
  /** The type of every message the agent sent, and the code of every wire error. */
  readonly answers: readonly string[];
  readonly violations: readonly FuzzViolation[];
}

type Phase = 'hello' | 'auth' | 'open' | 'ready';

/** How long the agent may take to answer one frame or finish a case. */
const ANSWER_MS = 5000;

/** The answers that end a request (a `read` ends with `end`, an `apply` with `apply-result`). */
const FINAL_TYPES = new Set([
  'ok',
  'error',
  'end',
  'scan-done',
  'missing-result',
  'signatures-result',
  'restart-facts-result',
  'apply-result',
]);

/** Runs one case against the agent at `url` and reports what broke. */
export async function runFuzzCase(url: string, fuzzCase: FuzzCase): Promise<FuzzOutcome> {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const received: Record<string, unknown>[] = [];
  const violations: FuzzViolation[] = [];
  const credits = new Map<number, number>();
  /** Final answers still owed, by request id (a count: ids repeat). */
  const owed = new Map<number, number>();
  /** Ids whose answer may be missing (a read the fuzzer cancelled). */
  const exempt = new Set<number>();
  const streamIds = new Set<number>();
  /** Content bytes received per read stream, and whether the fuzzer now grants credit for it. */
  const readBytes = new Map<number, number>();
  let draining = false;
  /** Content streams that stopped granting credit. */
  const stalled = new Set<number>();
  let closeCode: number | undefined;
  let wake: (() => void) | undefined;
  const closed = new Promise<void>((resolve) =>
    ws.once('close', (code) => {
      closeCode = code;
      wake?.();
      resolve();
    }),
  );
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) {
      const chunk = decodeChunkFrame(data);
      if (!chunk.ok) {
        violations.push({ what: `agent sent a bad chunk: ${chunk.message}`, received });
      } else if (draining) {
        grant(chunk.id, chunk.data.length);
      } else {
        readBytes.set(chunk.id, (readBytes.get(chunk.id) ?? 0) + chunk.data.length);
      }
    } else {
      const parsed = parseServerMessage(data.toString('utf8'));
      if (!parsed.ok) {
        violations.push({ what: `agent sent ${parsed.error.message}`, received });
      } else {
        const m = parsed.message as Record<string, unknown>;
        received.push(m);
        const mid = m.id as number | undefined;
        if (m.type === 'credit' && mid !== undefined) {
          credits.set(mid, (credits.get(mid) ?? 0) + (m.bytes as number));
        }
        if (mid !== undefined && FINAL_TYPES.has(m.type as string)) {
          const left = (owed.get(mid) ?? 0) - 1;
          if (left > 0) owed.set(mid, left);
          else owed.delete(mid);
        }
      }
    }
    wake?.();
  });
  const until = async (done: () => boolean, ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (closeCode !== undefined || Date.now() > deadline) return done();
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 25);
      });
    }
    return true;
  };
  const grant = (id: number, bytes: number) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    for (let left = bytes; left > 0; left -= STREAM_WINDOW_BYTES) {
      ws.send(JSON.stringify({ type: 'credit', id, bytes: Math.min(left, STREAM_WINDOW_BYTES) }));
    }
  };
  const refusedWithError = () => received.some((m) => m.type === 'error' && m.id === undefined);
  const send = (frame: FuzzFrame) => {
    if (frame.kind === 'text') ws.send(frame.text);
    else if (frame.kind === 'binary') ws.send(frame.bytes);
    else if (frame.kind === 'invalid-utf8')
      ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
  };
  let expectRefusal = false;
  let sent = 0;
  let phase: Phase = 'hello';

  // The handshake, one frame at a time: each one must be answered.
  for (const frame of fuzzCase.handshake) {
    if (closeCode !== undefined) break;
    send(frame);
    sent++;
    const message = frame.kind === 'text' ? parseClientMessage(frame.text) : undefined;
    const m = message?.ok ? message.message : undefined;
    const next = nextPhase(phase, m);
    if (next === undefined) {
      expectRefusal = true;
      await until(() => false, ANSWER_MS);
      break;
    }
    const id = m?.id as number;
    const answered = await until(
      () => received.some((r) => r.id === id && (r.type === 'welcome' || r.type === 'ok')),
      ANSWER_MS,
    );
    if (!answered) {
      if (closeCode === undefined) {
        violations.push({ what: `no answer to ${m?.type} (silence)`, received });
      } else if (!refusedWithError()) {
        violations.push({ what: `${m?.type} closed the connection without an error`, received });
      }
      break;
    }
    if (m?.type === 'hello' && versionsDiffer(m)) {
      expectRefusal = true;
      await until(() => false, ANSWER_MS);
      break;
    }
    phase = next;
  }
  const opened = phase === 'ready' && closeCode === undefined;

  if (opened) {
    for (const frame of fuzzCase.frames) {
      if (closeCode !== undefined) break;
      if (frame.kind === 'pause') {
        await new Promise((resolve) => setTimeout(resolve, frame.ms));
        continue;
      }
      if (frame.kind === 'await-credit') {
        // The window is granted up front; more comes as the agent takes chunks, unless the
        // apply failed (then the rest of its chunks go out without waiting).
        if (stalled.has(frame.id)) continue;
        const granted = () => STREAM_WINDOW_BYTES + (credits.get(frame.id) ?? 0) >= frame.bytes;
        if (!(await until(granted, 1000))) stalled.add(frame.id);
        continue;
      }
      send(frame);
      sent++;
      expectRefusal ||= classify(frame, owed, exempt, streamIds);
    }
    // Drain: end every content stream (a no-op for finished ones) and grant reads what they sent, so
    // each request can be answered.
    if (closeCode === undefined) {
      for (const id of streamIds) ws.send(JSON.stringify({ type: 'end', id }));
      for (const [id, bytes] of readBytes) grant(id, bytes);
      draining = true;
    }
    const settled = () => [...owed.keys()].every((id) => exempt.has(id));
    await until(() => settled() && !expectRefusal, ANSWER_MS);
    for (const id of exempt) owed.delete(id);
    if (closeCode === undefined && owed.size > 0) {
      violations.push({
        what: `no answer to request ids ${[...owed.keys()].join(', ')}`,
        received,
      });
    }
    if (expectRefusal && closeCode === undefined) {
      violations.push({
        what: 'a bad frame without a usable id did not refuse the connection',
        received,
      });
    }
  } else if (expectRefusal && closeCode === undefined) {
    violations.push({ what: 'a bad handshake frame was not refused', received });
  }

  const agentClose = closeCode;
  if (closeCode === undefined) {
    ws.close();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
    if (closeCode === undefined) ws.terminate();
  } else {
    const saidWhy =
      (closeCode === 1008 && refusedWithError()) ||
      (closeCode === 1000 && received.some((r) => r.type === 'ok')) ||
      closeCode === 1007 ||
      closeCode === 1009;
    if (!saidWhy) {
      violations.push({
        what: `the agent closed the connection (${closeCode}) without saying why`,
        received,
      });
    }
  }
  return {
    frames: sent,
    opened,
    closeCode: agentClose,
    answers: received.map((m) =>
      m.type === 'error' ? `error:${(m.error as { code: string }).code}` : (m.type as string),
    ),
    violations,
  };
}

/** The phase after a valid handshake message, or undefined when the agent must refuse it. */
function nextPhase(phase: Phase, message: ClientMessage | undefined): Phase | undefined {
  if (phase === 'hello' && message?.type === 'hello') return 'auth';
  if (phase === 'auth' && message?.type === 'auth') return 'open';
  if (phase === 'open' && message?.type === 'open') return 'ready';
  return undefined;
}

function versionsDiffer(hello: ClientMessage): boolean {
  if (hello.type !== 'hello') return false;
  return (
    checkVersions({
      cliVersion: hello.version,
      cliProtocol: hello.protocol,
      agentVersion: KSYNC_VERSION,
      agentProtocol: PROTOCOL_VERSION,
    }) !== undefined
  );
}

/**
 * Books what the agent owes for one frame sent on an open connection; returns true when the
 * frame must refuse the connection.
 */
function classify(
  frame: FuzzFrame,
  owed: Map<number, number>,
  exempt: Set<number>,
  streamIds: Set<number>,
): boolean {
  if (frame.kind === 'invalid-utf8') return true;
  if (frame.kind === 'binary') return !decodeChunkFrame(frame.bytes).ok;
  if (frame.kind !== 'text') return false;
  const parsed = parseClientMessage(frame.text);
  if (!parsed.ok) {
    if (parsed.id === undefined) return true;
    owed.set(parsed.id, (owed.get(parsed.id) ?? 0) + 1);
    return false;
  }
  const m = parsed.message;
  switch (m.type) {
    case 'hello':
    case 'auth':
    case 'open':
      return true;
    case 'credit':
    case 'end':
      return false;
    case 'abort':
      exempt.add(m.id);
      return false;
    case 'apply':
      if (m.content !== undefined) streamIds.add(m.id);
      owed.set(m.id, (owed.get(m.id) ?? 0) + 1);
      return false;
    default:
      owed.set(m.id, (owed.get(m.id) ?? 0) + 1);
      return false;
  }
}
