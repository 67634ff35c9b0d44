/**
 * `ksync resources create`: validates a resources spec (every problem at once), resolves its
 * kinds against the cluster's discovery and checks `list` and `watch` on each kind in each
 * namespace, then stores it. A denied kind is one warning line, not a failure: the sync mirrors
 * the kinds it may read and reports the others until access is granted.
 */
import { resolve } from 'node:path';
import { stringOption, type CommandRun } from '../command.ts';
import { UserError } from '../errors.ts';
import { kubeFlags } from '../kube-flags.ts';
import { splitList, validateResourcesSpec, type ResourcesTarget, type SyncSpec } from '../spec.ts';
import type { SyncMode } from '@ksync/core';
import { checkLocalDir, optional, readCommonInput, storeSpec } from './create.ts';

/** Adds a resources sync. */
export const run: CommandRun = async (ctx, input) => {
  const { localArg, local, name, mode, ignore } = readCommonInput(ctx, input);
  const flags = kubeFlags(ctx, input);
  const given = {
    name,
    local,
    mode,
    ignore,
    namespaces: splitList(flags.namespace),
    kinds: splitList(stringOption(input, 'kinds')),
  };
  const problems = validateResourcesSpec(given);
  const realLocal = await checkLocalDir(local, localArg, problems);
  if (problems.length > 0) throw new UserError(problems.join('; '));

  const { readResourcesCluster, readSpecKinds } = await import('../targets/resources.ts');
  const kubeconfig =
    flags.kubeconfig === undefined ? undefined : resolve(ctx.cwd, flags.kubeconfig);
  const partial = {
    kind: 'resources' as const,
    ...optional('context', flags.context),
    ...optional('kubeconfig', kubeconfig),
    kinds: given.kinds,
    secrets: input.options.secrets === true,
    allowDelete: input.options.allowDelete === true,
    readOnly: input.options.readOnly === true,
  };
  const cluster = readResourcesCluster({ ...partial, namespaces: [] }, ctx.env);
  const target: ResourcesTarget = {
    ...partial,
    namespaces: given.namespaces.length > 0 ? given.namespaces : [cluster.namespace],
  };
  const spec: SyncSpec = {
    name: given.name,
    local: realLocal,
    remote: '/',
    target,
    mode: given.mode as SyncMode,
    ignore,
    paused: input.options.paused === true,
    createdAt: Date.now(),
  };
  await storeSpec(ctx, spec, {
    force: input.options.force === true,
    check: async () => {
      if (input.options.check === false) return;
      const { checkMirrorAccess } = await import('@ksync/kube');
      const kinds = await readSpecKinds(cluster, target);
      const places = kinds.flatMap((kind) =>
        (kind.namespaced ? target.namespaces : [undefined]).map((namespace) => ({
          kind,
          namespace,
        })),
      );
      const denials = await Promise.all(places.map((place) => checkMirrorAccess(cluster, place)));
      for (const denial of denials) {
        if (denial !== undefined)
          ctx.output.warn(`${denial.message}; the other kinds sync without it`);
      }
      if (denials.every((d) => d !== undefined))
        throw new UserError(
          'not created: every kind is forbidden; ask for list and watch access first',
        );
    },
  });
};
