/**
 * The control socket protocol between commands and the running watch: newline-delimited JSON
 * over a unix socket. A request is one `Backend` method with its arguments (`ping` and `stop`
 * address the watch itself); the watch answers with zero or more `progress` lines and then one
 * `result` or `error` line carrying the same id. Adding a `Backend` method means adding its
 * argument schema below; the client and server follow from the interface.
 */
import { z } from 'zod';
import type { Backend } from '../backend.ts';
import { syncSpecSchema } from '../spec.ts';
import type { SyncView } from '../view.ts';

/** What `ping` answers. */
export interface PingResult {
  readonly pid: number;
  readonly version: string;
  /** `watch`, or `run NAME`. */
  readonly role: string;
}

/** The methods of the watch itself, beside the `Backend` ones. */
interface WatchMethods {
  ping(): Promise<PingResult>;
  stop(): Promise<void>;
}

/** Every method a request may name, with its signature (flush's progress travels apart). */
export type ControlMethods = Omit<Backend, 'kind' | 'close'> & WatchMethods;

/** A method a request may name. */
export type ControlMethod = keyof ControlMethods;

/** What the `method` request answers. */
export type ControlResult<M extends ControlMethod> = Awaited<ReturnType<ControlMethods[M]>>;

/** A request from a command. */
export interface ControlRequest {
  readonly id: number;
  readonly method: ControlMethod;
  readonly args: readonly unknown[];
}

/** A line from the watch. */
export type ControlResponse =
  | { readonly id: number; readonly type: 'result'; readonly result: unknown }
  | {
      readonly id: number;
      readonly type: 'error';
      readonly kind: 'user' | 'internal';
      readonly message: string;
    }
  | { readonly id: number; readonly type: 'progress'; readonly view: SyncView };

const name = z.string();
const deleteTarget = z.union([
  z.object({ names: z.array(z.string()), force: z.boolean().optional() }),
  z.object({ all: z.literal(true), force: z.boolean().optional() }),
]);
/** `FlushOptions` without `onProgress`, which travels as `progress` lines. */
const flushOptions = z.object({ timeoutMs: z.number().optional() });

/** The arguments of each method, checked on arrival (trailing omitted optionals are absent). */
const ARGS: { readonly [M in ControlMethod]: z.ZodType<unknown[]> } = {
  ping: z.tuple([]),
  stop: z.tuple([]),
  create: z.tuple([syncSpecSchema]),
  remove: z.tuple([deleteTarget]),
  list: z.tuple([name.optional()]),
  conflicts: z.tuple([name.optional()]),
  resolve: z.tuple([name, z.string(), z.enum(['local', 'remote'])]),
  pause: z.tuple([name]),
  resume: z.tuple([name]),
  reset: z.tuple([name]),
  flush: z.tuple([name, flushOptions]),
};

/**
 * Checks a parsed request line (the envelope and each method's arguments); returns the request or
 * a reason. The socket is private to the user (0700 home), so this guards against bugs and
 * version skew rather than attackers.
 */
export function parseControlRequest(value: unknown): ControlRequest | string {
  if (typeof value !== 'object' || value === null) return 'request is not an object';
  const r = value as Record<string, unknown>;
  if (typeof r.id !== 'number') return 'request has no numeric id';
  if (typeof r.method !== 'string' || !Object.hasOwn(ARGS, r.method)) {
    return `unknown method ${JSON.stringify(r.method)}`;
  }
  const method = r.method as ControlMethod;
  const args = ARGS[method].safeParse(r.args ?? []);
  if (!args.success) return `bad arguments for ${method}: ${z.prettifyError(args.error)}`;
  return { id: r.id, method, args: args.data };
}

/** `args` without its trailing undefined ones (JSON would turn them into null). */
export function trimArgs(args: readonly unknown[]): unknown[] {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  return args.slice(0, end);
}
