/**
 * Sync modes. Each has a stable kebab-case value (used in specs and `-o json`) and a description
 * for the terminal.
 */
import { UserError } from './errors.ts';

/** How a session resolves disagreements between its two sides. */
export type SyncMode = 'two-way' | 'two-way-safe' | 'one-way' | 'one-way-replica';

/** Every mode with its description, in the order `--help` lists them. */
export const SYNC_MODES: Readonly<Record<SyncMode, string>> = {
  'two-way':
    'changes flow both ways; a true conflict keeps the local version and saves the remote one',
  'two-way-safe': 'changes flow both ways; a true conflict blocks that path until it is resolved',
  'one-way':
    'local changes flow to the remote; remote changes never come back and remote-only files stay',
  'one-way-replica': 'the remote becomes an exact copy of local',
};

/** The default mode. */
export const DEFAULT_MODE: SyncMode = 'two-way';

/** Parses a user-given mode name; throws `UserError` listing the valid ones. */
export function parseSyncMode(value: string): SyncMode {
  if (Object.hasOwn(SYNC_MODES, value)) return value as SyncMode;
  throw new UserError(
    `unknown sync mode "${value}"; use one of: ${Object.keys(SYNC_MODES).join(', ')}`,
  );
}
