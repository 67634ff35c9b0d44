/** `ksync run NAME`: one spec in the foreground. */
import { stringArg, type CommandRun } from '../command.ts';
import { serveSyncs } from '../daemon/serve.ts';

/** Syncs one spec until Ctrl-C. */
export const run: CommandRun = async (ctx, input) => {
  const name = stringArg(input, 0) ?? '';
  await serveSyncs(ctx, { only: name, role: `run ${name}` });
};
