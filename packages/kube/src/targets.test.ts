import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { chooseContainer, planPodTarget, planTargets } from './targets.ts';

const ID = `containerd://${'a'.repeat(64)}`;
const UID = '0f0e0d0c-0b0a-4908-8706-050403020100';

function pod(patch: {
  name?: string;
  running?: boolean;
  deleting?: boolean;
  annotations?: Record<string, string>;
  containers?: string[];
  init?: { name: string; always?: boolean; running?: boolean }[];
}): V1Pod {
  const containers = patch.containers ?? ['app'];
  return {
    metadata: {
      name: patch.name ?? 'web-1',
      namespace: 'default',
      uid: UID,
      ...(patch.annotations === undefined ? {} : { annotations: patch.annotations }),
      ...(patch.deleting === true ? { deletionTimestamp: new Date(0) } : {}),
    },
    spec: {
      nodeName: 'node-a',
      containers: containers.map((name) => ({ name })),
      initContainers: (patch.init ?? []).map((c) => ({
        name: c.name,
        ...(c.always === true ? { restartPolicy: 'Always' } : {}),
      })),
    },
    status: {
      containerStatuses: containers.map((name) => ({
        name,
        image: 'x',
        imageID: 'x',
        ready: true,
        restartCount: 0,
        ...(patch.running === false
          ? { state: { waiting: { reason: 'PodInitializing' } } }
          : { containerID: ID, state: { running: {} } }),
      })),
      initContainerStatuses: (patch.init ?? []).map((c) => ({
        name: c.name,
        image: 'x',
        imageID: 'x',
        ready: false,
        restartCount: 0,
        containerID: ID,
        state: c.running === true ? { running: {} } : { terminated: { exitCode: 0 } },
      })),
    },
  };
}

describe('chooseContainer', () => {
  it('takes -c, then the default-container annotation, then the first container', () => {
    const p = pod({
      containers: ['a', 'b'],
      annotations: { 'kubectl.kubernetes.io/default-container': 'b' },
    });
    assert.equal(chooseContainer(p, 'a'), 'a');
    assert.equal(chooseContainer(p, undefined), 'b');
    assert.equal(chooseContainer(pod({ containers: ['a', 'b'] }), undefined), 'a');
  });
});

describe('planPodTarget', () => {
  it('a running container is a target with the pod UID, container ID and node', () => {
    const planned = planPodTarget(pod({}), undefined);
    assert.deepEqual(planned, {
      ok: true,
      target: {
        kind: 'container',
        namespace: 'default',
        pod: 'web-1',
        podUid: UID,
        container: 'app',
        containerId: ID,
        nodeName: 'node-a',
      },
    });
  });

  it('skips pods whose container is not running yet (init containers still running)', () => {
    const planned = planPodTarget(
      pod({ running: false, init: [{ name: 'setup', running: true }] }),
      undefined,
    );
    assert.deepEqual(planned, { ok: false, pod: 'web-1', reason: 'container app not running' });
  });

  it('skips terminating pods', () => {
    assert.deepEqual(planPodTarget(pod({ deleting: true }), undefined), {
      ok: false,
      pod: 'web-1',
      reason: 'terminating',
    });
  });

  it('never targets a plain init container, but a native sidecar is selectable', () => {
    const plain = planPodTarget(pod({ init: [{ name: 'setup', running: true }] }), 'setup');
    assert.deepEqual(plain, { ok: false, pod: 'web-1', reason: 'has no container setup' });
    const sidecar = planPodTarget(
      pod({ init: [{ name: 'proxy', always: true, running: true }] }),
      'proxy',
    );
    assert.equal(sidecar.ok && sidecar.target.container, 'proxy');
  });

  it('names a container the pod does not have', () => {
    assert.deepEqual(planPodTarget(pod({}), 'nope'), {
      ok: false,
      pod: 'web-1',
      reason: 'has no container nope',
    });
  });
});

describe('planTargets', () => {
  it('orders by pod name', () => {
    const planned = planTargets([pod({ name: 'b' }), pod({ name: 'a' })], undefined);
    assert.deepEqual(
      planned.map((p) => (p.ok ? p.target.pod : p.pod)),
      ['a', 'b'],
    );
  });
});
