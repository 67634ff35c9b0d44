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
