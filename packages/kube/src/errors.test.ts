import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { UserError } from '@ksync/core';
import {
  KubeForbiddenError,
  KubeNotFoundError,
  KubeUnreachableError,
  toKubeError,
} from './errors.ts';

const endpoint = { server: 'https://127.0.0.1:6443', context: 'kind' };
const action = { verb: 'create', resource: 'pods/portforward', namespace: 'ksync-system' };

describe('toKubeError', () => {
  it('maps a 403 to forbidden naming the verb, resource and user, without the raw body', () => {
    const body = JSON.stringify({
      kind: 'Status',
      reason: 'Forbidden',
      message:
        'pods "a" is forbidden: User "system:serviceaccount:x:y" cannot create resource "pods/portforward" in API group "" in the namespace "ksync-system"',
    });
    const error = toKubeError(new ApiException(403, 'Forbidden', body, {}), action, endpoint);
    assert.ok(error instanceof KubeForbiddenError);
    assert.equal(
      error.message,
      'forbidden: user "system:serviceaccount:x:y" cannot create pods/portforward in namespace ' +
        '"ksync-system"; ask a cluster admin for this permission (docs/security.md lists what ksync needs)',
    );
  });

  it("maps a failed watch request (client-node's statusCode) by its status", () => {
    const watchError = Object.assign(new Error('Forbidden'), { statusCode: 403 });
    assert.ok(toKubeError(watchError, action, endpoint) instanceof KubeForbiddenError);
  });

  it('maps a 404 to not found and other answers to one line', () => {
    const get = {
      verb: 'get',
      resource: 'daemonsets.apps',
      namespace: 'ksync-system',
      name: 'ksync-agent',
    };
    const missing = toKubeError(new ApiException(404, 'NotFound', '{}', {}), get, endpoint);
    assert.ok(missing instanceof KubeNotFoundError);
    assert.equal(
      missing.message,
      'daemonsets.apps "ksync-agent" not found in namespace "ksync-system"',
    );
    const invalid = toKubeError(
      new ApiException(422, 'Invalid', { message: 'spec: Invalid value:\n  bad' }, {}),
      get,
      endpoint,
    );
    assert.ok(invalid instanceof UserError);
    assert.equal(
      invalid.message,
      'cannot get daemonsets.apps "ksync-agent" in namespace "ksync-system": spec: Invalid value:   bad',
    );
    const unauthorized = toKubeError(new ApiException(401, 'Unauthorized', '', {}), get, endpoint);
    assert.match(unauthorized.message, /did not accept your credentials \(401 Unauthorized\)/);
  });

  it('maps transport failures (undici wraps the cause) to unreachable', () => {
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), {
        code: 'ECONNREFUSED',
      }),
    });
    const error = toKubeError(refused, action, endpoint);
    assert.ok(error instanceof KubeUnreachableError);
    assert.equal(
      error.message,
      'cannot reach the cluster at https://127.0.0.1:6443 (context "kind"): connection refused; ' +
        'check that it is running and that --context or --kubeconfig point at it',
    );
    const tls = new TypeError('fetch failed', {
      cause: Object.assign(new Error('self-signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
    });
    assert.match(toKubeError(tls, action, endpoint).message, /its TLS certificate is not trusted/);
  });

  it('passes UserErrors through', () => {
    const original = new UserError('already mapped');
    assert.equal(toKubeError(original, action, endpoint), original);
  });
});
