/** `ksync delete NAME... | --all`. */
import type { CommandRun } from '../command.ts';
import { withBackend } from '../control-client.ts';
import { UserError } from '../errors.ts';

/** Removes syncs and their state; the files on both sides stay. */
export const run: CommandRun = async (ctx, input) => {
  const names = Array.isArray(input.args[0]) ? input.args[0] : [];
  const all = input.options.all === true;
  if (all === names.length > 0) {
    throw new UserError('name the syncs to delete, or pass --all (not both): ksync delete NAME');
  }
  const deleted = await withBackend({ home: ctx.home }, (backend) =>
    backend.remove({ ...(all ? { all: true } : { names }), force: input.options.force === true }),
  );
  if (deleted.length === 0) ctx.output.info('no syncs to delete');
  for (const name of deleted) ctx.output.done(`deleted sync ${name}`);
};
