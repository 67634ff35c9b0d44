/**
 * Session states: a stable kebab-case value for `-o json` and a description for the terminal.
 */
import type { HaltReason } from './safety.ts';

/** Where a session stands. */
export type SessionState =
  | 'connecting'
  | 'scanning'
  | 'transferring'
  | 'applying'
  | 'watching'
  | 'problems'
  | 'paused'
  | `halted-${HaltReason}`
  | 'error';

/** Every state with its description. */
export const SESSION_STATES: Readonly<Record<SessionState, string>> = {
  connecting: 'connecting to the endpoints',
  scanning: 'scanning both sides',
  transferring: 'transferring file content',
  applying: 'applying changes',
  watching: 'in sync, watching for changes',
  problems: 'some paths could not be synced (see problems); retrying',
  paused: 'paused; run resume to continue',
  'halted-root-deleted': 'halted: a sync root was deleted; resume to propagate it, or reset',
  'halted-root-emptied':
    'halted: a sync root was emptied (container restart without a volume?); resume to propagate it, or reset to re-seed it',
  'halted-deletion-bound':
    'halted: a cycle would delete more files than the bound; resume to allow it once, or reset',
  error: 'error; retrying',
};

/** True for the halted states, which only resume or reset leave. */
export function isHalted(state: SessionState): state is `halted-${HaltReason}` {
  return state.startsWith('halted-');
}
