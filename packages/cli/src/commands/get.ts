/** `ksync get [NAME]`. */
import { stringArg, stringOption, type CommandRun } from '../command.ts';
import { withBackend } from '../control-client.ts';
import { renderSyncTable } from '../format.ts';
import { parseOutputFormat } from '../output.ts';

/** Shows syncs. */
export const run: CommandRun = async (ctx, input) => {
  const name = stringArg(input, 0);
  const raw = stringOption(input, 'output') ?? 'table';
  const format = raw === 'name' ? 'name' : parseOutputFormat(raw);
  const views = await withBackend({ home: ctx.home }, (backend) => backend.list(name));
  if (format === 'name') {
    ctx.output.result(views, 'table', () => views.map((v) => `${v.name}\n`).join(''));
    return;
  }
  if (views.length === 0 && (format === 'table' || format === 'wide')) {
    ctx.output.info(
      'no syncs; add one with: ksync create --selector app=NAME LOCAL REMOTE (or --direct ws://HOST:PORT --token-file FILE)',
    );
    return;
  }
  const value = name === undefined ? views : views[0];
  ctx.output.result(value, format, () =>
    renderSyncTable(views, { wide: format === 'wide', now: Date.now() }),
  );
};
