/**
 * A real terminal for tests: runs one command in a detached tmux session on a private server
 * socket, sends it keys the way a person types them, reads the screen, and reports how the
 * command ended. tmux gives the command a real pseudo-terminal with a size, so what is tested is
 * what a person at a terminal gets (raw mode, ^C turning into SIGINT, the spinner).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitUntil } from './agent-process.ts';

const run = promisify(execFile);

/** A command running in a tmux pane. */
export interface Terminal {
  /** Sends tmux key names (`C-c`, `C-\\`, `Enter`) or literal text. */
  send(...keys: string[]): Promise<void>;
  /** The pane's text, scrollback included. */
  screen(): Promise<string>;
  /** Waits until the screen matches `pattern`; returns the screen. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Waits for the command to end: its exit status as a shell reports it (128 + N for signal N). */
  exitCode(timeoutMs?: number): Promise<number>;
  /** Whether the terminal shows its cursor (a spinner hides it while it runs). */
  cursorVisible(): Promise<boolean>;
  /** Ends the tmux server (and whatever still runs in it). */
  close(): Promise<void>;
}

let terminals = 0;

/** Starts `argv` in a fresh tmux server whose socket and files live in `dir`. */
export async function startTerminal(options: {
  readonly dir: string;
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}): Promise<Terminal> {
  const n = ++terminals;
  const socket = join(options.dir, `tmux-${n}.sock`);
  const exitFile = join(options.dir, `tmux-${n}.exit`);
  // A person's terminal: no CI variable (CI runs the tests with CI=true, and CI turns spinners off).
  const personEnv = { ...process.env };
  delete personEnv.CI;
  const tmux = (...args: string[]) =>
    run('tmux', ['-S', socket, '-f', '/dev/null', ...args], { env: personEnv });
  const env = Object.entries(options.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  // As an interactive shell does, `set -m` runs the command as the terminal's foreground job in
  // its own process group: ^C and ^\ reach only the command, and the shell records its status.
  const shell = `set -m; "$@"; echo $? > '${exitFile}'; sleep 600`;
  await tmux(
    'new-session',
    '-d',
    '-x',
    '120',
    '-y',
    '30',
    '-c',
    options.dir,
    ...env,
    'bash',
    '-c',
    shell,
    'bash',
    ...options.argv,
  );
  const screen = async () => (await tmux('capture-pane', '-p', '-J', '-S', '-')).stdout;
  return {
    async send(...keys) {
      await tmux('send-keys', ...keys);
    },
    screen,
    async waitFor(pattern, timeoutMs = 20_000) {
      let last = '';
      await waitUntil(async () => pattern.test((last = await screen())), timeoutMs).catch(() => {
        throw new Error(`timed out waiting for ${pattern} on the screen; it shows:\n${last}`);
      });
      return last;
    },
    async exitCode(timeoutMs = 20_000) {
      let status = '';
      const read = async () => (await readFile(exitFile, 'utf8').catch(() => '')).trim();
      await waitUntil(async () => (status = await read()) !== '', timeoutMs).catch(async () => {
        throw new Error(`the command did not end in ${timeoutMs} ms; screen:\n${await screen()}`);
      });
      return Number(status);
    },
    async cursorVisible() {
      return (await tmux('display-message', '-p', '#{cursor_flag}')).stdout.trim() === '1';
    },
    async close() {
      await tmux('kill-server').catch(() => undefined);
    },
  };
}
