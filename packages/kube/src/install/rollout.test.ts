import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1DaemonSet } from '@kubernetes/client-node';
import { rolloutProgress } from './rollout.ts';

function ds(generation: number, status: NonNullable<V1DaemonSet['status']>): V1DaemonSet {
  return { metadata: { generation }, status };
}

describe('rolloutProgress (as kubectl rollout status counts a DaemonSet)', () => {
  const base = { currentNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3 };
  it('counts nodes whose agent is updated and available', () => {
    assert.deepEqual(
      rolloutProgress(
        ds(2, {
          ...base,
          observedGeneration: 2,
          desiredNumberScheduled: 3,
          updatedNumberScheduled: 2,
          numberAvailable: 3,
        }),
      ),
      { ready: 2, desired: 3 },
    );
    assert.deepEqual(
      rolloutProgress(
        ds(2, {
          ...base,
          observedGeneration: 2,
          desiredNumberScheduled: 3,
          updatedNumberScheduled: 3,
          numberAvailable: 1,
        }),
      ),
      { ready: 1, desired: 3 },
    );
  });
  it('counts nothing until the controller has seen the new template', () => {
    assert.deepEqual(
      rolloutProgress(
        ds(3, {
          ...base,
          observedGeneration: 2,
          desiredNumberScheduled: 3,
          updatedNumberScheduled: 3,
          numberAvailable: 3,
        }),
      ),
      { ready: 0, desired: 3 },
    );
  });
});
