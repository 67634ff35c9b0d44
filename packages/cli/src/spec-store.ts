/**
 * The spec store: one nedb document per sync in `$KSYNC_HOME/specs.db`. Only the process that
 * holds the home lock (the running watch, or one command) opens it, because nedb keeps the
 * whole file in memory and a second writer's appends would be lost on the next compaction.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import Datastore from 'nedb-promises';
import { InternalError, UserError } from '@ksync/core';
import { syncSpecSchema, type SyncSpec } from './spec.ts';

interface SpecDocument {
  _id: string;
  spec: SyncSpec;
}

/** Reads and writes specs. */
export class SpecStore {
  readonly #db: Datastore<{ _id: string }>;

  private constructor(db: Datastore<{ _id: string }>) {
    this.#db = db;
  }

  /** Opens (creating) the store at `file`. */
  static async open(file: string): Promise<SpecStore> {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const db = Datastore.create({ filename: file });
    await db.load();
    return new SpecStore(db);
  }

  /** Every spec, by name. */
  async list(): Promise<SyncSpec[]> {
    const docs = await this.#db.find<SpecDocument>({});
    return docs.map((d) => checkStored(d.spec)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** One spec, or undefined. */
  async find(name: string): Promise<SyncSpec | undefined> {
    const doc = await this.#db.findOne<SpecDocument>({ _id: name });
    return doc === null ? undefined : checkStored(doc.spec);
  }

  /** One spec; a `UserError` naming `ksync get` when it does not exist. */
  async get(name: string): Promise<SyncSpec> {
    const spec = await this.find(name);
    if (spec === undefined) throw unknownSync(name);
    return spec;
  }

  /** Adds a spec; a duplicate name is a `UserError`. */
  async insert(spec: SyncSpec): Promise<void> {
    if ((await this.find(spec.name)) !== undefined) {
      throw new UserError(
        `a sync named "${spec.name}" already exists; pick another with --name, or remove it with: ksync delete ${spec.name}`,
      );
    }
    await this.#db.insert({ _id: spec.name, spec });
  }

  /** Replaces fields of a stored spec. */
  async update(name: string, patch: Partial<Pick<SyncSpec, 'paused'>>): Promise<SyncSpec> {
    const spec = { ...(await this.get(name)), ...patch };
    await this.#db.update({ _id: name }, { _id: name, spec });
    return spec;
  }

  /** Removes a spec. */
  async remove(name: string): Promise<void> {
    await this.#db.remove({ _id: name }, { multi: false });
  }
}

/** The error for a sync name that does not exist. */
export function unknownSync(name: string): UserError {
  return new UserError(`no sync named "${name}"; list them with: ksync get`);
}

/**
 * Validates a stored spec. Specs written before targets were a union kept the agent under
 * `direct` ({url, tokenFile}); they are read as a direct target.
 */
function checkStored(raw: unknown): SyncSpec {
  const value =
    typeof raw === 'object' && raw !== null && 'direct' in raw && !('target' in raw)
      ? migrateDirect(raw as { direct: object })
      : raw;
  const parsed = syncSpecSchema.safeParse(value);
  if (!parsed.success) {
    throw new InternalError(`specs.db holds a malformed spec: ${JSON.stringify(raw)}`);
  }
  return parsed.data as SyncSpec;
}

function migrateDirect(raw: { direct: object }): object {
  const { direct: old, ...rest } = raw;
  return { ...rest, target: { kind: 'direct', ...old } };
}
