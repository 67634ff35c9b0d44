/**
 * `ksync init` and `ksync uninstall` against a cluster: server-side apply of the manifests (field
 * manager `ksync`), the token Secret, and removing it all again.
 *
 * Invariants:
 * - init is idempotent: applying the same manifests again changes no object (server-side apply
 *   does not bump resourceVersion for a no-op), and an existing token is never replaced, so
 *   running syncs keep working.
 * - init never silently changes the agent's version: if the installed DaemonSet carries another
 *   version label, it stops and asks for `--upgrade`.
 * - The token is generated here, sent to the API server once, and never printed or returned.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { InternalError, UserError } from '@ksync/core';
import { kubeCall } from '../call.ts';
import type { KubeTarget } from '../config.ts';
import { KubeNotFoundError, type KubeAction } from '../errors.ts';
import {
  FIELD_MANAGER,
  LABELS,
  NAMESPACE,
  TOKEN_SECRET,
  buildManifests,
  installedObjects,
  secretManifest,
  type ManifestOptions,
} from './manifests.ts';

/** What happened to one object. */
export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

/** One applied object and its outcome, as `kubectl apply` reports it. */
export interface AppliedObject {
  readonly kind: string;
  readonly name: string;
  readonly outcome: ApplyOutcome;
}

/** Options for `applyInstall`. */
export interface InstallOptions extends ManifestOptions {
  readonly target: KubeTarget;
  /** Allow replacing an agent of another version. */
  readonly upgrade: boolean;
}

/** Applies every object (creating the token Secret when it is missing). */
export async function applyInstall(opts: InstallOptions): Promise<AppliedObject[]> {
  const api = KubernetesObjectApi.makeApiClient(opts.target.kc);
  const [namespace, ...rest] = buildManifests(opts);
  const daemonSet = rest.at(-1);
  if (namespace === undefined || daemonSet === undefined) throw new InternalError('no manifests');
  const installed = await readObject(api, opts.target, daemonSet);
  const installedVersion = installed?.metadata?.labels?.[LABELS.version];
  if (installed !== undefined && installedVersion !== opts.version && !opts.upgrade) {
    throw new UserError(
      `the installed ksync agent is version ${installedVersion ?? '(unknown)'} and this CLI is ` +
        `${opts.version}: run 'ksync init --upgrade' to replace it`,
    );
  }
  const applied = [await applyObject(api, opts.target, namespace)];
  const secret = secretManifest(opts, randomBytes(32).toString('base64url'));
  if ((await readObject(api, opts.target, secret)) === undefined) {
    applied.push(await applyObject(api, opts.target, secret));
  } else {
    applied.push({ kind: 'Secret', name: TOKEN_SECRET, outcome: 'unchanged' });
  }
  for (const object of rest) applied.push(await applyObject(api, opts.target, object));
  return applied;
}

/** Server-side applies one object and says whether it changed. */
async function applyObject(
  api: KubernetesObjectApi,
  target: KubeTarget,
  object: KubernetesObject,
): Promise<AppliedObject> {
  const before = await readObject(api, target, object);
  const after = await kubeCall(target, action('patch', object), () =>
    api.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
  );
  const outcome: ApplyOutcome =
    before === undefined
      ? 'created'
      : before.metadata?.resourceVersion === after.metadata?.resourceVersion
        ? 'unchanged'
        : 'configured';
  return { kind: object.kind ?? '', name: object.metadata?.name ?? '', outcome };
}

/** Reads an object; `undefined` when it does not exist. */
async function readObject(
  api: KubernetesObjectApi,
  target: KubeTarget,
  object: KubernetesObject,
): Promise<KubernetesObject | undefined> {
  try {
    return await kubeCall(target, action('get', object), () =>
      api.read({
        apiVersion: object.apiVersion ?? '',
        kind: object.kind ?? '',
        metadata: {
          name: object.metadata?.name ?? '',
          namespace: object.metadata?.namespace ?? '',
        },
      }),
    );
  } catch (error) {
    if (error instanceof KubeNotFoundError) return undefined;
    throw error;
  }
}

/** The RBAC action of a request on an object, for a denial's message. */
function action(verb: string, object: KubernetesObject): KubeAction {
  const group = object.apiVersion?.includes('/') ? `.${object.apiVersion.split('/')[0]}` : '';
  return {
    verb,
    resource: `${(object.kind ?? '').toLowerCase()}s${group}`,
    ...(object.metadata?.namespace === undefined ? {} : { namespace: object.metadata.namespace }),
    ...(object.metadata?.name === undefined ? {} : { name: object.metadata.name }),
  };
}

/** Options for `applyUninstall`. */
export interface UninstallOptions {
  readonly target: KubeTarget;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/**
 * Deletes every object ksync installed and waits until they are gone (the namespace last, so
 * its pods are gone too). Returns the objects that existed.
 */
export async function applyUninstall(opts: UninstallOptions): Promise<string[]> {
  const api = KubernetesObjectApi.makeApiClient(opts.target.kc);
  const objects = installedObjects().reverse();
  const deleted: string[] = [];
  for (const object of objects) {
    try {
      await kubeCall(opts.target, action('delete', object), () =>
        api.delete(object, undefined, undefined, undefined, undefined, 'Foreground'),
      );
      deleted.push(`${object.kind ?? ''}/${object.metadata?.name ?? ''}`);
    } catch (error) {
      if (!(error instanceof KubeNotFoundError)) throw error;
    }
  }
  const deadline = Date.now() + opts.timeoutMs;
  for (const object of objects) {
    while ((await readObject(api, opts.target, object)) !== undefined) {
      if (Date.now() >= deadline) {
        throw new UserError(
          `${object.kind ?? ''} ${object.metadata?.name ?? ''} is still being deleted after ` +
            `${Math.round(opts.timeoutMs / 1000)} s; see 'kubectl get namespace ${NAMESPACE} -o yaml'`,
        );
      }
      await sleep(500, undefined, { signal: opts.signal });
    }
  }
  return deleted;
}
