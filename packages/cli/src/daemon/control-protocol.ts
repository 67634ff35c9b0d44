/**
 * The control socket protocol between commands and the running watch: newline-delimited JSON
 * over a unix socket. A request names a `Backend` method; the watch answers with zero or more
 * `progress` lines and then one `result` or `error` line carrying the same id.
 */
import type { Side } from '@ksync/core';
import type { DeleteTarget } from '../backend.ts';
import type { SyncSpec } from '../spec.ts';
import type { ConflictView, FlushView, SyncView } from '../view.ts';

/** A request from a command. */
export type ControlRequest =
  | { readonly id: number; readonly method: 'ping' }
  | { readonly id: number; readonly method: 'stop' }
  | { readonly id: number; readonly method: 'create'; readonly spec: SyncSpec }
  | { readonly id: number; readonly method: 'remove'; readonly target: DeleteTarget }
  | { readonly id: number; readonly method: 'list'; readonly name?: string }
  | { readonly id: number; readonly method: 'conflicts'; readonly name?: string }
  | {
      readonly id: number;
      readonly method: 'resolve';
      readonly name: string;
      readonly path: string;
      readonly keep: Side;
    }
  | { readonly id: number; readonly method: 'pause' | 'resume' | 'reset'; readonly name: string }
  | {
      readonly id: number;
      readonly method: 'flush';
      readonly name: string;
      readonly timeoutMs?: number;
    };

/** What `ping` answers. */
export interface PingResult {
  readonly pid: number;
  readonly version: string;
  /** `watch`, or `run NAME`. */
  readonly role: string;
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

/** Results per method (for the client's typing). */
export interface ControlResults {
  ping: PingResult;
  stop: null;
  create: SyncView;
  remove: string[];
  list: SyncView[];
  conflicts: ConflictView[];
  resolve: null;
  pause: null;
  resume: null;
  reset: null;
  flush: FlushView;
}

const METHODS = new Set([
  'ping',
  'stop',
  'create',
  'remove',
  'list',
  'conflicts',
  'resolve',
  'pause',
  'resume',
  'reset',
  'flush',
]);

/**
 * Checks a parsed request line's shape (the envelope and the fields each method reads); returns
 * the request or a reason. The socket is private to the user (0700 home), so this guards
 * against bugs and version skew rather than attackers.
 */
export function parseControlRequest(value: unknown): ControlRequest | string {
  if (typeof value !== 'object' || value === null) return 'request is not an object';
  const r = value as Record<string, unknown>;
  if (typeof r.id !== 'number') return 'request has no numeric id';
  if (typeof r.method !== 'string' || !METHODS.has(r.method)) {
    return `unknown method ${JSON.stringify(r.method)}`;
  }
  const str = (k: string): boolean => typeof r[k] === 'string';
  const optStr = (k: string): boolean => r[k] === undefined || typeof r[k] === 'string';
  switch (r.method) {
    case 'create':
      return typeof r.spec === 'object' && r.spec !== null
        ? (r as unknown as ControlRequest)
        : 'create needs a spec';
    case 'remove':
      return typeof r.target === 'object' && r.target !== null
        ? (r as unknown as ControlRequest)
        : 'remove needs a target';
    case 'list':
    case 'conflicts':
      return optStr('name') ? (r as unknown as ControlRequest) : 'name must be a string';
    case 'resolve':
      return str('name') && str('path') && (r.keep === 'local' || r.keep === 'remote')
        ? (r as unknown as ControlRequest)
        : 'resolve needs name, path and keep';
    case 'pause':
    case 'resume':
    case 'reset':
      return str('name') ? (r as unknown as ControlRequest) : `${r.method} needs a name`;
    case 'flush':
      return str('name') && (r.timeoutMs === undefined || typeof r.timeoutMs === 'number')
        ? (r as unknown as ControlRequest)
        : 'flush needs a name and a numeric timeoutMs';
    default:
      return r as unknown as ControlRequest;
  }
}
