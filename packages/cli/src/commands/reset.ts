/** `ksync reset NAME`. */
import { stringArg, type CommandRun } from '../command.ts';
import { withBackend } from '../control-client.ts';

/** See the command table. */
export const run: CommandRun = async (ctx, input) => {
  const name = stringArg(input, 0) ?? '';
  await withBackend({ home: ctx.home }, (backend) => backend.reset(name));
  ctx.output.done(`${name} reset (the next sync merges both sides; nothing is lost)`);
};
