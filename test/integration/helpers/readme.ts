/** Reading the README's runnable blocks, so tests run exactly the lines a newcomer reads. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root. */
export const REPO = join(import.meta.dirname, '../../..');

/** The non-empty shell lines of the README's ```sh block between `<!-- MARKER ... -->` and `<!-- /MARKER -->`. */
export function readmeLines(marker: string): string[] {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = new RegExp(
    `<!-- ${marker}\\b[^>]*-->\\s*\`\`\`sh\\n([\\s\\S]*?)\`\`\`\\s*<!-- /${marker} -->`,
  ).exec(readme);
  assert.ok(block?.[1], `README has a ${marker} block`);
  return block[1].split('\n').filter((line) => line.trim() !== '');
}
