/** `ksync resolve NAME PATH --keep local|remote`. */
import { stringArg, stringOption, type CommandRun } from '../command.ts';
import { withBackend } from '../control-client.ts';
import { UserError } from '../errors.ts';
import { resolveCommand } from '../format.ts';

/** Resolves one conflict. */
export const run: CommandRun = async (ctx, input) => {
  const name = stringArg(input, 0) ?? '';
  const path = normalizeSyncPath(stringArg(input, 1) ?? '');
  const keep = stringOption(input, 'keep');
  if (keep !== 'local' && keep !== 'remote') {
    throw new UserError(`say which version to keep: ${resolveCommand(name, path)}`);
  }
  await withBackend({ home: ctx.home }, (backend) => backend.resolve(name, path, keep));
  ctx.output.done(`resolved ${path || '/'} in ${name}: kept the ${keep} version`);
};

/** Accepts `/a/b`, `./a/b/` and `a/b` alike; the root is ''. */
export function normalizeSyncPath(path: string): string {
  return path
    .replace(/^(\.\/|\/)+/, '')
    .replace(/\/+$/, '')
    .replace(/^\.$/, '');
}
