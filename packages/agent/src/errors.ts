/**
 * Errors of the agent package. A `RemoteError` is a wire error (`{code, message, retryable}`)
 * turned back into an exception on the receiving side; callers may branch on `code`.
 */
import { oneLine, type WireError, type WireErrorCode } from '@ksync/core';

/** A request that failed on the other side of the wire, or because the wire went away. */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
  readonly code: WireErrorCode;
  readonly retryable: boolean;
  constructor(error: WireError) {
    super(oneLine(error.message));
    this.code = error.code;
    this.retryable = error.retryable;
  }
}

export { errorMessage } from '@ksync/core';
