/** Tests' `KubeTarget` for a fake API server: one context, a bearer token, no TLS. */
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeTarget } from './config.ts';

/** A target whose cluster is at `serverUrl` (http), with token `token`, in `namespace`. */
export function fakeKubeTarget(serverUrl: string, namespace: string, token: string): KubeTarget {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: serverUrl, skipTLSVerify: true }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'u' }],
    currentContext: 'fake',
  });
  return { kc, context: 'fake', server: serverUrl, namespace, files: [] };
}
