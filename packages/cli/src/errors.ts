/**
 * The CLI's errors and how they map to exit codes. Only `main.ts` turns them into an exit.
 */
import { InternalError, UserError } from '@ksync/core';

export { InternalError, UserError };

/** Exit codes: documented in docs/cli.md. */
export const EXIT = {
  ok: 0,
  /** A mistake the user can fix, or an outcome they asked to be told about (flush timeout). */
  user: 1,
  /** A bug in ksync. */
  internal: 2,
  /** Interrupted by Ctrl-C before the work finished. */
  interrupted: 130,
} as const;

/** An error another ksync process reported over the control socket. */
export class RemoteCommandError extends Error {
  override readonly name = 'RemoteCommandError';
  readonly kind: 'user' | 'internal';
  constructor(kind: 'user' | 'internal', message: string) {
    super(message);
    this.kind = kind;
  }
}

/** How a thrown value is shown and which exit code it gets. */
export interface ErrorReport {
  readonly exitCode: number;
  readonly message: string;
  /** For internal errors: the stack, shown only with KSYNC_DEBUG. */
  readonly detail?: string;
}

/** Wire error codes that describe the environment (agent gone, refused), not a ksync bug. */
const ENVIRONMENT_CODES = new Set([
  'closed',
  'aborted',
  'failed',
  'version-mismatch',
  'unauthorized',
  'bad-root',
]);

/**
 * Whether an error is for the user to act on rather than a bug: a `UserError`, or an agent
 * `RemoteError` (matched by shape, so this module does not load the agent client) whose code
 * says the agent is unreachable, refused us, or an operation failed on its side.
 */
export function isUserFacing(error: unknown): boolean {
  if (error instanceof UserError) return true;
  return (
    error instanceof Error &&
    error.name === 'RemoteError' &&
    'code' in error &&
    ENVIRONMENT_CODES.has(String(error.code))
  );
}

/** Classifies anything thrown into a one-line message and an exit code. */
export function describeError(error: unknown): ErrorReport {
  if (isUserFacing(error)) {
    return { exitCode: EXIT.user, message: oneLine((error as Error).message) };
  }
  if (error instanceof RemoteCommandError) {
    return error.kind === 'user'
      ? { exitCode: EXIT.user, message: oneLine(error.message) }
      : { exitCode: EXIT.internal, message: internalMessage(error.message) };
  }
  const message = error instanceof Error ? error.message : String(error);
  const stack = error instanceof Error ? error.stack : undefined;
  return {
    exitCode: EXIT.internal,
    message: internalMessage(message),
    ...(stack === undefined ? {} : { detail: stack }),
  };
}

function internalMessage(message: string): string {
  return `internal error: ${oneLine(message)}; this is a bug in ksync, please report it with the output of \`ksync version\` and KSYNC_DEBUG=1 set`;
}

/** Collapses a message onto one line. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, '; ').trim();
}

/** Whether an errno-style error has the given code. */
export function hasCode(error: unknown, ...codes: string[]): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    codes.includes(String(error.code))
  );
}
