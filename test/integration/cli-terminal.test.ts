/**
 * `watch`, `run` and `flush` in a real terminal (a tmux pane): the spinner is on screen, Ctrl-C
 * stops them (exit 0 after a clean stop), a second Ctrl-C during a slow stop exits 130 at once,
 * and Ctrl-\ quits.
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeBigFile } from './helpers/agent-process.ts';
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
      assert.equal(await t.cursorVisible(), false, 'the spinner hides the cursor');
      await t.send('C-c');
      assert.equal(await t.exitCode(), 0);
      assert.match(await t.screen(), /ksync (watch|run local) stopped/);
      assert.equal(await t.cursorVisible(), true, 'the cursor is back');
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

  it('the spinner and get show the bytes done of the total during a large transfer', async () => {
    await f.ok(['flush', 'local']);
    const size = 300_000_000;
    await writeBigFile(join(f.local, 'big.bin'), size);
    const t = await open(['watch']);
    const screen = await t.waitFor(/local: transferring [1-9][\d.]* MB of 300 MB \(0 of 1 files\)/);
    const view = await f.get('local');
    assert.equal(view.state, 'transferring', screen);
    assert.equal(view.transfer?.bytes, size);
    assert.ok((view.transfer?.doneBytes ?? 0) > 0);
    await t.waitFor(/local: in sync \(/, 120_000);
    await t.send('C-c');
    assert.equal(await t.exitCode(), 0);
    await rm(join(f.local, 'big.bin'));
  });

  it('Ctrl-\\ quits ksync watch', async () => {
    const t = await open(['watch']);
    await t.waitFor(/local: in sync \(/);
    await t.send('C-\\');
    assert.equal(await t.exitCode(), 128 + 3, await t.screen());
    assert.equal(await t.cursorVisible(), true, 'the cursor is back');
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
