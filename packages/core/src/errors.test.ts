import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SerialQueue, errorMessage } from './errors.ts';

describe('errorMessage', () => {
  it('is the message of an Error, and the text of anything else', () => {
    assert.equal(errorMessage(new Error('boom')), 'boom');
    assert.equal(errorMessage('plain'), 'plain');
    assert.equal(errorMessage(42), '42');
  });
});

describe('SerialQueue', () => {
  it('runs one function at a time, in order, and goes on after a failure', async () => {
    const queue = new SerialQueue();
    const events: string[] = [];
    let release = (): void => undefined;
    const first = queue.run(async () => {
      events.push('first start');
      await new Promise<void>((resolve) => (release = resolve));
      events.push('first end');
      return 1;
    });
    const failing = queue.run(() => {
      events.push('second');
      return Promise.reject(new Error('second failed'));
    });
    const third = queue.run(() => {
      events.push('third');
      return Promise.resolve(3);
    });
    await Promise.resolve();
    assert.deepEqual(events, ['first start'], 'the others wait for the first');
    release();
    assert.equal(await first, 1);
    await assert.rejects(failing, /second failed/);
    assert.equal(await third, 3);
    assert.deepEqual(events, ['first start', 'first end', 'second', 'third']);
  });
});
