/**
 * A stat cache that remembers which paths it changed, so the endpoint can tell what a scan (or an
 * apply since the last scan) changed without comparing the whole tree. Every write to the cache
 * goes through `set`, `delete` (which `deleteChildren` calls per child) or `clear`; `clear` forgets
 * which paths it held, so it marks everything as touched, and so does a new cache.
 */
import { StatCache, type StatRecord } from './stat-cache.ts';

/** The paths a cache changed since it was last asked: a set, or `'all'` after a clear. */
export type Touched = ReadonlySet<string> | 'all';

/** A `StatCache` that records the paths it changes (see the module comment). */
export class TrackedStatCache extends StatCache {
  #touched = new Set<string>();
  /** A new cache replaces whatever came before it, so at first everything counts as touched. */
  #all = true;

  override set(path: string, record: StatRecord): void {
    this.#touched.add(path);
    super.set(path, record);
  }

  override delete(path: string): void {
    this.#touched.add(path);
    super.delete(path);
  }

  override clear(): void {
    this.#all = true;
    super.clear();
  }

  /** The paths changed since the previous call, and starts counting afresh. */
  takeTouched(): Touched {
    const touched = this.#all ? 'all' : this.#touched;
    this.#touched = new Set();
    this.#all = false;
    return touched;
  }
}
