/**
 * The wire messages and their runtime schemas. Every control message is one JSON object in a
 * WebSocket text frame, discriminated on `type`; content travels in binary frames (see
 * framing.ts). Both sides parse every incoming message with these schemas before acting on it,
 * because neither trusts the other: a schema failure is answered with a `bad-message` error and
 * nothing else happens.
 *
 * Every sync path in every message must pass `validatePath` unchanged (so it is also already
 * NFC). The one exception is a problem's path, which is display text: a scan reports unreadable
 * or unsyncable names (a backslash, invalid UTF-8) exactly because they are not valid sync paths,
 * and no side ever touches the disk with it.
 *
 * Requests carry a client-chosen `id` (a positive 32-bit integer, unique among the requests in
 * flight) and every answer names it, so any number of requests may be in flight at once.
 */
import { z } from 'zod';
import type { ApplyResult, Change, Problem } from '../change.ts';
import type { Entry } from '../entry.ts';
import { PathError } from '../errors.ts';
import { ROOT, validatePath, MAX_PATH_LENGTH } from '../path.ts';
import {
  MAX_BATCH_ITEMS,
  SNAPSHOT_BUCKETS,
  MAX_IGNORE_PATTERNS,
  MAX_TEXT_LENGTH,
  STREAM_WINDOW_BYTES,
  MAX_CHUNK_BYTES,
  MAX_SIGNATURES_PER_REQUEST,
} from './limits.ts';
import { MAX_SIGNATURE_BYTES } from '../block-delta.ts';
import { WIRE_ERROR_CODES, oneLine, wireError, type WireError } from './wire-error.ts';

/** A request or stream id: a positive 32-bit integer (it is also the binary frames' stream id). */
const id = z.number().int().min(1).max(0xffff_ffff);

const digest = z.string().regex(/^[0-9a-f]{64}$/, 'not a hex SHA-256 digest');

const size = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const text = z.string().max(MAX_TEXT_LENGTH);

/** A packed block signature (block-delta.ts) as base64; `decodeSignature` checks its shape. */
const signature = z
  .string()
  .max(Math.ceil(MAX_SIGNATURE_BYTES / 3) * 4)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');

/** A sync path: must pass `validatePath` and already be in its normalized form. */
const syncPath = z
  .string()
  .max(MAX_PATH_LENGTH)
  .superRefine((value, ctx) => {
    const problem = pathProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A file one side holds: the path, and the content it must have there. */
const heldFile = z.object({ path: syncPath, digest, size });

/** A remote root in `open`: an absolute POSIX path such as `/app`. */
const remoteRoot = z
  .string()
  .max(MAX_PATH_LENGTH)
  .superRefine((value, ctx) => {
    try {
      validateRemoteRoot(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });

const entry = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('directory') }),
  z.object({ kind: z.literal('file'), digest, executable: z.boolean(), size }),
  z.object({
    kind: z.literal('symlink'),
    target: z
      .string()
      .min(1)
      .max(MAX_PATH_LENGTH)
      .refine((t) => !t.includes('\0'), 'NUL'),
  }),
]);

/** A change on the wire: absence is `null`, since JSON has no `undefined`. */
const change = z.object({ path: syncPath, old: entry.nullable(), new: entry.nullable() });

const problem = z.object({ path: z.string().max(MAX_PATH_LENGTH), message: text });

const errorData = z.object({
  code: z.enum(WIRE_ERROR_CODES),
  message: text,
  retryable: z.boolean(),
});

/** A Kubernetes name (namespace, pod, container): DNS-label-like, as the API server allows. */
const kubeName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'not a Kubernetes name');

/**
 * A container target, as the CLI reads it from the pod's status: the agent finds the container's
 * main process on its node and serves `/proc/<pid>/root/<root>`. The agent checks `podUid` against
 * the process's cgroup path and `nodeName` against its own node, so a client cannot reach a
 * container by naming only its ID.
 */
const containerTarget = z.object({
  kind: z.literal('container'),
  namespace: kubeName,
  pod: kubeName,
  podUid: z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'not a pod UID'),
  container: kubeName,
  /** `containerd://<id>`, `cri-o://<id>` or `docker://<id>` from the container status. */
  containerId: z
    .string()
    .max(128)
    .regex(/^(containerd|cri-o|docker):\/\/[0-9a-f]{64}$/, 'not a runtime://<64 hex> container ID'),
  nodeName: z.string().min(1).max(253),
  /** The pod's `spec.runtimeClassName`, so the agent can refuse sandboxed runtimes by name. */
  runtimeClassName: z.string().max(253).optional(),
});

/** What the agent reports about its node in `welcome` (for `ksync doctor`). */
const nodeFacts = z.object({
  /** The node the agent runs on (`KSYNC_NODE_NAME`), absent in direct mode. */
  name: z.string().max(253).optional(),
  /** `fs.inotify.max_user_watches` and `max_user_instances` (absent when unreadable). */
  inotify: z.object({
    maxUserWatches: z.number().int().min(0).optional(),
    maxUserInstances: z.number().int().min(0).optional(),
  }),
  /** Container runtimes whose processes the agent sees (`containerd`, `cri-o`, `docker`). */
  runtimes: z.array(z.enum(['containerd', 'cri-o', 'docker'])).max(3),
});

/** Stream credit: at most one window per grant (a peer never needs to grant more). */
const credit = z.number().int().min(1).max(STREAM_WINDOW_BYTES);

/** Everything the client (CLI side) sends. */
export const clientMessageSchema = z.discriminatedUnion('type', [
  /** First message: the client's release and protocol revision. Its shape never changes. */
  z.object({ type: z.literal('hello'), id, version: z.string().max(64), protocol: z.number() }),
  /** Second message: the shared token. */
  z.object({ type: z.literal('auth'), id, token: z.string().max(MAX_TEXT_LENGTH) }),
  /**
   * Third message: which remote root to serve, with the user's ignore patterns. Without a
   * target, `root` is below the agent's directory (direct mode); with a container target it is
   * a path inside that container.
   */
  z.object({
    type: z.literal('open'),
    id,
    root: remoteRoot,
    ignore: z.array(text).max(MAX_IGNORE_PATTERNS),
    target: containerTarget.optional(),
  }),
  /**
   * Endpoint.scan; answered by scan-page messages, then scan-done. `base` names the scan result
   * (its `generation`) the client holds a copy of: the agent may then send only what changed
   * since. Without it the answer is the whole snapshot, or, with `buckets` (the digests of the
   * snapshot the client expects, cut as the agent's snapshot-buckets.ts cuts it), only the
   * buckets whose digest differs from the agent's.
   */
  z.object({
    type: z.literal('scan'),
    id,
    full: z.boolean(),
    ignore: z.array(text).max(MAX_IGNORE_PATTERNS).optional(),
    base: id.optional(),
    buckets: z.array(digest).length(SNAPSHOT_BUCKETS).optional(),
  }),
  /** Endpoint.missingContent; answered by missing-result. */
  z.object({ type: z.literal('missing'), id, digests: z.array(digest).max(MAX_BATCH_ITEMS) }),
  /** Endpoint.readContent; answered by chunk frames on stream `id`, then end (or error). */
  z.object({ type: z.literal('read'), id, path: syncPath, digest }),
  /**
   * Endpoint.readContents; answered by one content stream (content-stream.ts) of the files in
   * this order, in chunk frames on stream `id`, then end (or error).
   */
  z.object({
    type: z.literal('read-contents'),
    id,
    files: z.array(heldFile.extend({ base: signature.optional() })).max(MAX_BATCH_ITEMS),
  }),
  /** Endpoint.readSignatures; answered by signatures-result. */
  z.object({
    type: z.literal('signatures'),
    id,
    files: z.array(heldFile).min(1).max(MAX_SIGNATURES_PER_REQUEST),
  }),
  /**
   * Endpoint.apply; answered by apply-result. With `content` (ascending indexes of changes to
   * files), the content stream of those files follows in chunk frames on stream `id`, then end.
   */
  z
    .object({
      type: z.literal('apply'),
      id,
      changes: z.array(change).max(MAX_BATCH_ITEMS),
      content: z
        .array(
          z
            .number()
            .int()
            .min(0)
            .max(MAX_BATCH_ITEMS - 1),
        )
        .max(MAX_BATCH_ITEMS)
        .optional(),
    })
    .superRefine((message, ctx) => {
      const problem = contentIndexProblem(message.changes, message.content ?? []);
      if (problem !== undefined)
        ctx.addIssue({ code: 'custom', path: ['content'], message: problem });
    }),
  /** Endpoint.readRestartFacts, after a container restart; answered by restart-facts-result. */
  z.object({ type: z.literal('restart-facts'), id }),
  /** Endpoint.close; answered by ok, then the agent closes the connection. */
  z.object({ type: z.literal('close'), id }),
  /** More credit for the read stream `id`. */
  z.object({ type: z.literal('credit'), id, bytes: credit }),
  /** The client's content stream for apply `id` is complete. */
  z.object({ type: z.literal('end'), id }),
  /** The client gives up stream `id`: it stops content it sends, or cancels a read it receives. */
  z.object({ type: z.literal('abort'), id, error: errorData }),
]);

/** Everything the agent sends. */
export const serverMessageSchema = z.discriminatedUnion('type', [
  /**
   * Answer to hello: the agent's release and protocol revision (these two never change), and
   * facts about its node that older clients ignore.
   */
  z.object({
    type: z.literal('welcome'),
    id,
    version: z.string().max(64),
    protocol: z.number(),
    node: nodeFacts.optional(),
  }),
  /** Success without data (auth, open, close). */
  z.object({ type: z.literal('ok'), id }),
  /**
   * Part of a scan: entries in any order, paths that no longer exist (only in a delta), and
   * problems (always all of them).
   */
  z.object({
    type: z.literal('scan-page'),
    id,
    entries: z.array(z.tuple([syncPath, entry])).max(MAX_BATCH_ITEMS),
    removed: z.array(syncPath).max(MAX_BATCH_ITEMS).optional(),
    problems: z.array(problem).max(MAX_BATCH_ITEMS),
  }),
  /**
   * The scan `id` is complete. `generation` numbers this result on the connection (the client
   * names it as the next scan's `base`). With `delta` the pages held only the changes since the
   * requested base; with `buckets` they held exactly the entries of those buckets (the ones whose
   * digest differed from the scan's `buckets`), and every other bucket is as the client expected;
   * with neither they held the whole snapshot.
   */
  z.object({
    type: z.literal('scan-done'),
    id,
    generation: id.optional(),
    delta: z.boolean().optional(),
    buckets: z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(SNAPSHOT_BUCKETS - 1),
      )
      .max(SNAPSHOT_BUCKETS)
      .optional(),
  }),
  /** Answer to signatures: one per requested file, in order; null where there is none. */
  z.object({
    type: z.literal('signatures-result'),
    id,
    signatures: z.array(signature.nullable()).max(MAX_SIGNATURES_PER_REQUEST),
  }),
  /**
   * Answer to restart-facts: the mount points of other filesystems (volumes) in the root, and the
   * paths outside them changed since the container started, or null when they were more than fit
   * in one answer (a directory served in direct mode has neither).
   */
  z.object({
    type: z.literal('restart-facts-result'),
    id,
    mounts: z.array(syncPath).max(MAX_BATCH_ITEMS),
    changed: z.array(syncPath).max(MAX_BATCH_ITEMS).nullable(),
  }),
  /** Answer to missing: the digests the agent cannot provide. */
  z.object({
    type: z.literal('missing-result'),
    id,
    digests: z.array(digest).max(MAX_BATCH_ITEMS),
  }),
  /**
   * Answer to apply: the indexes (into the request's changes) of those that landed, and one
   * problem per change that did not. Indexes rather than changes: the client reports exactly the
   * changes it asked for, so an agent cannot slip in others.
   */
  z.object({
    type: z.literal('apply-result'),
    id,
    applied: z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(MAX_BATCH_ITEMS - 1),
      )
      .max(MAX_BATCH_ITEMS),
    problems: z.array(problem).max(MAX_BATCH_ITEMS),
  }),
  /** Push notification: the served side may have changed (the client's watchers fire). */
  z.object({ type: z.literal('changed') }),
  /** More credit for the content stream the client sends with apply `id`. */
  z.object({ type: z.literal('credit'), id, bytes: credit }),
  /** The read stream `id` is complete (a `read` is also verified). */
  z.object({ type: z.literal('end'), id }),
  /**
   * Request `id` failed (a stream ends with it too). Without an id the whole connection is
   * refused (handshake, auth, protocol violation) and the agent closes it right after.
   */
  z.object({ type: z.literal('error'), id: id.optional(), error: errorData }),
]);

/** A message from the client. */
export type ClientMessage = z.infer<typeof clientMessageSchema>;
/** A message from the agent. */
export type ServerMessage = z.infer<typeof serverMessageSchema>;
/** A change as it crosses the wire. */
export type WireChange = z.infer<typeof change>;
/** An entry as it crosses the wire. */
export type WireEntry = z.infer<typeof entry>;
/** A container target in `open`. */
export type ContainerTarget = z.infer<typeof containerTarget>;
/** The node facts in `welcome`. */
export type NodeFacts = z.infer<typeof nodeFacts>;

/** The outcome of parsing one incoming text frame. */
export type ParseResult<T> =
  | { readonly ok: true; readonly message: T }
  | { readonly ok: false; readonly error: WireError; readonly id?: number };

/** Parses and validates a client message; never throws. */
export function parseClientMessage(text: string): ParseResult<ClientMessage> {
  return parseWith(clientMessageSchema, text);
}

/** Parses and validates an agent message; never throws. */
export function parseServerMessage(text: string): ParseResult<ServerMessage> {
  return parseWith(serverMessageSchema, text);
}

function parseWith<T>(schema: z.ZodType<T>, raw: string): ParseResult<T> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, error: wireError('bad-message', 'message is not valid JSON') };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, message: result.data };
  // Echo the id when there is a sane one, so that one bad request fails alone.
  const maybeId = (json as { id?: unknown } | null)?.id;
  const known = id.safeParse(maybeId);
  const issue = result.error.issues[0];
  const type = (json as { type?: unknown } | null)?.type;
  let message: string;
  if (issue?.code === 'invalid_union' && issue.path.join('.') === 'type') {
    message = `unknown message type ${oneLine(JSON.stringify(type ?? null).slice(0, 40))}`;
  } else {
    const where = issue?.path.map(String).join('.') ?? '';
    message = `invalid ${typeof type === 'string' ? oneLine(type.slice(0, 40)) : 'message'}: ${where}${where ? ': ' : ''}${issue?.message ?? 'schema mismatch'}`;
  }
  const error = wireError('bad-message', message);
  return known.success ? { ok: false, error, id: known.data } : { ok: false, error };
}

/**
 * Why `indexes` cannot name the changes an apply's content stream carries, or undefined: they
 * must ascend strictly and each name a change to a file.
 */
function contentIndexProblem(
  changes: readonly WireChange[],
  indexes: readonly number[],
): string | undefined {
  let previous = -1;
  for (const index of indexes) {
    if (index <= previous) return 'content indexes must ascend';
    if (changes[index]?.new?.kind !== 'file') return `change ${index} does not create a file`;
    previous = index;
  }
  return undefined;
}

/** The reason `path` is not an exact sync path, or undefined when it is one. */
export function pathProblem(path: string): string | undefined {
  try {
    if (validatePath(path) !== path) return 'path is not NFC-normalized';
    return undefined;
  } catch (error) {
    return error instanceof PathError ? error.message : String(error);
  }
}

/**
 * Turns a remote root (`/app`, `/`, `/srv/app/`) into the sync path below the agent's directory
 * (`app`, ``, `srv/app`); throws `PathError` when it is not absolute or not a clean path.
 */
export function validateRemoteRoot(root: string): string {
  if (!root.startsWith('/')) throw new PathError(root, 'remote root must be absolute');
  const relative = root.replace(/^\/+/, '').replace(/\/+$/, '');
  if (relative === ROOT) return ROOT;
  const problem = pathProblem(relative);
  if (problem !== undefined) throw new PathError(root, problem);
  return relative;
}

/** Encodes an entry for the wire (absence as null). */
export function entryToWire(value: Entry | undefined): WireEntry | null {
  return value ?? null;
}

/** Decodes a validated wire entry. */
export function entryFromWire(value: WireEntry | null): Entry | undefined {
  return value ?? undefined;
}

/** Encodes a change for the wire. */
export function changeToWire(c: Change): WireChange {
  return { path: c.path, old: entryToWire(c.old), new: entryToWire(c.new) };
}

/** Decodes a validated wire change. */
export function changeFromWire(c: WireChange): Change {
  return { path: c.path, old: entryFromWire(c.old), new: entryFromWire(c.new) };
}

/** Rebuilds an ApplyResult from the requested changes and the agent's indexes. */
export function applyResultFromWire(
  changes: readonly Change[],
  applied: readonly number[],
  problems: readonly Problem[],
): ApplyResult {
  const landed: Change[] = [];
  const seen = new Set<number>();
  for (const index of applied) {
    const c = changes[index];
    if (c === undefined || seen.has(index)) continue;
    seen.add(index);
    landed.push(c);
  }
  return {
    applied: landed,
    problems: problems.map((p) => ({ path: p.path, message: oneLine(p.message) })),
  };
}

/**
 * Splits items into batches of at most `MAX_BATCH_ITEMS` whose JSON stays near
 * `targetBytes` (measured as UTF-16 length, a lower bound on the UTF-8 size times three at
 * worst, so callers pass a third of the frame limit or less).
 */
export function splitBatches<T>(items: readonly T[], targetBytes: number): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = JSON.stringify(item).length + 1;
    if (current.length > 0 && (current.length >= MAX_BATCH_ITEMS || bytes + n > targetBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += n;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Chunk size check shared by both sides. */
export function isValidChunkLength(length: number): boolean {
  return length >= 1 && length <= MAX_CHUNK_BYTES;
}
