import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseControlRequest } from './control-protocol.ts';

describe('parseControlRequest', () => {
  it('accepts well-formed requests', () => {
    assert.deepEqual(parseControlRequest({ id: 1, method: 'ping' }), { id: 1, method: 'ping' });
    const flush = { id: 2, method: 'flush', name: 'web', timeoutMs: 1000 };
    assert.deepEqual(parseControlRequest(flush), flush);
    const resolve = { id: 3, method: 'resolve', name: 'web', path: 'a', keep: 'remote' };
    assert.deepEqual(parseControlRequest(resolve), resolve);
  });

  it('names what is wrong', () => {
    assert.equal(parseControlRequest(null), 'request is not an object');
    assert.equal(parseControlRequest({ method: 'ping' }), 'request has no numeric id');
    assert.equal(parseControlRequest({ id: 1, method: 'rm -rf' }), 'unknown method "rm -rf"');
    assert.equal(
      parseControlRequest({ id: 1, method: 'resolve', name: 'w', path: 'a', keep: 'both' }),
      'resolve needs name, path and keep',
    );
    assert.equal(parseControlRequest({ id: 1, method: 'pause' }), 'pause needs a name');
    assert.equal(
      parseControlRequest({ id: 1, method: 'flush', name: 'w', timeoutMs: '1s' }),
      'flush needs a name and a numeric timeoutMs',
    );
  });
});
