/**
 * The on-disk session store. The ancestor lives in files of its own (ancestor-log.ts: a base
 * snapshot and a log of updates, which load 100,000 paths in a fraction of the time nedb took);
 * the conflicts in nedb-promises (`conflicts.db`, one document per conflict: few, small, and
 * queried by id).
 *
 * Crash semantics. The controller calls `updateAncestor` only after an apply returned, with the
 * changes that landed, so the stored ancestor only ever records states that really were on both
 * sides; a crash (or a lost unsynced append) can only make it *older* than the disk. An older
 * ancestor is safe: where both sides already agree, reconcile just catches the ancestor up
 * (both-modified-same is not a conflict); where they differ, a path without its agreement is a
 * conflict that keeps both versions. It never loses content. ancestor-log.ts keeps every state
 * it loads one that the store held.
 *
 * Stores written before the ancestor had its own files keep it in nedb's `ancestor.db` (one
 * document per path, `{_id: path, entry}`): it is read once, written as the first base, and
 * removed.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Datastore from 'nedb-promises';
import {
  InternalError,
  ROOT,
  validatePath,
  type AncestorUpdate,
  type Conflict,
  type Entry,
  type SessionStore,
  type Snapshot,
} from '@ksync/core';
import { AncestorLog } from './ancestor-log.ts';

/** nedb replaced a falsy `_id` with a random one, so the root ('') was stored under '/'. */
const ROOT_ID = '/';
const LEGACY_ANCESTOR = 'ancestor.db';

interface AncestorDocument {
  _id: string;
  entry: Entry;
}

interface ConflictDocument {
  _id: string;
  conflict: Conflict;
}

/** How to open a session store. */
export interface SessionStoreOptions {
  /** Told when stored state was unreadable and an older state is used instead. */
  readonly onWarning?: (message: string) => void;
}

/** Opens (creating if needed) the session store in directory `dir`. */
export async function openSessionStore(
  dir: string,
  options: SessionStoreOptions = {},
): Promise<SessionStore> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const conflicts = Datastore.create({ filename: join(dir, 'conflicts.db') });
  const [ancestor] = await Promise.all([
    AncestorLog.open(dir, {
      ...(options.onWarning === undefined ? {} : { onWarning: options.onWarning }),
      seed: () => readLegacyAncestor(dir),
    }),
    conflicts.load(),
  ]);
  // The base now holds what ancestor.db held (or a newer state): the old file is never read again.
  await rm(join(dir, LEGACY_ANCESTOR), { force: true });
  return new NedbSessionStore(ancestor, conflicts);
}

/** The ancestor of a store written by an older version, if there is one. */
async function readLegacyAncestor(dir: string): Promise<Snapshot | undefined> {
  const filename = join(dir, LEGACY_ANCESTOR);
  // A corrupt line only makes the ancestor smaller (older), which is safe.
  const legacy = Datastore.create({ filename, corruptAlertThreshold: 1 });
  try {
    await legacy.load();
  } catch {
    return undefined;
  }
  const docs = await legacy.find<AncestorDocument>({});
  if (docs.length === 0) return undefined;
  const snapshot = new Map<string, Entry>();
  for (const doc of docs) {
    if (!isEntry(doc.entry)) throw new InternalError(`${filename}: bad entry for ${doc._id}`);
    snapshot.set(validatePath(doc._id === ROOT_ID ? ROOT : doc._id), doc.entry);
  }
  return snapshot;
}

class NedbSessionStore implements SessionStore {
  readonly #ancestor: AncestorLog;
  readonly #conflicts: Datastore<{ _id: string }>;

  constructor(ancestor: AncestorLog, conflicts: Datastore<{ _id: string }>) {
    this.#ancestor = ancestor;
    this.#conflicts = conflicts;
  }

  loadAncestor(): Promise<Snapshot> {
    return Promise.resolve(this.#ancestor.snapshot());
  }

  updateAncestor(updates: readonly AncestorUpdate[]): Promise<void> {
    return this.#ancestor.update(updates);
  }

  clearAncestor(): Promise<void> {
    return this.#ancestor.clear();
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
