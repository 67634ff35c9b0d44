/**
 * Which kinds of objects a resource sync mirrors: what the API server serves (discovery, so CRDs
 * are included) and the pure resolution of what the user typed (`deploy`, `configmaps`,
 * `Deployment`, `deployments.apps`, `apps/v1/Deployment`) against it, as kubectl resolves names.
 */
import type { KubeTarget } from '../config.ts';
import { requestJson } from './api.ts';
import { isJsonObject, type Json } from './project.ts';

/** One kind of object the API server serves, at its preferred version. */
export interface ApiKind {
  /** `''` for the core group. */
  readonly group: string;
  readonly version: string;
  /** `Deployment`. */
  readonly kind: string;
  /** `deployments`: the URL segment and RBAC resource name. */
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly namespaced: boolean;
  readonly verbs: readonly string[];
}

/** `apps/v1`, or `v1` for the core group. */
export function apiVersionOf(kind: ApiKind): string {
  return kind.group === '' ? kind.version : `${kind.group}/${kind.version}`;
}

/** The directory a kind's files live in: `configmaps`, `deployments.apps`. */
export function kindDirectory(kind: ApiKind): string {
  return kind.group === '' ? kind.plural : `${kind.plural}.${kind.group}`;
}

/** `deployments.apps` or `configmaps`, as RBAC messages and kubectl name it. */
export const describeKind = kindDirectory;

/** The collection URL of a kind, in a namespace or cluster-wide. */
export function collectionPath(kind: ApiKind, namespace: string | undefined): string {
  const base = kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
  const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `${base}${ns}/${kind.plural}`;
}

/** What `resolveKinds` found. */
export interface ResolvedKinds {
  readonly kinds: readonly ApiKind[];
  /** One sentence per name that did not resolve, or resolved to a kind that cannot be mirrored. */
  readonly problems: readonly string[];
}

/** Options for `resolveKinds`. */
export interface ResolveKindsOptions {
  /** Mirror Secrets too (they are left out unless asked for). */
  readonly secrets: boolean;
}

/**
 * Resolves each name the user gave. A bare name matches a kind's plural, singular, short names
 * or kind (any case); `name.group` and `group/version/Kind` (`v1/ConfigMap` for the core group)
 * pin the group. When a bare name matches kinds of several groups, the core group wins, then the
 * group the server lists first (its preference order), as kubectl does. Every kind must allow
 * `list` and `watch`; Secrets need `options.secrets`.
 */
export function resolveKinds(
  names: readonly string[],
  served: readonly ApiKind[],
  options: ResolveKindsOptions,
): ResolvedKinds {
  const kinds: ApiKind[] = [];
  const problems: string[] = [];
  for (const raw of names) {
    const name = raw.trim();
    const found = matchKind(name, served);
    if (found === undefined) {
      problems.push(
        `unknown kind "${name}": the cluster serves no such resource; list them with: ksync resources kinds`,
      );
      continue;
    }
    const missing = ['list', 'watch'].filter((verb) => !found.verbs.includes(verb));
    if (missing.length > 0) {
      problems.push(
        `kind ${kindDirectory(found)} cannot be mirrored: the server does not allow ${missing.join(' or ')} on it`,
      );
      continue;
    }
    if (found.group === '' && found.plural === 'secrets' && !options.secrets) {
      problems.push(
        'secrets are left out unless asked for: add --secrets (their files get mode 0600)',
      );
      continue;
    }
    if (!kinds.includes(found)) kinds.push(found);
  }
  return { kinds, problems };
}

function matchKind(name: string, served: readonly ApiKind[]): ApiKind | undefined {
  const parts = name.split('/');
  if (parts.length === 2 || parts.length === 3) {
    const [group, version, kind] = parts.length === 2 ? ['', parts[0], parts[1]] : parts;
    return served.find(
      (k) => k.group === group && k.version === version && namesKind(k, kind ?? ''),
    );
  }
  if (parts.length !== 1) return undefined;
  const dot = name.indexOf('.');
  if (dot > 0) {
    const [bare, group] = [name.slice(0, dot), name.slice(dot + 1)];
    const pinned = served.find((k) => k.group === group && namesKind(k, bare));
    if (pinned !== undefined) return pinned;
  }
  const matches = served.filter((k) => namesKind(k, name));
  return matches.find((k) => k.group === '') ?? matches[0];
}

function namesKind(kind: ApiKind, name: string): boolean {
  const lower = name.toLowerCase();
  return (
    kind.plural === lower ||
    kind.singular === lower ||
    kind.kind.toLowerCase() === lower ||
    kind.shortNames.includes(lower)
  );
}

/** Reads one discovery document (`APIResourceList`) into kinds; subresources are left out. */
export function readResourceList(group: string, version: string, list: Json): ApiKind[] {
  if (!isJsonObject(list) || !Array.isArray(list.resources)) return [];
  const kinds: ApiKind[] = [];
  for (const r of list.resources) {
    if (!isJsonObject(r) || typeof r.name !== 'string' || r.name.includes('/')) continue;
    kinds.push({
      group,
      version,
      kind: typeof r.kind === 'string' ? r.kind : r.name,
      plural: r.name,
      singular:
        typeof r.singularName === 'string' && r.singularName !== ''
          ? r.singularName
          : typeof r.kind === 'string'
            ? r.kind.toLowerCase()
            : r.name,
      shortNames: Array.isArray(r.shortNames)
        ? r.shortNames.filter((s) => typeof s === 'string')
        : [],
      namespaced: r.namespaced === true,
      verbs: Array.isArray(r.verbs) ? r.verbs.filter((v) => typeof v === 'string') : [],
    });
  }
  return kinds;
}

/**
 * Every kind the cluster serves at its group's preferred version: the core group, then the
 * groups in the server's order. A group whose discovery fails (an aggregated API that is down)
 * is left out rather than failing the whole list.
 */
export async function readApiKinds(target: KubeTarget): Promise<ApiKind[]> {
  const action = { verb: 'get', resource: 'discovery (/api, /apis)' };
  const [core, groups] = await Promise.all([
    requestJson(target, { method: 'GET', path: '/api/v1', action }),
    requestJson(target, { method: 'GET', path: '/apis', action }),
  ]);
  const preferred: { group: string; version: string }[] = [];
  for (const g of Array.isArray(groups.groups) ? groups.groups : []) {
    if (!isJsonObject(g) || typeof g.name !== 'string' || !isJsonObject(g.preferredVersion))
      continue;
    const version = g.preferredVersion.version;
    if (typeof version === 'string') preferred.push({ group: g.name, version });
  }
  const lists = await Promise.all(
    preferred.map(({ group, version }) =>
      requestJson(target, { method: 'GET', path: `/apis/${group}/${version}`, action }).then(
        (list) => readResourceList(group, version, list),
        () => [],
      ),
    ),
  );
  return [...readResourceList('', 'v1', core), ...lists.flat()];
}
