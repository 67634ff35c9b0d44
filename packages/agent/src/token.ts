/** Token checks for the agent's auth step. */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * True when `given` equals `expected`. Both are hashed first so that the constant-time compare
 * always sees equal lengths and the time taken reveals neither the token nor its length.
 */
export function tokensMatch(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b) && expected.length > 0;
}
