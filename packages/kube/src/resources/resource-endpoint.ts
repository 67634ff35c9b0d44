/**
 * The cluster as a sync endpoint: objects of the chosen kinds and namespaces as a tree of YAML
 * files, `<namespace>/<kind>/<name>.yaml` (`_cluster/<kind>/<name>.yaml` for cluster-scoped
 * kinds), so the session controller syncs it with a local directory like any other endpoint.
 *
 * Reading: one list-watch per kind and namespace (`watchObjects`: restarted on error, with a
 * watchdog). A file's bytes are the object's projection rendered as YAML (`project.ts`), and its
 * entry the digest of those bytes, so status updates and other server-side noise never look like
 * a change.
 *
 * Invariants:
 * - A kind and namespace whose list has not succeeded yet, is failing, or is forbidden, is a scan
 *   problem at its directory, never an empty directory: reconcile leaves problem subtrees alone,
 *   so a failed list can never delete local files.
 * - A write is based on exactly the version the engine saw: a change whose `old` digest is not
 *   what the endpoint holds now is refused ("changed meanwhile"), and the request carries the
 *   `resourceVersion` that version had, so a change in the cluster in between fails with 409
 *   instead of being overwritten. Either way nothing is written, and the next cycle sees both
 *   sides changed: a conflict, handled by the mode (both versions kept).
 * - An edit is sent as the merge patch from the projection the engine saw to the edited file's
 *   projection, after the same request as a server dry run; only the fields the user changed
 *   travel, and stripped fields never do.
 * - What a write returns is shown by the next scan at once (until the watch catches up), so the
 *   engine never sees its own write undone by a lagging watch.
 * - Deleting a file deletes the object only with `allowDelete`; in a read-only mirror no change
 *   is applied at all. Both are reported as problems for the path, and nothing is reverted.
 */
import { createHash } from 'node:crypto';
import {
  ContentStreamReader,
  DIRECTORY,
  UserError,
  encodeContentStream,
  createIgnoreMatcher,
  errorMessage,
  validatePath,
  type ApplyContent,
  type ApplyResult,
  type Change,
  type ChangeListener,
  type ContentRequest,
  type Endpoint,
  type Entry,
  type Problem,
  type ScanOptions,
  type ScanResult,
} from '@ksync/core';
import type { KubeTarget } from '../config.ts';
import { KubeConflictError, KubeNotFoundError, type KubeAction } from '../errors.ts';
import { watchObjects, type ObjectWatch } from '../list-watch.ts';
import { checkMirrorAccess } from './access.ts';
import { requestJson } from './api.ts';
import {
  apiVersionOf,
  collectionPath,
  describeKind,
  kindDirectory,
  type ApiKind,
} from './kinds.ts';
import {
  isJsonObject,
  parseObjectFile,
  planMergePatch,
  projectObject,
  renderObject,
  type JsonObject,
} from './project.ts';

/** The directory of cluster-scoped kinds (no namespace can start with `_`). */
export const CLUSTER_DIRECTORY = '_cluster';

/** What to mirror and how. */
export interface ResourceEndpointOptions {
  readonly target: KubeTarget;
  readonly kinds: readonly ApiKind[];
  /** Namespaces of the namespaced kinds. */
  readonly namespaces: readonly string[];
  /** A deleted file deletes its object (otherwise it is reported and nothing happens). */
  readonly allowDelete: boolean;
  /** Apply nothing: local edits are reported as problems. */
  readonly readOnly: boolean;
  /** How long a scan waits for first lists (default 30 s); a slower one is a problem meanwhile. */
  readonly listTimeoutMs?: number;
  /** Replace a watch after this long without a sign of life (default 180 s). */
  readonly silenceMs?: number;
}

/** The cluster endpoint; always `connected` (each kind reports its own failures as problems). */
export interface ResourceEndpoint extends Endpoint {
  readonly connected: boolean;
}

/** Opens the endpoint: checks list/watch on every kind and place, then starts watching them. */
export async function openResourceEndpoint(
  options: ResourceEndpointOptions,
): Promise<ResourceEndpoint> {
  const places: Place[] = [];
  for (const kind of options.kinds) {
    const namespaces = kind.namespaced ? options.namespaces : [undefined];
    for (const namespace of namespaces) {
      places.push({
        kind,
        namespace,
        dir: `${namespace ?? CLUSTER_DIRECTORY}/${kindDirectory(kind)}`,
      });
    }
  }
  const denials = await Promise.all(places.map((p) => checkMirrorAccess(options.target, p)));
  return new ClusterEndpoint(
    options,
    places.map((place, i) => ({ place, denied: denials[i] })),
  );
}

/** One kind in one namespace, and its directory. */
interface Place {
  readonly kind: ApiKind;
  readonly namespace: string | undefined;
  readonly dir: string;
}

/** What the endpoint knows of one place. */
interface PlaceState {
  readonly place: Place;
  /** Why it is not watched at all (RBAC). */
  readonly denied: Error | undefined;
  /** The objects of the last successful list or event; undefined before the first list. */
  objects: readonly JsonObject[] | undefined;
  /** The error of the failing watch, until it recovers. */
  error: string | undefined;
  watch: ObjectWatch | undefined;
  /** Settles when the first list succeeded or failed. */
  settled: Promise<void>;
}

/** One object as a file. */
interface Rendered {
  readonly name: string;
  readonly resourceVersion: string;
  readonly projection: JsonObject;
  readonly bytes: Buffer;
  readonly digest: string;
}

/**
 * What a write of ours left, until the watch shows it: the object's version before the write
 * (`before`, absent for a create) and what the server answered (`after`, absent for a delete).
 */
interface Written {
  readonly before: string | undefined;
  readonly after: Rendered | undefined;
  /** When it was written (ms since the epoch). */
  readonly at: number;
}

/**
 * How long a create is shown without the watch showing it. A watch delivers within seconds; an
 * object it never shows was deleted again at once (by a controller, say), and is gone.
 */
const CREATE_OVERLAY_MS = 60_000;

class ClusterEndpoint implements ResourceEndpoint {
  readonly connected = true;
  readonly #o: ResourceEndpointOptions;
  readonly #places = new Map<string, PlaceState>();
  readonly #listeners = new Set<ChangeListener>();
  /** Files as of the last scan (or write), by path. */
  #files = new Map<string, Rendered>();
  /** The contents of `#files`, by digest. */
  #byDigest = new Map<string, Rendered>();
  /** Our writes the watch has not shown yet, by path. */
  readonly #written = new Map<string, Written>();
  #matcher = createIgnoreMatcher([]);

  constructor(
    options: ResourceEndpointOptions,
    states: { place: Place; denied: Error | undefined }[],
  ) {
    this.#o = options;
    for (const { place, denied } of states) {
      const state: PlaceState = {
        place,
        denied,
        objects: undefined,
        error: undefined,
        watch: undefined,
        settled: Promise.resolve(),
      };
      this.#places.set(place.dir, state);
      if (denied === undefined) this.#startWatch(state);
    }
  }

  #startWatch(state: PlaceState): void {
    const { kind, namespace } = state.place;
    let settle = (): void => undefined;
    state.settled = new Promise<void>((resolve) => (settle = resolve));
    const path = collectionPath(kind, namespace);
    const action = this.#action('watch', kind, namespace);
    state.watch = watchObjects<JsonObject & { metadata?: { name?: string } }>({
      target: this.#o.target,
      path,
      action,
      list: () => this.#list(kind, namespace),
      onObjects: (objects) => {
        state.objects = objects;
        state.error = undefined;
        settle();
        this.#changed();
      },
      onError: (error) => {
        state.error = error === undefined ? undefined : error.message;
        settle();
        this.#changed();
      },
      ...(this.#o.silenceMs === undefined ? {} : { silenceMs: this.#o.silenceMs }),
    });
  }

  /** Lists a place page by page (500 a page), as raw JSON. */
  async #list(
    kind: ApiKind,
    namespace: string | undefined,
  ): Promise<{
    apiVersion: string;
    kind: string;
    metadata: { resourceVersion?: string };
    items: JsonObject[];
  }> {
    const items: JsonObject[] = [];
    let resourceVersion: string | undefined;
    let next: string | undefined;
    do {
      const page = await requestJson(this.#o.target, {
        method: 'GET',
        path: collectionPath(kind, namespace),
        query: { limit: '500', ...(next === undefined ? {} : { continue: next }) },
        action: this.#action('list', kind, namespace),
      });
      const metadata = isJsonObject(page.metadata) ? page.metadata : {};
      if (typeof metadata.resourceVersion === 'string')
        resourceVersion ??= metadata.resourceVersion;
      next =
        typeof metadata.continue === 'string' && metadata.continue !== ''
          ? metadata.continue
          : undefined;
      for (const item of Array.isArray(page.items) ? page.items : []) {
        // List items carry no apiVersion or kind; watch events do.
        if (isJsonObject(item)) items.push(withType(kind, item));
      }
    } while (next !== undefined);
    return {
      apiVersion: apiVersionOf(kind),
      kind: `${kind.kind}List`,
      metadata: resourceVersion === undefined ? {} : { resourceVersion },
      items,
    };
  }

  #action(verb: string, kind: ApiKind, namespace: string | undefined, name?: string): KubeAction {
    return {
      verb,
      resource: describeKind(kind),
      ...(namespace === undefined ? {} : { namespace }),
      ...(name === undefined ? {} : { name }),
    };
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }

  async scan(options: ScanOptions): Promise<ScanResult> {
    if (options.ignore !== undefined) this.#matcher = createIgnoreMatcher(options.ignore);
    const states = [...this.#places.values()];
    const timeout = new Promise<void>((resolve) =>
      setTimeout(resolve, this.#o.listTimeoutMs ?? 30_000).unref(),
    );
    await Promise.race([Promise.all(states.map((s) => s.settled)), timeout]);
    const snapshot = new Map<string, Entry>([['', DIRECTORY]]);
    const problems: Problem[] = [];
    const files = new Map<string, Rendered>();
    for (const state of states) {
      const { dir } = state.place;
      snapshot.set(dir.slice(0, dir.indexOf('/')), DIRECTORY);
      const unavailable = this.#unavailable(state);
      if (unavailable !== undefined) {
        problems.push({ path: dir, message: unavailable });
        continue;
      }
      snapshot.set(dir, DIRECTORY);
      for (const rendered of this.#current(state)) {
        const path = `${dir}/${rendered.name}.yaml`;
        try {
          validatePath(path);
        } catch (error) {
          problems.push({ path: dir, message: `${rendered.name}: ${errorMessage(error)}` });
          continue;
        }
        if (this.#matcher.ignores(path, false)) continue;
        files.set(path, rendered);
        snapshot.set(path, {
          kind: 'file',
          digest: rendered.digest,
          executable: false,
          size: rendered.bytes.length,
        });
      }
    }
    this.#setFiles(files);
    return { snapshot, problems };
  }

  /** Why a place cannot be read now, or undefined when it can. */
  #unavailable(state: PlaceState): string | undefined {
    if (state.denied !== undefined) return state.denied.message;
    if (state.error !== undefined) return state.error;
    if (state.objects === undefined) return `${describeKind(state.place.kind)} not listed yet`;
    return undefined;
  }

  /** A place's objects as files: the watch's, with our writes it has not shown yet laid over. */
  #current(state: PlaceState): Rendered[] {
    const { dir } = state.place;
    const byName = new Map<string, Rendered>();
    const watched = new Set<string>();
    for (const object of state.objects ?? []) {
      const name = nameOf(object);
      if (name === undefined) continue;
      watched.add(name);
      const path = `${dir}/${name}.yaml`;
      const resourceVersion = resourceVersionOf(object);
      const written = this.#written.get(path);
      if (written !== undefined && written.before === resourceVersion) {
        // The watch still shows the version our write replaced: show what the write returned.
        if (written.after !== undefined) byName.set(name, written.after);
        continue;
      }
      if (written !== undefined) this.#written.delete(path);
      const known = this.#files.get(path);
      byName.set(name, known?.resourceVersion === resourceVersion ? known : render(name, object));
    }
    for (const [path, written] of this.#written) {
      if (!path.startsWith(`${dir}/`)) continue;
      const name = path.slice(dir.length + 1, -'.yaml'.length);
      if (watched.has(name)) continue;
      // Created by us and not watched yet: show it; otherwise the watch has caught up.
      if (
        written.before === undefined &&
        written.after !== undefined &&
        Date.now() - written.at < CREATE_OVERLAY_MS
      )
        byName.set(name, written.after);
      else this.#written.delete(path);
    }
    return [...byName.values()];
  }

  #setFiles(files: Map<string, Rendered>): void {
    this.#files = files;
    this.#byDigest = new Map([...files.values()].map((r) => [r.digest, r]));
  }

  watch(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async *readContent(path: string, digest: string): AsyncIterable<Uint8Array> {
    const rendered = this.#files.get(path);
    if (rendered?.digest !== digest)
      throw new UserError(`${path} changed in the cluster since it was scanned`);
    yield rendered.bytes;
  }

  missingContent(digests: readonly string[]): Promise<string[]> {
    return Promise.resolve(digests.filter((d) => !this.#byDigest.has(d)));
  }

  readContents(files: readonly ContentRequest[]): AsyncIterable<Uint8Array> {
    return encodeContentStream(files, (file) => this.readContent(file.path, file.digest));
  }

  async apply(changes: readonly Change[], content?: ApplyContent): Promise<ApplyResult> {
    const arrived =
      content === undefined ? new Map<string, Buffer>() : await receive(changes, content);
    const applied: Change[] = [];
    const problems: Problem[] = [];
    for (const change of changes) {
      try {
        await this.#applyOne(change, arrived);
        applied.push(change);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        problems.push({ path: change.path, message: error.message });
      }
    }
    return { applied, problems };
  }

  async #applyOne(change: Change, arrived: ReadonlyMap<string, Buffer>): Promise<void> {
    if (this.#o.readOnly) {
      throw new UserError(
        'not applied: this is a read-only mirror of the cluster (local edits stay local)',
      );
    }
    const parts = change.path === '' ? [] : change.path.split('/');
    if (change.old?.kind === 'directory' || change.new?.kind === 'directory' || parts.length < 3) {
      this.#applyDirectory(change, parts);
      return;
    }
    const state = parts.length === 3 ? this.#places.get(`${parts[0]}/${parts[1]}`) : undefined;
    const file = parts[2] ?? '';
    if (
      state === undefined ||
      !file.endsWith('.yaml') ||
      change.old?.kind === 'symlink' ||
      change.new?.kind === 'symlink'
    ) {
      throw new UserError(
        'not an object file: this sync holds files NAMESPACE/KIND/NAME.yaml of the namespaces and kinds it mirrors',
      );
    }
    const unavailable = this.#unavailable(state);
    if (unavailable !== undefined) throw new UserError(unavailable);
    const name = file.slice(0, -'.yaml'.length);
    const current = this.#files.get(change.path);
    if (current?.digest !== (change.old?.kind === 'file' ? change.old.digest : undefined)) {
      throw new UserError(
        'changed in the cluster since the last scan; the next sync compares both versions',
      );
    }
    if (change.new === undefined) {
      await this.#delete(state.place, name, change.path, current);
      return;
    }
    const object = this.#editedObject(
      arrived,
      change.new.kind === 'file' ? change.new.digest : '',
      state.place,
      name,
    );
    if (current === undefined) await this.#create(state.place, change.path, object);
    else await this.#patch(state.place, change.path, current, object);
  }

  /** Directories are fixed by the spec: the root, a directory per namespace and per kind. */
  #applyDirectory(change: Change, parts: readonly string[]): void {
    const known =
      parts.length === 0 ||
      (parts.length === 1 && [...this.#places.keys()].some((d) => d.startsWith(`${parts[0]}/`))) ||
      (parts.length === 2 && this.#places.has(parts.join('/')));
    if (change.new?.kind === 'directory' && known) return;
    if (change.new === undefined && !known) return;
    throw new UserError(
      change.new === undefined
        ? 'directory kept: it is a namespace or kind this sync mirrors, and the tree follows the sync'
        : `not a namespace or kind this sync mirrors; it mirrors ${[...this.#places.keys()].join(', ')}`,
    );
  }

  /** The edited file's object, checked against where it lies. */
  #editedObject(
    arrived: ReadonlyMap<string, Buffer>,
    digest: string,
    place: Place,
    name: string,
  ): JsonObject {
    const bytes = arrived.get(digest) ?? this.#byDigest.get(digest)?.bytes;
    if (bytes === undefined) throw new UserError('its content did not arrive; will retry');
    const parsed = parseObjectFile(bytes.toString('utf8'));
    if ('problem' in parsed) throw new UserError(`not applied: ${parsed.problem}`);
    const wants = `${apiVersionOf(place.kind)} ${place.kind.kind}`;
    if (`${parsed.apiVersion} ${parsed.kind}` !== wants) {
      throw new UserError(
        `not applied: the file holds a ${parsed.apiVersion} ${parsed.kind}, but ${place.dir} holds ${wants} objects`,
      );
    }
    if (parsed.name !== name) {
      throw new UserError(
        `not applied: metadata.name "${parsed.name}" is not the file's name "${name}"; to rename, create ${parsed.name}.yaml and delete this file`,
      );
    }
    if (parsed.namespace !== undefined && parsed.namespace !== place.namespace) {
      throw new UserError(
        `not applied: metadata.namespace "${parsed.namespace}" is not the directory's ${place.namespace === undefined ? '(cluster-scoped)' : `"${place.namespace}"`}`,
      );
    }
    const object = projectObject(parsed.object);
    const metadata = object.metadata as JsonObject;
    if (place.namespace !== undefined) metadata.namespace = place.namespace;
    return object;
  }

  async #create(place: Place, path: string, object: JsonObject): Promise<void> {
    const request = {
      method: 'POST' as const,
      path: collectionPath(place.kind, place.namespace),
      body: object,
      action: this.#action('create', place.kind, place.namespace, nameOf(object)),
    };
    await requestJson(this.#o.target, {
      ...request,
      query: { dryRun: 'All', fieldManager: 'ksync' },
    });
    const created = await requestJson(this.#o.target, {
      ...request,
      query: { fieldManager: 'ksync' },
    });
    this.#wrote(path, {
      before: undefined,
      after: render(nameOf(created) ?? '', withType(place.kind, created)),
    });
  }

  /**
   * Sends the edit as a merge patch against the version the engine saw. A 409 whose fresh object
   * still projects to that version (only status or other stripped fields moved) is retried once
   * on the fresh `resourceVersion`: the user's base is still the server's state.
   */
  async #patch(place: Place, path: string, current: Rendered, edited: JsonObject): Promise<void> {
    const patch = planMergePatch(current.projection, edited);
    if (Object.keys(patch).length === 0) return;
    const item = `${collectionPath(place.kind, place.namespace)}/${encodeURIComponent(current.name)}`;
    const action = this.#action('patch', place.kind, place.namespace, current.name);
    const send = async (resourceVersion: string): Promise<JsonObject> => {
      const metadata = isJsonObject(patch.metadata) ? patch.metadata : {};
      const request = {
        method: 'PATCH' as const,
        path: item,
        body: { ...patch, metadata: { ...metadata, resourceVersion } },
        contentType: 'application/merge-patch+json',
        action,
      };
      await requestJson(this.#o.target, {
        ...request,
        query: { dryRun: 'All', fieldManager: 'ksync' },
      });
      return requestJson(this.#o.target, { ...request, query: { fieldManager: 'ksync' } });
    };
    let patched: JsonObject;
    try {
      patched = await send(current.resourceVersion);
    } catch (error) {
      if (!(error instanceof KubeConflictError)) throw error;
      const fresh = await requestJson(this.#o.target, {
        method: 'GET',
        path: item,
        action: this.#action('get', place.kind, place.namespace, current.name),
      });
      if (render(current.name, withType(place.kind, fresh)).digest !== current.digest)
        throw conflictProblem();
      try {
        patched = await send(resourceVersionOf(fresh));
      } catch (again) {
        throw again instanceof KubeConflictError ? conflictProblem() : again;
      }
    }
    this.#wrote(path, {
      before: current.resourceVersion,
      after: render(current.name, withType(place.kind, patched)),
    });
  }

  async #delete(
    place: Place,
    name: string,
    path: string,
    current: Rendered | undefined,
  ): Promise<void> {
    if (current === undefined) return;
    if (!this.#o.allowDelete) {
      throw new UserError(
        'not deleted in the cluster: this sync was created without --allow-delete (delete it with kubectl, or run ksync reset to get the file back)',
      );
    }
    const request = {
      method: 'DELETE' as const,
      path: `${collectionPath(place.kind, place.namespace)}/${encodeURIComponent(name)}`,
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { resourceVersion: current.resourceVersion },
      },
      action: this.#action('delete', place.kind, place.namespace, name),
    };
    try {
      await requestJson(this.#o.target, { ...request, query: { dryRun: 'All' } });
      await requestJson(this.#o.target, request);
    } catch (error) {
      if (error instanceof KubeConflictError) throw conflictProblem();
      if (!(error instanceof KubeNotFoundError)) throw error;
    }
    this.#wrote(path, { before: current.resourceVersion, after: undefined });
  }

  /** Records a write so that scans show it before the watch does. */
  #wrote(path: string, written: Omit<Written, 'at'>): void {
    this.#written.set(path, { ...written, at: Date.now() });
    const files = new Map(this.#files);
    if (written.after === undefined) files.delete(path);
    else files.set(path, written.after);
    this.#setFiles(files);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await Promise.all([...this.#places.values()].map((s) => s.watch?.stop() ?? Promise.resolve()));
  }
}

/** `object` with its kind's apiVersion and kind, which list items (and some answers) leave out. */
function withType(kind: ApiKind, object: JsonObject): JsonObject {
  return { apiVersion: apiVersionOf(kind), kind: kind.kind, ...object };
}

function conflictProblem(): UserError {
  return new UserError(
    'not applied: the object changed in the cluster meanwhile (409 Conflict); the next sync compares both versions',
  );
}

function nameOf(object: JsonObject): string | undefined {
  const metadata = object.metadata;
  return isJsonObject(metadata) && typeof metadata.name === 'string' ? metadata.name : undefined;
}

function resourceVersionOf(object: JsonObject): string {
  const metadata = object.metadata;
  return isJsonObject(metadata) && typeof metadata.resourceVersion === 'string'
    ? metadata.resourceVersion
    : '';
}

function render(name: string, object: JsonObject): Rendered {
  const projection = projectObject(object);
  const bytes = Buffer.from(renderObject(projection));
  return {
    name,
    resourceVersion: resourceVersionOf(object),
    projection,
    bytes,
    digest: sha256(bytes),
  };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The files `content` carries, by digest: each read whole (object files are small) and kept only
 * when its bytes hash to the digest its change names; the others are left out, so their changes
 * fail as content that did not arrive.
 */
async function receive(
  changes: readonly Change[],
  content: ApplyContent,
): Promise<Map<string, Buffer>> {
  const arrived = new Map<string, Buffer>();
  const reader = new ContentStreamReader(content.stream);
  for (const index of content.indexes) {
    const entry = changes[index]?.new;
    if (entry?.kind !== 'file')
      throw new UserError(`content for change ${index}, which is not a file`);
    const chunks = await reader.next(entry.size);
    if (chunks === undefined) continue;
    const parts: Buffer[] = [];
    for await (const chunk of chunks) parts.push(Buffer.from(chunk));
    const bytes = Buffer.concat(parts);
    if (sha256(bytes) === entry.digest) arrived.set(entry.digest, bytes);
  }
  await reader.finish();
  return arrived;
}
