/** `ksync resources kinds`: the kinds a cluster serves that a resources sync can mirror. */
import { stringOption, type CommandRun } from '../command.ts';
import { renderTable } from '../format.ts';
import { kubeFlags } from '../kube-flags.ts';
import { parseOutputFormat } from '../output.ts';

/** Lists the kinds (with list and watch) the cluster serves, as discovery reports them. */
export const run: CommandRun = async (ctx, input) => {
  const format = parseOutputFormat(stringOption(input, 'output') ?? 'table');
  const { readApiKinds, readKubeTarget, kindDirectory, apiVersionOf } = await import('@ksync/kube');
  const cluster = readKubeTarget(kubeFlags(ctx, input));
  const kinds = (await readApiKinds(cluster))
    .filter((k) => k.verbs.includes('list') && k.verbs.includes('watch'))
    .map((k) => ({
      directory: kindDirectory(k),
      kind: k.kind,
      apiVersion: apiVersionOf(k),
      shortNames: k.shortNames,
      namespaced: k.namespaced,
    }));
  ctx.output.result(kinds, format, () =>
    renderTable(
      ['DIRECTORY', 'KIND', 'APIVERSION', 'SHORTNAMES', 'NAMESPACED'],
      kinds.map((k) => [
        k.directory,
        k.kind,
        k.apiVersion,
        k.shortNames.join(','),
        String(k.namespaced),
      ]),
    ),
  );
};
