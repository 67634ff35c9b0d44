/**
 * `watch`, `run` and `flush` in a real terminal (a tmux pane): the spinner is on screen, Ctrl-C
 * stops them (exit 0 after a clean stop), a second Ctrl-C during a slow stop exits 130 at once,
 * and Ctrl-\ quits.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KSYNC_BIN, makeCliAgentFixture, type CliAgentFixture } from './helpers/cli-process.ts';
import { startTerminal, type Terminal } from './helpers/tmux.ts';

describe('ksync in a real terminal', () => {
  let f: CliAgentFixture;
  let terminal: Terminal | undefined;

  before(async () => {
    f = await makeCliAgentFixture();
    await f.createLocal();
    await writeFile(join(f.local, 'a.txt'), 'a\n');
  });
  after(async () => {
    await terminal?.close();
    await f.cleanup();
  });

  const open = async (args: string[]): Promise<Terminal> => {
    await terminal?.close();
    terminal = await startTerminal({
      dir: f.agent.dir,
      argv: [KSYNC_BIN, ...args],
      env: { KSYNC_HOME: f.home, NO_COLOR: '1' },
    });
    return terminal;
  };

  for (const args of [['watch'], ['run', 'local']]) {
    it(`Ctrl-C stops ksync ${args.join(' ')} cleanly (exit 0)`, async () => {
      const t = await open(args);
      await t.waitFor(/local: in sync \(/);
      await t.send('C-c');
      assert.equal(await t.exitCode(), 0);
      assert.match(await t.screen(), /ksync (watch|run local) stopped/);
    });
  }

  it('a second Ctrl-C while the stop waits for a hung agent exits 130 at once', async () => {
    const t = await open(['watch']);
    await t.waitFor(/local: in sync \(/);
    // A stopped agent does not answer the close request, so the clean stop takes seconds.
    f.server.child.kill('SIGSTOP');
    try {
      await t.send('C-c');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = Date.now();
      await t.send('C-c');
      assert.equal(await t.exitCode(), 130, await t.screen());
      assert.ok(Date.now() - started < 1500, 'exited at once');
      assert.match(await t.screen(), /interrupted again; exiting now/);
    } finally {
      f.server.child.kill('SIGCONT');
    }
  });

  it('Ctrl-\\ quits ksync watch', async () => {
    const t = await open(['watch']);
    await t.waitFor(/local: in sync \(/);
    await t.send('C-\\');
    assert.equal(await t.exitCode(), 128 + 3, await t.screen());
  });

  it('Ctrl-C stops a flush that is waiting (exit 1, says so)', async () => {
    await f.ok(['watch', '--daemon']);
    f.server.child.kill('SIGSTOP');
    try {
      await writeFile(join(f.local, 'b.txt'), 'b\n');
      const t = await open(['flush', 'local']);
      await t.waitFor(/flushing local/);
      await t.send('C-c');
      assert.equal(await t.exitCode(), 1, await t.screen());
      assert.match(await t.screen(), /flush of local interrupted/);
    } finally {
      f.server.child.kill('SIGCONT');
      await f.ok(['stop']);
    }
  });
});
