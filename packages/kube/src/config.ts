/**
 * Which cluster, user and namespace a command talks to, resolved exactly as kubectl does
 * (client-go `clientcmd` loading rules):
 * - `--kubeconfig FILE` alone when given (it must exist); else every file in `KUBECONFIG`
 *   (separated by `:`, `;` on Windows; missing files are skipped); else `~/.kube/config`.
 * - Merging several files: the first file that defines a cluster, user or context by a name
 *   wins, and so does the first non-empty `current-context`. (client-node's own
 *   `loadFromDefault` lets later files win and throws on duplicate names, so we merge here.)
 * - The context is `--context`, else `current-context`; the namespace is `--namespace`, else the
 *   context's namespace, else `default`.
 * Everything that can go wrong is a one-line `UserError` that names the file and what to do.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Cluster, Context, User } from '@kubernetes/client-node';
import { UserError, oneLine } from '@ksync/core';
import type { KubeEndpoint } from './errors.ts';

/** The `--kubeconfig`, `--context` and `--namespace` flags, and the environment. */
export interface KubeFlags {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace?: string;
  readonly env: NodeJS.ProcessEnv;
}

/** A resolved kubeconfig: client-node's config set to the chosen context, and what it names. */
export interface KubeTarget extends KubeEndpoint {
  readonly kc: KubeConfig;
  /** The namespace workloads are looked up in (flag, context, or `default`). */
  readonly namespace: string;
  /** The kubeconfig files that were read, for messages. */
  readonly files: readonly string[];
}

/** Reads the kubeconfig the way kubectl does and selects the context. */
export function readKubeTarget(flags: KubeFlags): KubeTarget {
  const files = kubeconfigFiles(flags);
  const merged = mergeFiles(files);
  const where = files.join(', ');
  const contextName = flags.context ?? merged.currentContext;
  if (contextName === undefined || contextName === '') {
    throw new UserError(
      `no current context in ${where}; pass --context NAME or run 'kubectl config use-context NAME'`,
    );
  }
  const context = merged.contexts.find((c) => c.name === contextName);
  if (context === undefined) {
    const known = merged.contexts.map((c) => c.name).join(', ');
    throw new UserError(
      `context "${contextName}" not found in ${where}` +
        `${known === '' ? ' (it has no contexts)' : `; it has: ${known}`}`,
    );
  }
  const cluster = merged.clusters.find((c) => c.name === context.cluster);
  if (cluster === undefined) {
    throw new UserError(
      `context "${contextName}" names cluster "${context.cluster}", which is not in ${where}`,
    );
  }
  if (context.user !== '' && !merged.users.some((u) => u.name === context.user)) {
    throw new UserError(
      `context "${contextName}" names user "${context.user}", which is not in ${where}`,
    );
  }
  const kc = new KubeConfig();
  kc.loadFromOptions({ ...merged, currentContext: contextName });
  return {
    kc,
    context: contextName,
    server: cluster.server,
    namespace: nonEmpty(flags.namespace) ?? nonEmpty(context.namespace) ?? 'default',
    files,
  };
}

/** The files to read, by kubectl's precedence; a `UserError` when there are none. */
function kubeconfigFiles(flags: KubeFlags): string[] {
  if (flags.kubeconfig !== undefined) {
    if (!existsSync(flags.kubeconfig)) {
      throw new UserError(`--kubeconfig ${flags.kubeconfig}: no such file`);
    }
    return [flags.kubeconfig];
  }
  const list = flags.env.KUBECONFIG;
  if (list !== undefined && list !== '') {
    const paths = list.split(delimiter).filter((p) => p !== '');
    const present = paths.filter((p) => existsSync(p));
    if (present.length === 0) {
      throw new UserError(
        `no kubeconfig: none of the files in KUBECONFIG exist (${paths.join(delimiter)}); ` +
          `fix KUBECONFIG or pass --kubeconfig FILE`,
      );
    }
    return present;
  }
  const home = flags.env.HOME ?? homedir();
  const file = join(home, '.kube', 'config');
  if (!existsSync(file)) {
    throw new UserError(
      `no kubeconfig: ${file} does not exist; set KUBECONFIG or pass --kubeconfig FILE`,
    );
  }
  return [file];
}

interface Merged {
  clusters: Cluster[];
  users: User[];
  contexts: Context[];
  currentContext: string | undefined;
}

/** Reads each file and merges them: the first definition of each name wins. */
function mergeFiles(files: readonly string[]): Merged {
  const merged: Merged = { clusters: [], users: [], contexts: [], currentContext: undefined };
  for (const file of files) {
    const kc = readFile(file);
    addNew(merged.clusters, kc.getClusters());
    addNew(merged.users, kc.getUsers());
    addNew(merged.contexts, kc.getContexts());
    merged.currentContext ??= nonEmpty(kc.getCurrentContext());
  }
  return merged;
}

function readFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    const text = readFileSync(file, 'utf8');
    // kubectl reads an empty file as an empty config; client-node's YAML loader rejects it.
    if (text.trim() === '') return kc;
    kc.loadFromString(text);
    kc.makePathsAbsolute(dirname(file));
  } catch (error) {
    throw new UserError(
      `cannot read kubeconfig ${file}: ${describeLoadError(error)}; fix the file or point ` +
        `--kubeconfig or KUBECONFIG at another one`,
    );
  }
  return kc;
}

/** client-node's load errors, in words ("not valid YAML", "clusters[0].name is missing"). */
function describeLoadError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'YAMLException') return 'not valid YAML';
  if ('code' in error && error.code === 'EACCES') return 'permission denied';
  if ('code' in error && error.code === 'EISDIR') return 'it is a directory';
  return oneLine(error.message);
}

function addNew<T extends { readonly name: string }>(into: T[], from: readonly T[]): void {
  for (const item of from) if (!into.some((i) => i.name === item.name)) into.push(item);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
