import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXIT, RemoteCommandError, UserError, describeError } from './errors.ts';

class RemoteError extends Error {
  override readonly name = 'RemoteError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

describe('describeError', () => {
  it('maps user errors to exit 1 on one line', () => {
    assert.deepEqual(describeError(new UserError('bad\n  thing')), {
      exitCode: EXIT.user,
      message: 'bad; thing',
    });
    assert.equal(describeError(new RemoteCommandError('user', 'x')).exitCode, EXIT.user);
  });

  it('maps an unreachable agent to exit 1, and a protocol bug to exit 2', () => {
    assert.equal(describeError(new RemoteError('closed', 'not connected')).exitCode, EXIT.user);
    assert.equal(describeError(new RemoteError('bad-message', 'schema')).exitCode, EXIT.internal);
  });

  it('says how to report internal errors and keeps the stack for KSYNC_DEBUG', () => {
    const report = describeError(new TypeError('x is undefined'));
    assert.equal(report.exitCode, EXIT.internal);
    assert.match(
      report.message,
      /^internal error: x is undefined; this is a bug in ksync, please report it/,
    );
    assert.match(report.detail ?? '', /TypeError/);
  });
});
