/** Shared pieces of the benchmarks. */
import { readFile } from 'node:fs/promises';

/** The `p`th percentile of ascending `sorted` (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Polls every millisecond until `path` holds exactly `content`. */
export async function waitForContent(path: string, content: string): Promise<void> {
  for (;;) {
    try {
      if ((await readFile(path, 'utf8')) === content) return;
    } catch {
      // not there yet
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
