/**
 * The endpoints of a resources spec: the local directory, and the cluster's objects of the kinds
 * and namespaces the spec names (`@ksync/kube`'s resource endpoint). The kinds are resolved
 * against discovery each time the sync opens, so a CRD installed after `create` is found, and a
 * kind that went away says so in one line (the runner retries).
 *
 * Secrets never sit readable by others on the local disk: their directories are made mode 0700
 * before the first sync (so a file is private from the moment it is created, before its own mode
 * is set), and every Secret file the sync writes is set to 0600.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError, type Endpoint } from '@ksync/core';
import { openLocalEndpoint } from '@ksync/fs';
import {
  openResourceEndpoint,
  readApiKinds,
  readKubeTarget,
  resolveKinds,
  type ApiKind,
  type KubeTarget,
} from '@ksync/kube';
import type { ResourcesTarget, SyncSpec } from '../spec.ts';
import { hookApply, type EndpointHooks, type SyncEndpoints } from '../sync-endpoints.ts';

/** The cluster a resources spec names; a `UserError` for an unknown context or kubeconfig. */
export function readResourcesCluster(target: ResourcesTarget, env: NodeJS.ProcessEnv): KubeTarget {
  return readKubeTarget({
    env,
    ...(target.context === undefined ? {} : { context: target.context }),
    ...(target.kubeconfig === undefined ? {} : { kubeconfig: target.kubeconfig }),
  });
}

/** The kinds a spec names, resolved; a `UserError` naming every name that does not resolve. */
export async function readSpecKinds(
  cluster: KubeTarget,
  target: Pick<ResourcesTarget, 'kinds' | 'secrets'>,
): Promise<readonly ApiKind[]> {
  const { kinds, problems } = resolveKinds(target.kinds, await readApiKinds(cluster), {
    secrets: target.secrets,
  });
  if (problems.length > 0) throw new UserError(problems.join('; '));
  return kinds;
}

/** Options for `openResourceEndpoints`. */
export interface ResourceEndpointsOptions {
  readonly spec: SyncSpec;
  readonly target: ResourcesTarget;
  readonly hooks: EndpointHooks;
  readonly env: NodeJS.ProcessEnv;
}

/** Opens both endpoints of a resources spec. */
export async function openResourceEndpoints(
  options: ResourceEndpointsOptions,
): Promise<SyncEndpoints> {
  const { spec, target, hooks } = options;
  const cluster = readResourcesCluster(target, options.env);
  const kinds = await readSpecKinds(cluster, target);
  const secrets = kinds.filter((k) => k.group === '' && k.plural === 'secrets');
  const privateDirs = secrets.flatMap(() => target.namespaces.map((ns) => `${ns}/secrets`));
  for (const dir of privateDirs) {
    await mkdir(join(spec.local, dir), { recursive: true });
    await chmod(join(spec.local, dir), 0o700);
  }
  const remote = await openResourceEndpoint({
    target: cluster,
    kinds,
    namespaces: target.namespaces,
    allowDelete: target.allowDelete,
    readOnly: target.readOnly,
  });
  const local = openLocalEndpoint({
    root: spec.local,
    ignore: spec.ignore,
    stagingDir: hooks.stagingDir,
    ...(hooks.onWarning === undefined ? {} : { onWarning: hooks.onWarning }),
  });
  return {
    local: privateDirs.length === 0 ? local : withPrivateFiles(local, spec.local, privateDirs),
    remote,
  };
}

/** `local`, with every file its apply writes below one of `dirs` set to mode 0600. */
function withPrivateFiles(local: Endpoint, root: string, dirs: readonly string[]): Endpoint {
  const isPrivate = (path: string): boolean => dirs.some((d) => path.startsWith(`${d}/`));
  return hookApply(local, {
    applied: async (result) => {
      for (const change of result.applied) {
        if (change.new?.kind === 'file' && isPrivate(change.path))
          await chmod(join(root, change.path), 0o600);
      }
    },
  });
}
