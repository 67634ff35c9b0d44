/**
 * Shell completion in a real bash with ksync (and node) off PATH: `-o`, `-m` and `--keep`
 * complete their values rather than file names, and sync names come from this very ksync,
 * which the script runs by absolute path.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from './helpers/agent-process.ts';
import { makeCliFixture, runProgram, type CliFixture } from './helpers/cli-process.ts';

describe('ksync completion bash', () => {
  let f: CliFixture;
  let script: string;

  before(async () => {
    f = await makeCliFixture();
    const url = `ws://127.0.0.1:${await freePort()}`;
    await f.ok(['create', '--no-check', ...f.direct(url), 'local', '/app']);
    script = join(f.agent.dir, 'completion.bash');
    await writeFile(script, (await f.ok(['completion', 'bash'])).stdout);
  });
  after(() => f.cleanup());

  /** What bash offers for the command line `words`, the last being the word being completed. */
  async function complete(...words: string[]): Promise<string[]> {
    const line = words.map((w) => `'${w}'`).join(' ');
    const r = await runProgram(
      'bash',
      [
        '--norc',
        '-c',
        `source '${script}'; COMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _ksync; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { cwd: f.agent.dir, env: { PATH: '/usr/bin:/bin', KSYNC_HOME: f.home }, timeoutMs: 30_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter((w) => w !== '');
  }

  it('completes option values, not file names', async () => {
    assert.deepEqual(await complete('ksync', 'get', '-o', ''), [
      'table',
      'wide',
      'json',
      'yaml',
      'name',
    ]);
    assert.deepEqual(await complete('ksync', 'conflicts', '--output', 'y'), ['yaml']);
    assert.deepEqual(await complete('ksync', 'create', '-m', 'two'), ['two-way', 'two-way-safe']);
    assert.deepEqual(await complete('ksync', 'resolve', 'local', 'a', '--keep', ''), [
      'local',
      'remote',
    ]);
  });

  it('completes sync names with ksync off PATH', async () => {
    assert.deepEqual(await complete('ksync', 'flush', ''), ['local']);
    assert.deepEqual(await complete('ksync', 'pa'), ['pause']);
  });
});
