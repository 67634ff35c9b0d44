/**
 * The on-disk session store (nedb-promises): `ancestor.db` holds one document per path
 * (`{_id: path, entry}`), `conflicts.db` one per conflict (`{_id: id, conflict}`).
 *
 * Crash semantics. nedb appends one line per written document (not fsynced) and compacts the
 * file on load, skipping a torn last line. The controller calls `updateAncestor` only after an
 * apply returned, with the changes that landed, so the stored ancestor only ever records states
 * that really were on both sides; a crash (or a lost unsynced append) can only make it *older*
 * than the disk. An older ancestor is safe: where both sides already agree, reconcile just
 * catches the ancestor up (both-modified-same is not a conflict); it never loses content.
 * One batch is written as a removal of its paths followed by one insert of the new documents;
 * a crash between the two leaves those paths without an ancestor, which reconcile treats the
 * same conservative way (equal sides agree, different ones conflict). For the same reason a
 * corrupt or torn line in ancestor.db is dropped instead of refusing to start.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Datastore from 'nedb-promises';
import {
  InternalError,
  ROOT,
  validatePath,
  validateSnapshot,
  type AncestorUpdate,
  type Conflict,
  type Entry,
  type SessionStore,
  type Snapshot,
} from '@ksync/core';

/** nedb replaces a falsy `_id` with a random one, so the root ('') is stored under '/'. */
const ROOT_ID = '/';

const toId = (path: string): string => (path === ROOT ? ROOT_ID : path);
const fromId = (id: string): string => (id === ROOT_ID ? ROOT : id);

interface AncestorDocument {
  _id: string;
  entry: Entry;
}

interface Compactable {
  compactDatafileAsync(): Promise<void>;
}

interface ConflictDocument {
  _id: string;
  conflict: Conflict;
}

/** Opens (creating if needed) the session store in directory `dir`. */
export async function openSessionStore(dir: string): Promise<SessionStore> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // A corrupt line only makes the ancestor smaller (older), which is safe (see above), so nedb
  // must not refuse to start over a torn last append.
  const ancestor = Datastore.create({
    filename: join(dir, 'ancestor.db'),
    corruptAlertThreshold: 1,
  });
  const conflicts = Datastore.create({ filename: join(dir, 'conflicts.db') });
  await Promise.all([ancestor.load(), conflicts.load()]);
  return new NedbSessionStore(ancestor, conflicts);
}

class NedbSessionStore implements SessionStore {
  readonly #ancestor: Datastore<{ _id: string }>;
  readonly #conflicts: Datastore<{ _id: string }>;

  constructor(ancestor: Datastore<{ _id: string }>, conflicts: Datastore<{ _id: string }>) {
    this.#ancestor = ancestor;
    this.#conflicts = conflicts;
  }

  async loadAncestor(): Promise<Snapshot> {
    const docs = await this.#ancestor.find<AncestorDocument>({});
    const snapshot = new Map<string, Entry>();
    for (const doc of docs) {
      if (!isEntry(doc.entry)) throw new InternalError(`ancestor.db: bad entry for ${doc._id}`);
      snapshot.set(validatePath(fromId(doc._id)), doc.entry);
    }
    validateSnapshot(snapshot);
    return snapshot;
  }

  async updateAncestor(updates: readonly AncestorUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    // Later updates of the same path win, as if applied in order.
    const last = new Map<string, Entry | undefined>();
    for (const update of updates) last.set(toId(validatePath(update.path)), update.entry);
    await this.#ancestor.remove({ _id: { $in: [...last.keys()] } }, { multi: true });
    const docs: AncestorDocument[] = [];
    for (const [path, entry] of last) if (entry !== undefined) docs.push({ _id: path, entry });
    if (docs.length > 0) await this.#ancestor.insert(docs);
  }

  async clearAncestor(): Promise<void> {
    await this.#ancestor.remove({}, { multi: true });
    // The proxy forwards to @seald-io/nedb, whose promise API nedb-promises does not type.
    await (this.#ancestor as unknown as Compactable).compactDatafileAsync();
  }

  async loadConflicts(): Promise<Conflict[]> {
    const docs = await this.#conflicts.find<ConflictDocument>({});
    return docs.map((doc) => doc.conflict).sort((a, b) => a.detectedAt - b.detectedAt);
  }

  async saveConflict(conflict: Conflict): Promise<void> {
    await this.#conflicts.update(
      { _id: conflict.id },
      { _id: conflict.id, conflict },
      { upsert: true },
    );
  }

  async removeConflict(id: string): Promise<void> {
    await this.#conflicts.remove({ _id: id }, { multi: false });
  }
}

function isEntry(value: unknown): value is Entry {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  switch (entry.kind) {
    case 'directory':
      return true;
    case 'file':
      return (
        typeof entry.digest === 'string' &&
        typeof entry.executable === 'boolean' &&
        typeof entry.size === 'number'
      );
    case 'symlink':
      return typeof entry.target === 'string';
    default:
      return false;
  }
}
