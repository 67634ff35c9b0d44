/** `ksync describe NAME`. */
import { stringArg, stringOption, type CommandRun } from '../command.ts';
import { withBackend } from '../control-client.ts';
import { renderDescribe } from '../format.ts';
import { parseOutputFormat } from '../output.ts';

/** Shows one sync in full. */
export const run: CommandRun = async (ctx, input) => {
  const name = stringArg(input, 0) ?? '';
  const format = parseOutputFormat(stringOption(input, 'output') ?? 'table', [
    'table',
    'json',
    'yaml',
  ]);
  const [view] = await withBackend({ home: ctx.home }, (backend) => backend.list(name));
  if (view === undefined) return;
  ctx.output.result(view, format, () => renderDescribe(view, Date.now()));
};
