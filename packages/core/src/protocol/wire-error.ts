/**
 * Errors as data. Nothing is thrown across the wire: a failed request or a refused connection is
 * answered with `{code, message, retryable}`, and each side turns that back into its own error.
 */

/** Stable error codes; callers may branch on them. */
export const WIRE_ERROR_CODES = [
  /** CLI and agent versions (or protocol revisions) differ. */
  'version-mismatch',
  /** The token was wrong. */
  'unauthorized',
  /** A message arrived out of order (a request before hello, auth and open). */
  'not-ready',
  /** A message was not valid JSON or failed its schema (including path checks). */
  'bad-message',
  /** A frame, batch or stream broke a limit in limits.ts. */
  'too-large',
  /** The remote root named in `open` cannot be used. */
  'bad-root',
  /** The open's target names another node than the agent's. */
  'wrong-node',
  /** No process of the target container runs (it restarted or ended): resolve it again. */
  'target-gone',
  /** The target container exists but does not run. */
  'target-not-running',
  /** The target runs in a VM or user-space kernel sandbox (kata, gVisor) the agent cannot see into. */
  'target-sandboxed',
  /** The target's pod uses a user namespace (`hostUsers: false`), which the agent cannot serve yet. */
  'target-user-namespace',
  /** The endpoint operation itself failed (I/O error, changed file, digest mismatch). */
  'failed',
  /** The connection or endpoint is closed or was lost. */
  'closed',
  /** The content stream was cancelled by its consumer or aborted by its producer. */
  'aborted',
  /** A bug on the answering side. */
  'internal',
] as const;

/** One of the stable error codes. */
export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

/** An error as it crosses the wire. */
export interface WireError {
  readonly code: WireErrorCode;
  /** One line for a human: what happened and, where known, what to do. */
  readonly message: string;
  /** True when repeating the same request later may succeed. */
  readonly retryable: boolean;
}

/** Builds a wire error; messages are cut to one line of bounded length. */
export function wireError(code: WireErrorCode, message: string, retryable = false): WireError {
  return { code, message: oneLine(message), retryable };
}

/**
 * Makes untrusted text safe to show: control characters (terminal escapes, newlines) become
 * spaces and the result is cut to 1000 characters.
 */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return clean.length > 1000 ? `${clean.slice(0, 999)}…` : clean;
}
