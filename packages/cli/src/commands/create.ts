/**
 * `ksync create`: validates a spec (every problem at once), checks the agent (direct) or the
 * context, namespace and pod permissions (Kubernetes), stores it.
 */
import { stat, realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import {
  stringArg,
  stringOption,
  type CommandContext,
  type CommandInput,
  type CommandRun,
} from '../command.ts';
import { withBackend } from '../control-client.ts';
import { UserError, hasCode } from '../errors.ts';
import { kubeFlags } from '../kube-flags.ts';
import {
  checkRoots,
  deriveName,
  describeTarget,
  parseReload,
  validateSpec,
  type KubernetesTarget,
  type RootCheckInput,
  type SpecInput,
  type SpecTarget,
  type SyncSpec,
} from '../spec.ts';
import { checkAgent } from '../sync-endpoints.ts';
import { DEFAULT_MODE, type SyncMode } from '@ksync/core';

/** What `create` and `resources create` read alike: the local dir, name, mode and ignores. */
export function readCommonInput(
  ctx: CommandContext,
  input: CommandInput,
): { localArg: string; local: string; name: string; mode: string; ignore: string[] } {
  const localArg = stringArg(input, 0) ?? '';
  const local = resolve(ctx.cwd, localArg);
  return {
    localArg,
    local,
    name: stringOption(input, 'name') ?? deriveName(local),
    mode: stringOption(input, 'mode') ?? DEFAULT_MODE,
    ignore: Array.isArray(input.options.ignore) ? (input.options.ignore as string[]) : [],
  };
}

/** Adds a sync. */
export const run: CommandRun = async (ctx, input) => {
  const { localArg, local, name, mode, ignore } = readCommonInput(ctx, input);
  const tokenArg = stringOption(input, 'tokenFile');
  const specInput: SpecInput = {
    name,
    local,
    remote: stringArg(input, 1) ?? '',
    mode,
    ignore,
    ...optional('url', stringOption(input, 'direct')),
    ...optional('tokenFile', tokenArg === undefined ? undefined : resolve(ctx.cwd, tokenArg)),
    ...optional('selector', stringOption(input, 'selector')),
    ...optional('pod', stringOption(input, 'pod')),
    ...optional('container', stringOption(input, 'container')),
    ...optional('reload', stringOption(input, 'reload')),
  };
  const problems = validateSpec(specInput);
  const realLocal = await checkLocalDir(local, localArg, problems);
  if (specInput.tokenFile !== undefined && specInput.url !== undefined)
    await checkReadable(specInput.tokenFile, problems);
  const kube = specInput.selector !== undefined || specInput.pod !== undefined;
  const target: SpecTarget = kube
    ? await readKubernetesTarget(ctx, input, specInput, problems)
    : { kind: 'direct', url: specInput.url ?? '', tokenFile: specInput.tokenFile ?? '' };
  if (problems.length > 0) throw new UserError(problems.join('; '));

  const reload = specInput.reload === undefined ? undefined : parseReload(specInput.reload);
  const spec: SyncSpec = {
    name: specInput.name,
    local: realLocal,
    remote: specInput.remote.replace(/\/+$/, '') || '/',
    target,
    mode: specInput.mode as SyncMode,
    ...(reload === undefined || typeof reload === 'string' ? {} : { reload }),
    ignore,
    paused: input.options.paused === true,
    createdAt: Date.now(),
  };
  await storeSpec(ctx, spec, {
    force: input.options.force === true,
    check: async () => {
      if (target.kind === 'direct' && input.options.check !== false) await checkAgent(spec, target);
    },
  });
};

/** Options for `storeSpec`. */
export interface StoreOptions {
  /** `--force`: allow roots `checkRoots` refuses otherwise. */
  readonly force: boolean;
  /** Checks the remote side once the roots passed (connects, so it runs after the cheap checks). */
  readonly check: () => Promise<void>;
}

/**
 * Stores a new spec once its roots pass `checkRoots` (before connecting, and again against the
 * syncs that exist when it is stored), and says what happened and what to run next.
 */
export async function storeSpec(
  ctx: CommandContext,
  spec: SyncSpec,
  options: StoreOptions,
): Promise<void> {
  const [ksyncHome, userHome] = await Promise.all([
    realOrSelf(ctx.home.root),
    realOrSelf(homedir()),
  ]);
  const rootCheck = {
    local: spec.local,
    remote: spec.remote,
    url: describeTarget(spec.target),
    ksyncHome,
    userHome,
    force: options.force,
  };
  const refuse = (others: RootCheckInput['others']): void => {
    const rootProblems = checkRoots({ ...rootCheck, others });
    if (rootProblems.length > 0) throw new UserError(rootProblems.join('; '));
  };
  refuse([]);
  await options.check();
  const view = await withBackend({ home: ctx.home }, async (backend) => {
    // A sync of the same name is refused by create itself, with its own message.
    refuse((await backend.list()).filter((other) => other.name !== spec.name));
    const created = await backend.create(spec);
    return { created, watching: backend.kind === 'watch' };
  });
  const where =
    spec.target.kind === 'resources'
      ? `cluster objects ${describeTarget(spec.target)}`
      : `${describeTarget(spec.target)} ${spec.remote}`;
  ctx.output.done(`created sync ${spec.name}: ${spec.local} <-> ${where} (${spec.mode})`);
  if (!view.watching)
    ctx.output.info('start syncing with: ksync watch --daemon (or: ksync run ' + spec.name + ')');
}

/**
 * The Kubernetes target of `create`: the context and namespace resolved as kubectl does, and
 * checked against the cluster unless other problems already stop the create (or --no-check).
 * The context and kubeconfig are stored only when given, so the spec follows kubectl's defaults.
 */
async function readKubernetesTarget(
  ctx: CommandContext,
  input: CommandInput,
  specInput: SpecInput,
  problems: string[],
): Promise<KubernetesTarget> {
  const flags = kubeFlags(ctx, input);
  const kubeconfig =
    flags.kubeconfig === undefined ? undefined : resolve(ctx.cwd, flags.kubeconfig);
  const partial = {
    kind: 'kubernetes' as const,
    ...optional('context', flags.context),
    ...optional('kubeconfig', kubeconfig),
    ...optional('selector', specInput.selector),
    ...optional('pod', specInput.pod),
    ...optional('container', specInput.container),
  };
  const { readSpecCluster } = await import('../targets/kubernetes.ts');
  const { checkWorkloadPlace } = await import('@ksync/kube');
  try {
    const cluster = readSpecCluster({ ...partial, namespace: flags.namespace ?? '' }, ctx.env);
    const target: KubernetesTarget = { ...partial, namespace: cluster.namespace };
    if (problems.length === 0 && input.options.check !== false) {
      problems.push(
        ...(await checkWorkloadPlace(cluster, {
          namespace: target.namespace,
          ...optional('selector', target.selector),
        })),
      );
    }
    return target;
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    problems.push(error.message);
    return { ...partial, namespace: flags.namespace ?? 'default' };
  }
}

/** `{[key]: value}`, or nothing when value is undefined (exactOptionalPropertyTypes). */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Adds a problem unless `path` is an existing directory; returns its real path. */
export async function checkLocalDir(
  path: string,
  given: string,
  problems: string[],
): Promise<string> {
  try {
    const real = await realpath(path);
    if (!(await stat(real)).isDirectory()) {
      problems.push(`local path ${given} is not a directory; sync a directory`);
    }
    return real;
  } catch (error) {
    if (!hasCode(error, 'ENOENT', 'ENOTDIR', 'EACCES')) throw error;
    problems.push(`local directory ${given} does not exist; create it first (mkdir -p ${given})`);
    return path;
  }
}

/** The real path of `path`, or `path` itself while it does not exist. */
async function realOrSelf(path: string): Promise<string> {
  return realpath(path).catch(() => path);
}

async function checkReadable(path: string, problems: string[]): Promise<void> {
  try {
    if (!(await stat(path)).isFile()) problems.push(`token file ${path} is not a file`);
  } catch (error) {
    if (!hasCode(error, 'ENOENT', 'ENOTDIR', 'EACCES')) throw error;
    problems.push(`token file ${path} does not exist`);
  }
}
