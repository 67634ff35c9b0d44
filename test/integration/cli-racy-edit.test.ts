/**
 * An edit made right after ksync wrote the same file (issue: 6 of 60 such edits were never
 * synced). Real `bin/ksync watch --daemon` against a real agent. Each try writes a new file on one
 * side, waits until its content appears on the other side, overwrites it there at once (half of
 * the tries with content of the same size, half with another size), and at the end every
 * overwrite must have come back. 1,000 tries each way, in parallel workers.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitUntil } from './helpers/agent-process.ts';
import { makeCliAgentFixture, type CliAgentFixture } from './helpers/cli-process.ts';

const TRIES = 1000;
const WORKERS = 20;

/** Reads a file, or undefined while it does not exist yet. */
async function readOrNothing(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

/** Polls `path` as fast as the event loop allows until it holds `content` (bounded). */
async function appears(path: string, content: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await readOrNothing(path)) !== content) {
    if (Date.now() > deadline) throw new Error(`${path} never showed ${JSON.stringify(content)}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('an edit right after ksync wrote the file', () => {
  let f: CliAgentFixture;

  before(async () => {
    f = await makeCliAgentFixture();
    await f.createLocal();
    await f.ok(['watch', '--daemon']);
    await f.ok(['flush', 'local', '--timeout', '60s']);
  });

  after(() => f.cleanup());

  for (const direction of ['local→remote', 'remote→local'] as const) {
    it(`is never lost: ${TRIES} tries, ${direction} then overwritten there`, async () => {
      const [from, to] = direction === 'local→remote' ? [f.local, f.remote] : [f.remote, f.local];
      const tag = direction === 'local→remote' ? 'l' : 'r';
      const expected = new Map<string, string>();
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < TRIES) {
          const i = next++;
          const name = `${tag}${i}.txt`;
          const first = `first ${i}`;
          // Same size as the first content for even tries, a different size for odd ones.
          const second = i % 2 === 0 ? `again ${i}` : `second version ${i}`;
          await writeFile(join(from, name), first);
          await appears(join(to, name), first);
          await writeFile(join(to, name), second);
          expected.set(name, second);
        }
      };
      await Promise.all(Array.from({ length: WORKERS }, worker));
      const lost = async (): Promise<string[]> => {
        const out: string[] = [];
        for (const [name, content] of expected) {
          if ((await readOrNothing(join(from, name))) !== content) out.push(name);
        }
        return out;
      };
      await waitUntil(
        async () => (await lost()).length === 0,
        60_000,
        'every overwrite back',
      ).catch(() => undefined);
      assert.deepEqual(await lost(), [], 'overwrites that never came back');
      await f.ok(['flush', 'local', '--timeout', '60s']);
      assert.deepEqual((await f.get('local')).conflicts, 0);
    });
  }
});
