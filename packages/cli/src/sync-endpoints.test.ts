import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApplyResult, Change, Endpoint } from '@ksync/core';
import { hookApply } from './sync-endpoints.ts';

/** An endpoint class with private state and a getter, as the real ones have. */
class Counting implements Pick<Endpoint, 'apply' | 'close'> {
  #applies = 0;
  closed = false;
  get connected(): boolean {
    return !this.closed;
  }
  get applies(): number {
    return this.#applies;
  }
  apply(changes: readonly Change[]): Promise<ApplyResult> {
    this.#applies++;
    return Promise.resolve({ applied: changes, problems: [] });
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

describe('hookApply', () => {
  it('runs the hooks around apply and close and forwards everything else', async () => {
    const inner = new Counting();
    const seen: number[] = [];
    let closing = 0;
    const hooked = hookApply(inner as unknown as Endpoint & Counting, {
      applied: (result) => {
        seen.push(result.applied.length);
      },
      closing: () => closing++,
    });
    const change: Change = { path: 'a', old: undefined, new: { kind: 'directory' } };
    await hooked.apply([change, change]);
    assert.deepEqual(seen, [2]);
    assert.equal(hooked.applies, 1, 'the private state is the endpoint’s own');
    assert.equal(hooked.connected, true);
    await hooked.close();
    assert.equal(closing, 1);
    assert.equal(hooked.connected, false);
  });
});
