/** `ksync uninstall [--timeout D]`. */
import { NAMESPACE, applyUninstall, readKubeTarget } from '@ksync/kube';
import { stringOption, type CommandRun } from '../command.ts';
import { parseDuration } from '../duration.ts';
import { kubeFlags } from '../kube-flags.ts';

/** Removes every object `init` created and waits until they are gone. */
export const run: CommandRun = async (ctx, input) => {
  const target = readKubeTarget(kubeFlags(ctx, input));
  // A spinner on a terminal only: a failure stays one line in logs.
  const progress = ctx.output.interactive
    ? await ctx.output.progress(`removing ksync from context ${target.context}`)
    : undefined;
  try {
    const deleted = await applyUninstall({
      target,
      timeoutMs: parseDuration(stringOption(input, 'timeout') ?? '2m'),
      signal: ctx.signal,
    });
    progress?.stop();
    for (const name of deleted) ctx.output.done(`${name.toLowerCase()} deleted`);
    ctx.output.done(
      deleted.length === 0 ? `ksync is not installed (no ${NAMESPACE})` : 'ksync uninstalled',
    );
  } catch (error) {
    progress?.stop();
    throw error;
  }
};
