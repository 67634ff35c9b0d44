/**
 * The permission check a resource sync makes before it starts: may the user `list` and `watch`
 * each kind in each namespace? One SelfSubjectAccessReview per verb and place, so a denial names
 * exactly what is missing, and the kinds that are allowed go on syncing without it.
 */
import type { KubeTarget } from '../config.ts';
import { KubeForbiddenError } from '../errors.ts';
import { requestJson } from './api.ts';
import { describeKind, type ApiKind } from './kinds.ts';
import { isJsonObject } from './project.ts';

/** One kind in one namespace (`undefined` for a cluster-scoped kind). */
export interface KindPlace {
  readonly kind: ApiKind;
  readonly namespace: string | undefined;
}

/** The verbs a mirror needs. */
const VERBS = ['list', 'watch'] as const;

/** Returns the forbidden error for `place` when a verb the mirror needs is denied, else undefined. */
export async function checkMirrorAccess(
  target: KubeTarget,
  place: KindPlace,
): Promise<KubeForbiddenError | undefined> {
  const { kind, namespace } = place;
  const denied: string[] = [];
  await Promise.all(
    VERBS.map(async (verb) => {
      const review = await requestJson(target, {
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              group: kind.group,
              resource: kind.plural,
              verb,
              ...(namespace === undefined ? {} : { namespace }),
            },
          },
        },
        action: { verb: 'create', resource: 'selfsubjectaccessreviews.authorization.k8s.io' },
      });
      if (!(isJsonObject(review.status) && review.status.allowed === true)) denied.push(verb);
    }),
  );
  if (denied.length === 0) return undefined;
  return new KubeForbiddenError(
    {
      verb: VERBS.filter((v) => denied.includes(v)).join(','),
      resource: describeKind(kind),
      ...(namespace === undefined ? {} : { namespace }),
    },
    undefined,
  );
}
