/**
 * The spec store: one nedb document per sync in `$KSYNC_HOME/specs.db`. Only the process that
 * holds the home lock (the running watch, or one command) opens it, because nedb keeps the
 * whole file in memory and a second writer's appends would be lost on the next compaction.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import Datastore from 'nedb-promises';
import { InternalError, SYNC_MODES, UserError, type SyncMode } from '@ksync/core';
import { z } from 'zod';
import type { SyncSpec } from './spec.ts';

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
const storedSpec = z.object({
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

/**
 * Validates a stored spec. Specs written before targets were a union kept the agent under
 * `direct` ({url, tokenFile}); they are read as a direct target.
 */
function checkStored(raw: unknown): SyncSpec {
  const value =
    typeof raw === 'object' && raw !== null && 'direct' in raw && !('target' in raw)
      ? migrateDirect(raw as { direct: object })
      : raw;
  const parsed = storedSpec.safeParse(value);
  if (!parsed.success) {
    throw new InternalError(`specs.db holds a malformed spec: ${JSON.stringify(raw)}`);
  }
  return parsed.data as SyncSpec;
}

function migrateDirect(raw: { direct: object }): object {
  const { direct: old, ...rest } = raw;
  return { ...rest, target: { kind: 'direct', ...old } };
}
