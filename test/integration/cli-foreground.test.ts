/**
 * The foreground commands: `ksync run NAME` and `ksync watch` without a terminal print plain
 * timestamped log lines, serve the other commands meanwhile, and end cleanly (exit 0) on
 * Ctrl-C (SIGINT).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitUntil } from './helpers/agent-process.ts';
import {
  KSYNC_BIN,
  hasContent,
  makeCliAgentFixture,
  type CliAgentFixture,
  type CliFixture,
} from './helpers/cli-process.ts';

interface Foreground {
  readonly child: ChildProcess;
  stderr(): string;
  readonly exited: Promise<number | null>;
}

function startForeground(f: CliFixture, args: string[]): Foreground {
  const child = spawn(KSYNC_BIN, args, {
    env: { ...process.env, KSYNC_HOME: f.home, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return { child, stderr: () => stderr, exited };
}

describe('ksync run and watch in the foreground', () => {
  let f: CliAgentFixture;
  let remote: string;

  before(async () => {
    f = await makeCliAgentFixture();
    remote = f.remote;
    await f.createLocal();
  });
  after(() => f.cleanup());

  for (const args of [['run', 'local'], ['watch']]) {
    it(`ksync ${args.join(' ')}`, async () => {
      const fg = startForeground(f, args);
      try {
        const file = `${args[0]}.txt`;
        await writeFile(join(f.local, file), `synced by ${args[0]}\n`);
        await waitUntil(
          () => hasContent(join(remote, file), `synced by ${args[0]}\n`),
          20_000,
          'the sync',
        );
        // Another command goes through the running process.
        await f.ok(['flush', 'local', '--timeout', '20s']);
        const running = await f.ksync(['watch', '--daemon']);
        assert.equal(running.code, 1);
        assert.match(running.stderr, /already running \(pid \d+\); stop it with: ksync stop/);
        await waitUntil(() => /local: in sync: /.test(fg.stderr()), 10_000, 'an in-sync log line');
        fg.child.kill('SIGINT');
        assert.equal(await fg.exited, 0);
        const lines = fg.stderr().trim().split('\n');
        for (const line of lines)
          assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z /, 'plain log lines');
        assert.match(lines.at(-1) ?? '', /ksync (run local|watch) stopped$/);
      } finally {
        fg.child.kill('SIGKILL');
      }
    });
  }
});
