/** `ksync stop`. */
import type { CommandRun } from '../command.ts';
import { ControlClient } from '../control-client.ts';
import { isAlive, readPid } from '../daemon/lock.ts';
import { UserError } from '../errors.ts';
import { sleepUnlessAborted } from '../sleep-unless-aborted.ts';

/** Stops the running watch (over the socket, or by signal when the socket is gone). */
export const run: CommandRun = async (ctx) => {
  const { home, output } = ctx;
  const client = await ControlClient.connect(home.socket);
  let pid: number | undefined;
  if (client !== undefined) {
    try {
      pid = (await client.request('ping')).pid;
      await client.request('stop');
    } finally {
      await client.close();
    }
  } else {
    pid = readPid(home.pid);
    if (pid === undefined || !isAlive(pid)) {
      output.info('no ksync watch is running');
      return;
    }
    process.kill(pid, 'SIGTERM');
  }
  const deadline = Date.now() + 20_000;
  while (isAlive(pid) && Date.now() < deadline) await sleepUnlessAborted(100, ctx.signal);
  if (isAlive(pid))
    throw new UserError(`the watch (pid ${pid}) did not stop in 20s; kill it with: kill ${pid}`);
  output.done(`stopped ksync watch (pid ${pid})`);
};
