/** `ksync flush NAME [--timeout D]`. */
import { stringArg, stringOption, type CommandRun } from '../command.ts';
import { withBackend } from '../control-client.ts';
import { parseDuration } from '../duration.ts';
import { UserError } from '../errors.ts';
import { formatBytes, formatProblems, formatTransfer } from '../format.ts';
import type { Progress } from '../output.ts';
import type { FlushView } from '../view.ts';

/** Syncs now; exits 0 once both sides agree, 1 with the reason on timeout, halt or error. */
export const run: CommandRun = async (ctx, input) => {
  const name = stringArg(input, 0) ?? '';
  const timeout = stringOption(input, 'timeout');
  const timeoutMs = timeout === undefined ? undefined : parseDuration(timeout);
  const { output } = ctx;
  let progress: Progress | undefined;
  if (output.interactive) progress = await output.progress(`flushing ${name}`);
  try {
    const work = withBackend(
      { home: ctx.home, log: (level, m) => (level === 'warn' ? output.warn(m) : undefined) },
      (backend) =>
        backend.flush(name, {
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
          onProgress: (view) =>
            progress?.update(
              `flushing ${name}: ${view.transfer === undefined ? view.state : formatTransfer(view.transfer)}`,
            ),
        }),
    );
    const interrupted = new Promise<never>((_resolve, reject) => {
      ctx.signal.addEventListener(
        'abort',
        () => reject(new UserError(`flush of ${name} interrupted`)),
        { once: true },
      );
    });
    interrupted.catch(() => undefined);
    const result: FlushView = await Promise.race([work, interrupted]);
    progress?.stop();
    const transferred = `transferred ${result.transferredFiles} files, ${formatBytes(result.transferredBytes)}`;
    if (result.problems.length > 0) {
      // Not in sync: some paths could not be synced. Say which, and fail.
      throw new UserError(
        `${name} is not in sync (${transferred}): ${formatProblems(name, result.problems)}`,
      );
    }
    const conflicts =
      result.conflicts > 0 ? `; ${result.conflicts} conflicts, see: ksync conflicts ${name}` : '';
    output.done(`${name} is in sync (${transferred}${conflicts})`);
  } catch (error) {
    progress?.stop();
    throw error;
  }
};
