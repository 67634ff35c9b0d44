import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseControlRequest, trimArgs } from './control-protocol.ts';

describe('parseControlRequest', () => {
  it('accepts well-formed requests', () => {
    assert.deepEqual(parseControlRequest({ id: 1, method: 'ping' }), {
      id: 1,
      method: 'ping',
      args: [],
    });
    const flush = { id: 2, method: 'flush', args: ['web', { timeoutMs: 1000 }] };
    assert.deepEqual(parseControlRequest(flush), flush);
    const resolve = { id: 3, method: 'resolve', args: ['web', 'a', 'remote'] };
    assert.deepEqual(parseControlRequest(resolve), resolve);
    const list = { id: 4, method: 'list', args: [] };
    assert.deepEqual(parseControlRequest(list), list);
    const remove = { id: 5, method: 'remove', args: [{ names: ['web'], force: true }] };
    assert.deepEqual(parseControlRequest(remove), remove);
  });

  it('names what is wrong', () => {
    assert.equal(parseControlRequest(null), 'request is not an object');
    assert.equal(parseControlRequest({ method: 'ping' }), 'request has no numeric id');
    assert.equal(parseControlRequest({ id: 1, method: 'rm -rf' }), 'unknown method "rm -rf"');
    assert.equal(parseControlRequest({ id: 1, method: 'toString' }), 'unknown method "toString"');
    assert.match(
      parseControlRequest({ id: 1, method: 'resolve', args: ['w', 'a', 'both'] }) as string,
      /^bad arguments for resolve: /,
    );
    assert.match(
      parseControlRequest({ id: 1, method: 'pause' }) as string,
      /^bad arguments for pause/,
    );
    assert.match(
      parseControlRequest({ id: 1, method: 'flush', args: ['w', { timeoutMs: '1s' }] }) as string,
      /^bad arguments for flush: .*timeoutMs/s,
    );
    assert.match(
      parseControlRequest({ id: 1, method: 'create', args: [{ name: 'w' }] }) as string,
      /^bad arguments for create/,
    );
  });
});

describe('trimArgs', () => {
  it('drops trailing undefined arguments only', () => {
    assert.deepEqual(trimArgs([undefined]), []);
    assert.deepEqual(trimArgs(['a', undefined, 'b', undefined]), ['a', undefined, 'b']);
  });
});
