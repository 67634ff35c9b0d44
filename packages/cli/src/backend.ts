/**
 * What commands ask of ksync's state, whoever holds it: the running watch (reached through the
 * control socket) or this process under the home lock. Commands only see this interface, so
 * each behaves the same whether or not a watch runs.
 */
import type { Side } from '@ksync/core';
import type { SyncSpec } from './spec.ts';
import type { ConflictView, FlushView, SyncView } from './view.ts';

/** Options for `Backend.flush`. */
export interface FlushOptions {
  /** Give up after this long (undefined: wait as long as it takes). */
  readonly timeoutMs?: number;
  /** Called with the sync's status while the flush runs. */
  readonly onProgress?: (view: SyncView) => void;
}

/**
 * Which syncs `delete` removes; without `force` it refuses while any of them has conflicts,
 * whose saved remote versions would go with it.
 */
export type DeleteTarget = ({ readonly names: readonly string[] } | { readonly all: true }) & {
  readonly force?: boolean;
};

/** Operations on the sync state. */
export interface Backend {
  /** `watch` when a running watch serves the request, `direct` under the lock. */
  readonly kind: 'watch' | 'direct';
  create(spec: SyncSpec): Promise<SyncView>;
  remove(target: DeleteTarget): Promise<string[]>;
  list(name?: string): Promise<SyncView[]>;
  conflicts(name?: string): Promise<ConflictView[]>;
  resolve(name: string, path: string, keep: Side): Promise<void>;
  pause(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  reset(name: string): Promise<void>;
  flush(name: string, options: FlushOptions): Promise<FlushView>;
  close(): Promise<void>;
}
