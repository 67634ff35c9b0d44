/**
 * Runs the README's quickstart lines verbatim, one after the other as a user types them: in a
 * fresh directory with `src/` and a token file, with `bin/` resolved against the repository and
 * the agent's root and port moved to private ones so that tests never collide. After a line that
 * starts something in the background, it waits for that port to accept connections, as a user
 * would wait for the agent to come up.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { REPO, readmeLines } from './helpers/readme.ts';

const repo = REPO;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(socket.end() !== undefined));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

it('the README quickstart syncs ./src into the agent root', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ksync-quickstart-'));
  const agentRoot = join(dir, 'agent-root');
  const port = await freePort();
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src/hello.txt'), 'hello from the quickstart');
  writeFileSync(join(dir, 'token'), 'a-quickstart-token-of-enough-length\n');
  const env = { ...process.env, KSYNC_HOME: join(dir, 'home'), PATH: process.env.PATH ?? '' };
  try {
    for (const original of readmeLines('quickstart')) {
      const line = original
        .replaceAll('bin/', `${repo}/bin/`)
        .replaceAll('/tmp/agent-root', agentRoot)
        .replaceAll('7475', String(port));
      const shell = spawn('bash', ['-euc', line], { cwd: dir, env, stdio: 'inherit' });
      const code = await new Promise((resolve) => shell.once('exit', resolve));
      assert.equal(code, 0, `quickstart line failed: ${original}`);
      if (line.trimEnd().endsWith('&')) await waitForPort(port, 15_000);
    }
    execFileSync(join(repo, 'bin/ksync'), ['flush', 'src', '--timeout', '30s'], { cwd: dir, env });
    const synced = join(agentRoot, 'app/hello.txt');
    assert.ok(existsSync(synced));
    assert.equal(readFileSync(synced, 'utf8'), 'hello from the quickstart');
  } finally {
    execFileSync(join(repo, 'bin/ksync'), ['stop'], { cwd: dir, env, stdio: 'ignore' });
    spawn('pkill', ['-f', '--', `--root ${agentRoot}`], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
});
