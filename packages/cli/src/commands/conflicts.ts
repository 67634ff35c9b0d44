/** `ksync conflicts [NAME]`. */
import { stringArg, stringOption, type CommandRun } from '../command.ts';
import { withBackend } from '../control-client.ts';
import { renderConflictTable, resolveCommand } from '../format.ts';
import { parseOutputFormat } from '../output.ts';

/** Lists conflicts. */
export const run: CommandRun = async (ctx, input) => {
  const name = stringArg(input, 0);
  const format = parseOutputFormat(stringOption(input, 'output') ?? 'table', [
    'table',
    'json',
    'yaml',
  ]);
  const conflicts = await withBackend({ home: ctx.home }, (backend) => backend.conflicts(name));
  if (conflicts.length === 0 && format === 'table') {
    ctx.output.info('no conflicts');
    return;
  }
  ctx.output.result(conflicts, format, () => {
    const first = conflicts[0];
    const hint =
      first === undefined ? '' : `\nresolve one with: ${resolveCommand(first.sync, first.path)}\n`;
    return renderConflictTable(conflicts) + hint;
  });
};
