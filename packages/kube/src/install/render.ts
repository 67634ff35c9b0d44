/**
 * The install manifests as YAML, for `ksync init --dry-run -o yaml` and for
 * deploy/kubernetes/ksync.yaml (rendered by `npm run -s manifests`; a test checks they match).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { NAMESPACE, TOKEN_KEY, TOKEN_SECRET, USER_ROLE } from './manifests.ts';

/** The comment at the top of the rendered file: how to add the token Secret by hand. */
const HEADER = `# ksync: the node agent and what a user of ksync needs.
# Generated from packages/kube/src/install/manifests.ts by \`npm run -s manifests\`
# (or \`ksync init --dry-run -o yaml\`); do not edit by hand.
#
# \`ksync init\` applies these objects and also creates the Secret ${TOKEN_SECRET} with a random
# token, which this file leaves out. To install without ksync, create it after the namespace:
#   kubectl -n ${NAMESPACE} create secret generic ${TOKEN_SECRET} \\
#     --from-literal=${TOKEN_KEY}="$(head -c 32 /dev/urandom | base64 | tr -d '/+=')"
# and let users in:
#   kubectl -n ${NAMESPACE} create rolebinding ksync-alice --role=${USER_ROLE} --user=alice
`;

/** Renders objects as one multi-document YAML stream with the explanatory header. */
export function renderManifestsYaml(objects: readonly KubernetesObject[]): string {
  return HEADER + objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join('');
}
