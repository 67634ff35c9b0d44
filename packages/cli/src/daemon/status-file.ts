/**
 * The last known status of a sync, kept in `syncs/<name>/status.json` by whoever syncs it, so
 * that `ksync get` shows the last sync time and sizes when no watch runs.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { hasCode } from '../errors.ts';

/** What is remembered between runs. */
export interface StoredStatus {
  readonly lastSyncAt?: number;
  readonly files: number;
  readonly directories: number;
  readonly bytes: number;
}

/** The stored status, or zeros when there is none (or it is unreadable). */
export async function readStatusFile(path: string): Promise<StoredStatus> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as Partial<StoredStatus>;
    const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    return {
      ...(typeof value.lastSyncAt === 'number' ? { lastSyncAt: value.lastSyncAt } : {}),
      files: num(value.files),
      directories: num(value.directories),
      bytes: num(value.bytes),
    };
  } catch (error) {
    if (hasCode(error, 'ENOENT') || error instanceof SyntaxError) return EMPTY;
    throw error;
  }
}

/** Replaces the stored status atomically. */
export async function writeStatusFile(path: string, status: StoredStatus): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(status));
  await rename(temp, path);
}

const EMPTY: StoredStatus = { files: 0, directories: 0, bytes: 0 };
