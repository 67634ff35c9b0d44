/**
 * Sync specs: what `ksync create` records. Validation is a pure function that collects every
 * problem before anything fails, so a user fixes them all in one go.
 */
import { SYNC_MODES, type SyncMode } from '@ksync/core';
import { z } from 'zod';
import { validateSelector } from './selector.ts';

/** How to reach the remote side without Kubernetes: an agent at a WebSocket URL. */
export interface DirectTarget {
  readonly kind: 'direct';
  readonly url: string;
  /** Absolute path of the file holding the agent's token (read at each connect). */
  readonly tokenFile: string;
}

/**
 * The containers of the pods a selector (or one pod name) matches, in a namespace of a cluster.
 * Context and kubeconfig are kept only when given, so that a spec follows kubectl's defaults.
 */
export interface KubernetesTarget {
  readonly kind: 'kubernetes';
  readonly context?: string;
  readonly kubeconfig?: string;
  readonly namespace: string;
  readonly selector?: string;
  readonly pod?: string;
  /** Absent: the pod's default-container annotation, else its first container. */
  readonly container?: string;
}

/**
 * A cluster's objects as YAML files (`ksync resources create`): the kinds as the user named them
 * (resolved against discovery each time the sync starts, so CRDs installed later work), in these
 * namespaces. Context and kubeconfig are kept only when given, as for `KubernetesTarget`.
 */
export interface ResourcesTarget {
  readonly kind: 'resources';
  readonly context?: string;
  readonly kubeconfig?: string;
  readonly namespaces: readonly string[];
  readonly kinds: readonly string[];
  /** Mirror Secrets (their files get mode 0600). */
  readonly secrets: boolean;
  /** A deleted file deletes its object. */
  readonly allowDelete: boolean;
  /** Mirror the cluster only: local edits are reported, never applied. */
  readonly readOnly: boolean;
}

/** Where a spec's remote side is: a tagged union on `kind`. */
export type SpecTarget = DirectTarget | KubernetesTarget | ResourcesTarget;

/** What runs in a container after a batch of changes landed there (Kubernetes only). */
export type ReloadHook =
  | { readonly kind: 'exec'; readonly command: string }
  | { readonly kind: 'signal'; readonly signal: string }
  | { readonly kind: 'restart' };

/** One sync, as stored. */
export interface SyncSpec {
  readonly name: string;
  /** Absolute local directory. */
  readonly local: string;
  /** Absolute POSIX path on the remote side. */
  readonly remote: string;
  readonly target: SpecTarget;
  readonly mode: SyncMode;
  readonly reload?: ReloadHook;
  readonly ignore: readonly string[];
  /** Paused specs are loaded but do not cycle until `ksync resume`. */
  readonly paused: boolean;
  /** When it was created (ms since the epoch). */
  readonly createdAt: number;
}

/** Spec input before validation: everything as the user typed it. */
export interface SpecInput {
  readonly name: string;
  readonly local: string;
  readonly remote: string;
  readonly mode: string;
  readonly ignore: readonly string[];
  /** Direct mode: `--direct` and `--token-file`. */
  readonly url?: string;
  readonly tokenFile?: string;
  /** Kubernetes mode: `--selector` or `--pod`, and `-c`. */
  readonly selector?: string;
  readonly pod?: string;
  readonly container?: string;
  readonly reload?: string;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Checks a spec's shape without touching the disk or network; returns every problem found, each
 * a sentence saying what to change. An empty list means valid.
 */
export function validateSpec(input: SpecInput): string[] {
  const problems = validateName(input);
  if (!input.remote.startsWith('/')) {
    problems.push(`remote path "${input.remote}" must be absolute, such as /app`);
  } else if (input.remote.split('/').some((part) => part === '..' || part === '.')) {
    problems.push(`remote path "${input.remote}" must not contain "." or ".." components`);
  } else if (input.remote.includes('\0') || input.remote.includes('\\')) {
    problems.push(`remote path "${input.remote}" must not contain NUL or backslashes`);
  }
  problems.push(...validateTargetInput(input));
  problems.push(...validateModeAndIgnore(input, Object.keys(SYNC_MODES)));
  return problems;
}

/** The parts every spec has: its name and local root. */
type CommonInput = Pick<SpecInput, 'name' | 'local' | 'mode' | 'ignore'>;

function validateName(input: CommonInput): string[] {
  const problems: string[] = [];
  if (!NAME.test(input.name)) {
    problems.push(
      `name "${input.name}" is not valid: use lowercase letters, digits and "-" (at most 63, starting and ending with a letter or digit)`,
    );
  }
  if (!input.local.startsWith('/')) problems.push(`local path "${input.local}" must be absolute`);
  return problems;
}

function validateModeAndIgnore(input: CommonInput, modes: readonly string[]): string[] {
  const problems: string[] = [];
  if (!modes.includes(input.mode))
    problems.push(`unknown sync mode "${input.mode}"; use one of: ${modes.join(', ')}`);
  for (const pattern of input.ignore) {
    if (pattern.trim() === '') problems.push('an --ignore pattern is empty');
    else if (pattern.includes('\n'))
      problems.push(`--ignore pattern ${JSON.stringify(pattern)} has a newline`);
  }
  return problems;
}

/** The modes a resources sync runs in (a one-way mode would overwrite the cluster). */
export const RESOURCE_MODES: readonly SyncMode[] = ['two-way', 'two-way-safe'];

/** `ksync resources create`'s input, as the user typed it. */
export interface ResourcesInput extends CommonInput {
  readonly namespaces: readonly string[];
  readonly kinds: readonly string[];
}

/** Checks a resources spec's shape (no network); returns every problem found. */
export function validateResourcesSpec(input: ResourcesInput): string[] {
  const problems = validateName(input);
  if (input.kinds.length === 0)
    problems.push('say which kinds to mirror: --kinds deploy,svc,cm (names as kubectl takes them)');
  for (const ns of input.namespaces) {
    if (!NAME.test(ns)) problems.push(`namespace "${ns}" is not a valid namespace name`);
  }
  problems.push(...validateModeAndIgnore(input, RESOURCE_MODES));
  return problems;
}

/** Splits a comma-separated list flag (`-n a,b`, `--kinds deploy,cm`), dropping blanks. */
export function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

/** The problems of the target part of a spec: exactly one of direct and Kubernetes, each whole. */
function validateTargetInput(input: SpecInput): string[] {
  const kube = input.selector !== undefined || input.pod !== undefined;
  if (input.url !== undefined && kube)
    return ['pass either --direct or --selector/--pod, not both'];
  if (input.selector !== undefined && input.pod !== undefined)
    return ['pass either --selector or --pod, not both'];
  if (!kube) {
    if (input.url === undefined) {
      return [
        'say where to sync: --selector app=NAME (pods in Kubernetes) or --direct ws://HOST:PORT --token-file FILE',
      ];
    }
    const problems: string[] = [];
    const urlProblem = validateAgentUrl(input.url);
    if (urlProblem !== undefined) problems.push(urlProblem);
    if (input.tokenFile === undefined || input.tokenFile === '')
      problems.push('a token file is required: pass --token-file FILE');
    if (input.reload !== undefined)
      problems.push('--reload needs a Kubernetes target (--selector)');
    return problems;
  }
  const problems: string[] = [];
  if (input.selector !== undefined) {
    const selectorProblem = validateSelector(input.selector);
    if (selectorProblem !== undefined) problems.push(selectorProblem);
  }
  if (input.pod !== undefined && !KUBE_NAME.test(input.pod))
    problems.push(`pod name "${input.pod}" is not a valid Kubernetes name`);
  if (input.container !== undefined && !KUBE_NAME.test(input.container))
    problems.push(`container name "${input.container}" is not a valid Kubernetes name`);
  if (input.tokenFile !== undefined)
    problems.push('--token-file is for --direct; Kubernetes mode reads the token from the cluster');
  if (input.reload !== undefined) {
    const parsed = parseReload(input.reload);
    if (typeof parsed === 'string') problems.push(parsed);
  }
  return problems;
}

const KUBE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * Reads `--reload`: `exec:CMD`, `signal:NAME` (HUP, SIGUSR1, ...) or `restart`; a string is the
 * problem with it.
 */
export function parseReload(text: string): ReloadHook | string {
  if (text === 'restart') return { kind: 'restart' };
  if (text.startsWith('exec:')) {
    const command = text.slice('exec:'.length).trim();
    return command === ''
      ? "--reload exec: needs a command, such as --reload exec:'nginx -s reload'"
      : { kind: 'exec', command };
  }
  if (text.startsWith('signal:')) {
    const name = text.slice('signal:'.length).toUpperCase().replace(/^SIG/, '');
    return /^[A-Z0-9]{2,8}$/.test(name)
      ? { kind: 'signal', signal: name }
      : `--reload signal:${text.slice(7)} is not a signal name; use one like signal:HUP`;
  }
  return `--reload "${text}" is not a hook; use exec:'CMD', signal:NAME or restart`;
}

/** Where a new sync's roots are, next to everything they must not collide with. */
export interface RootCheckInput {
  /** Real path of the local root. */
  readonly local: string;
  readonly remote: string;
  readonly url: string;
  /** The existing syncs. */
  readonly others: readonly { name: string; local: string; remote: string; url: string }[];
  /** Real paths of `$KSYNC_HOME` and of the user's home directory. */
  readonly ksyncHome: string;
  readonly userHome: string;
  /** `--force`: allow `/`, the home directory and overlapping roots. */
  readonly force: boolean;
}

/**
 * Checks a new sync's roots; returns every problem. A local root holding `$KSYNC_HOME` is always
 * refused: the sync would copy its own state and log, which change as it syncs them. `/`, the
 * home directory itself and roots that overlap another sync's on the same side (locally, or on
 * the same agent) are refused unless forced: two syncs writing one tree fight over it, and a
 * huge tree makes every scan slow.
 */
export function checkRoots(input: RootCheckInput): string[] {
  const problems: string[] = [];
  if (contains(input.local, input.ksyncHome)) {
    problems.push(
      `local directory ${input.local} contains ksync's own state (${input.ksyncHome}); sync a directory that does not, or set KSYNC_HOME elsewhere`,
    );
  }
  if (input.force) return problems;
  const force = 'or pass --force if you mean it';
  if (input.local === '/' || input.local === input.userHome) {
    problems.push(
      `local directory ${input.local} is ${input.local === '/' ? 'the whole filesystem' : 'your home directory'}; sync a project directory, ${force}`,
    );
  }
  for (const other of input.others) {
    if (contains(input.local, other.local) || contains(other.local, input.local)) {
      problems.push(
        `local directory ${input.local} overlaps sync ${other.name} (${other.local}); ${force}`,
      );
    }
    if (
      other.url === input.url &&
      (contains(input.remote, other.remote) || contains(other.remote, input.remote))
    ) {
      problems.push(
        `remote path ${input.remote} overlaps sync ${other.name} (${other.remote} on the same agent); ${force}`,
      );
    }
  }
  return problems;
}

/** Whether absolute path `outer` is `inner` or one of its ancestors. */
function contains(outer: string, inner: string): boolean {
  return inner === outer || inner.startsWith(outer === '/' ? '/' : `${outer}/`);
}

/** Returns why `url` is not a usable agent URL, or undefined when it is. */
export function validateAgentUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `agent URL "${url}" is not a URL; use ws://HOST:PORT, for example ws://127.0.0.1:7475`;
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    return `agent URL "${url}" must start with ws:// or wss://, for example ws://127.0.0.1:7475`;
  }
  if (parsed.pathname !== '/' || parsed.search !== '' || parsed.hash !== '') {
    return `agent URL "${url}" must be ws://HOST:PORT with no path`;
  }
  if (parsed.hostname === '') return `agent URL "${url}" has no host`;
  return undefined;
}

/** Derives a default sync name from the local directory's base name. */
export function deriveName(local: string): string {
  const base = local.replace(/\/+$/, '').split('/').pop() ?? '';
  const name = base
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return name === '' ? 'sync' : name;
}

/** Where a target syncs to, in words: the agent URL, or the pods a Kubernetes target matches. */
export function describeTarget(target: SpecTarget): string {
  if (target.kind === 'direct') return target.url;
  if (target.kind === 'resources') {
    const flags = [target.readOnly ? 'read-only' : '', target.allowDelete ? 'deletes' : '']
      .filter((f) => f !== '')
      .join(', ');
    return `${target.kinds.join(',')} in ${target.namespaces.join(',')}${target.context === undefined ? '' : ` (context ${target.context})`}${flags === '' ? '' : ` [${flags}]`}`;
  }
  const what =
    target.pod !== undefined ? `pod ${target.pod}` : `pods matching ${target.selector ?? ''}`;
  return `${what} in namespace ${target.namespace}`;
}

const direct = z.object({ kind: z.literal('direct'), url: z.string(), tokenFile: z.string() });
const kubernetes = z.object({
  kind: z.literal('kubernetes'),
  context: z.string().optional(),
  kubeconfig: z.string().optional(),
  namespace: z.string().min(1),
  selector: z.string().optional(),
  pod: z.string().optional(),
  container: z.string().optional(),
});
const resources = z.object({
  kind: z.literal('resources'),
  context: z.string().optional(),
  kubeconfig: z.string().optional(),
  namespaces: z.array(z.string().min(1)).min(1),
  kinds: z.array(z.string().min(1)).min(1),
  secrets: z.boolean(),
  allowDelete: z.boolean(),
  readOnly: z.boolean(),
});
const reload = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('exec'), command: z.string() }),
  z.object({ kind: z.literal('signal'), signal: z.string() }),
  z.object({ kind: z.literal('restart') }),
]);
/** A stored spec, as specs.db and the control socket carry it. */
export const syncSpecSchema = z.object({
  name: z.string(),
  local: z.string(),
  remote: z.string(),
  target: z.discriminatedUnion('kind', [direct, kubernetes, resources]),
  mode: z.enum(Object.keys(SYNC_MODES) as [SyncMode, ...SyncMode[]]),
  reload: reload.optional(),
  ignore: z.array(z.string()),
  paused: z.boolean(),
  createdAt: z.number(),
});
