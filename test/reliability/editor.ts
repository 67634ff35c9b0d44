/**
 * Random edits on both sides at once, each recorded in the oracle's write log. Each side has its
 * own loop, so local and container edits interleave the way a developer and a running app's
 * writes do, on a small pool of paths per phase so that overwrites, deletions of synced files and
 * true conflicts all happen. A seeded generator makes a run repeatable in what it tries.
 */
import type { EditSide } from './sides.ts';
import type { Side, WriteLog } from './oracle.ts';

/** A seeded pseudo-random generator (mulberry32): the same seed gives the same edits. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How an editor edits. */
export interface EditorOptions {
  readonly sides: Readonly<Record<Side, EditSide>>;
  readonly log: WriteLog;
  readonly random: () => number;
  /** Pause between two edits of one side. */
  readonly intervalMs: Readonly<Record<Side, number>>;
}

/** Edits both sides under one path prefix until stopped; each side can be held alone. */
export class Editor {
  readonly #o: EditorOptions;
  readonly #held = new Set<Side>();
  #prefix = '';
  #running = false;
  #loops: Promise<void>[] = [];
  #seq = 0;

  constructor(options: EditorOptions) {
    this.#o = options;
  }

  /** The path prefix of the current phase. */
  get prefix(): string {
    return this.#prefix;
  }

  /** Starts editing files under `prefix/` on both sides. */
  start(prefix: string): void {
    this.#prefix = prefix;
    this.#running = true;
    this.#held.clear();
    this.#loops = (['local', 'remote'] as const).map((side) => this.#loop(side));
  }

  /** Stops both loops once their current edit returns. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  /** Holds one side's edits (its current edit still finishes) until `release`. */
  hold(side: Side): void {
    this.#held.add(side);
  }

  /** Lets a held side edit again. */
  release(side: Side): void {
    this.#held.delete(side);
  }

  /** Writes one file on `side` and records it; returns whether it landed. */
  async write(side: Side, path: string, content: string): Promise<boolean> {
    const start = this.#o.log.now();
    const landed = await this.#o.sides[side].write(path, content);
    this.#o.log.record({ side, path, content, landed, start });
    return landed;
  }

  async #loop(side: Side): Promise<void> {
    const { random, intervalMs } = this.#o;
    while (this.#running) {
      await new Promise((r) => setTimeout(r, intervalMs[side] * (0.5 + random())));
      if (!this.#running || this.#held.has(side)) continue;
      const path = `${this.#prefix}/${['a', 'b', 'c/d'][Math.floor(random() * 3)]}/f${Math.floor(random() * 6)}`;
      if (random() < 0.15) {
        const start = this.#o.log.now();
        const landed = await this.#o.sides[side].remove(path);
        this.#o.log.record({ side, path, content: undefined, landed, start });
      } else {
        await this.write(side, path, `${side} ${++this.#seq} ${random().toString(36).slice(2)}\n`);
      }
    }
  }
}
