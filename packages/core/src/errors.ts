/**
 * Errors shared by every package. Only the CLI and agent entry points turn these into exit codes;
 * everything else throws or returns them.
 */

/** A mistake the user can fix; the message says what happened and what to do next. */
export class UserError extends Error {
  override readonly name = 'UserError';
}

/** A bug or broken invariant inside ksync; the message is for a bug report. */
export class InternalError extends Error {
  override readonly name = 'InternalError';
}

/** A path that is not a valid relative sync path (absolute, `..`, NUL, backslash, ...). */
export class PathError extends UserError {
  readonly path: string;
  constructor(path: string, reason: string) {
    super(`invalid path ${JSON.stringify(path)}: ${reason}`);
    this.path = path;
  }
}

/** The message of anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs the functions given to `run` one at a time, in order; a failure does not stop the next. */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once everything queued before it has settled; resolves or rejects as `fn` does. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
