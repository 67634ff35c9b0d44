/**
 * Cluster objects as files: the projection of a server object to what a user would write
 * (`projectObject`), its YAML with a stable key order (`renderObject`), reading an edited file
 * back (`parseObjectFile`), and the JSON merge patch from one projection to another
 * (`planMergePatch`). All pure.
 *
 * Invariants:
 * - A projection never holds a field the server fills in for itself (`managedFields`,
 *   `resourceVersion`, `uid`, `creationTimestamp`, `generation`, `selfLink`, deletion stamps,
 *   the last-applied annotation, `status`, a pod's `nodeName` and service-account token
 *   volumes). Because a patch is the difference between two projections, those fields never
 *   appear in a patch, so an edit can never send them back stale.
 * - Rendering the same object twice gives the same bytes, whatever order the server sent its keys
 *   in: keys are ordered `apiVersion, kind, metadata, name, namespace` first, then by name, at
 *   every depth. So `git diff` of the tree shows only real changes, and the digest of a file
 *   changes only when the object did.
 */
import { parseDocument, stringify } from 'yaml';

/** A JSON value as objects hold it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object. */
export type JsonObject = { [key: string]: Json };

const STRIPPED_METADATA = [
  'managedFields',
  'resourceVersion',
  'uid',
  'creationTimestamp',
  'generation',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
];

/** The annotation `kubectl apply` keeps its last input in. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The token volume the service-account admission plugin adds to every pod. */
const TOKEN_VOLUME = /^kube-api-access-/;

/** Keys that lead, in this order, wherever they appear; the rest follow by name. */
const LEADING_KEYS = ['apiVersion', 'kind', 'metadata', 'name', 'namespace'];

/** True for a JSON object (not an array or null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The object as a user would write it: see the module comment for what goes. */
export function projectObject(object: JsonObject): JsonObject {
  const copy = structuredClone(object);
  delete copy.status;
  const metadata = copy.metadata;
  if (isJsonObject(metadata)) {
    for (const key of STRIPPED_METADATA) delete metadata[key];
    const annotations = metadata.annotations;
    if (isJsonObject(annotations)) {
      delete annotations[LAST_APPLIED];
      if (Object.keys(annotations).length === 0) delete metadata.annotations;
    }
  }
  if (copy.kind === 'Pod' && copy.apiVersion === 'v1' && isJsonObject(copy.spec))
    stripPodSpec(copy.spec);
  return orderKeys(copy) as JsonObject;
}

/** Drops what the scheduler and the service-account plugin fill into a pod's spec. */
function stripPodSpec(spec: JsonObject): void {
  delete spec.nodeName;
  if (Array.isArray(spec.volumes)) {
    spec.volumes = spec.volumes.filter((v) => !(isJsonObject(v) && isTokenVolume(v.name)));
    if (spec.volumes.length === 0) delete spec.volumes;
  }
  for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
    const containers = spec[list];
    if (!Array.isArray(containers)) continue;
    for (const container of containers) {
      if (!isJsonObject(container) || !Array.isArray(container.volumeMounts)) continue;
      container.volumeMounts = container.volumeMounts.filter(
        (m) => !(isJsonObject(m) && isTokenVolume(m.name)),
      );
      if (container.volumeMounts.length === 0) delete container.volumeMounts;
    }
  }
}

function isTokenVolume(name: Json | undefined): boolean {
  return typeof name === 'string' && TOKEN_VOLUME.test(name);
}

/** A deep copy of `value` with every object's keys in the stable order. */
export function orderKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(orderKeys);
  if (!isJsonObject(value)) return value;
  const keys = Object.keys(value).sort(compareKeys);
  const ordered: JsonObject = {};
  for (const key of keys) ordered[key] = orderKeys(value[key] as Json);
  return ordered;
}

function compareKeys(a: string, b: string): number {
  const ra = LEADING_KEYS.indexOf(a);
  const rb = LEADING_KEYS.indexOf(b);
  if (ra !== rb)
    return (ra === -1 ? LEADING_KEYS.length : ra) - (rb === -1 ? LEADING_KEYS.length : rb);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A projection as the file's text: YAML, no line folding, keys as `orderKeys` leaves them. */
export function renderObject(projection: JsonObject): string {
  return stringify(projection, { lineWidth: 0, minContentWidth: 0 });
}

/** A file read back: the object and what names it, or why it is not an object. */
export type ParsedFile =
  | {
      readonly object: JsonObject;
      readonly apiVersion: string;
      readonly kind: string;
      readonly name: string;
      readonly namespace: string | undefined;
    }
  | { readonly problem: string };

/**
 * Reads an edited file: one YAML mapping with `apiVersion`, `kind` and `metadata.name` strings.
 * A problem names the first YAML error with its line.
 */
export function parseObjectFile(text: string): ParsedFile {
  // Pretty errors say "… at line L, column C:" on their first line, then quote the text.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error !== undefined)
    return { problem: `invalid YAML: ${(error.message.split('\n')[0] ?? '').replace(/:$/, '')}` };
  const value: unknown = doc.toJS();
  if (!isJsonObject(value))
    return { problem: 'not a Kubernetes object: the file must hold one YAML mapping' };
  const { apiVersion, kind, metadata } = value;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string')
    return { problem: 'not a Kubernetes object: apiVersion and kind are missing' };
  if (!isJsonObject(metadata) || typeof metadata.name !== 'string')
    return { problem: 'not a Kubernetes object: metadata.name is missing' };
  const namespace = metadata.namespace;
  if (namespace !== undefined && typeof namespace !== 'string')
    return { problem: 'metadata.namespace must be a string' };
  return { object: value, apiVersion, kind, name: metadata.name, namespace };
}

/**
 * The RFC 7386 JSON merge patch that turns `base` into `edited`: changed and added fields with
 * their new values, removed ones as `null`, unchanged ones left out. Lists are replaced whole,
 * as merge patches do. Empty when nothing changed.
 */
export function planMergePatch(base: JsonObject, edited: JsonObject): JsonObject {
  const patch: JsonObject = {};
  for (const key of Object.keys(base)) if (!(key in edited)) patch[key] = null;
  for (const [key, value] of Object.entries(edited)) {
    const old = base[key];
    if (isJsonObject(old) && isJsonObject(value)) {
      const inner = planMergePatch(old, value);
      if (Object.keys(inner).length > 0) patch[key] = inner;
    } else if (old === undefined || !jsonEqual(old, value)) patch[key] = value;
  }
  return patch;
}

/** Deep equality of JSON values (object key order does not matter). */
export function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a))
    return (
      Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i] as Json))
    );
  if (!isJsonObject(a) || !isJsonObject(b)) return false;
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length &&
    keys.every((k) => k in b && jsonEqual(a[k] as Json, b[k] as Json))
  );
}
