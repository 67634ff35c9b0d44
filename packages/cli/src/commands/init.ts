/** `ksync init [--image I] [--upgrade] [--dry-run [-o yaml|json]] [--timeout D]`. */
import { KSYNC_VERSION } from '@ksync/core';
import {
  DEFAULT_IMAGE,
  RolloutTimeoutError,
  applyInstall,
  buildManifests,
  readKubeTarget,
  renderManifestsYaml,
  waitForRollout,
} from '@ksync/kube';
import { stringOption, type CommandRun } from '../command.ts';
import { formatDuration, parseDuration } from '../duration.ts';
import { kubeFlags } from '../kube-flags.ts';
import { parseOutputFormat } from '../output.ts';

/**
 * Installs or updates the node agent and waits until it is ready on every node. With
 * `--dry-run` it only prints the objects (never the token) and talks to no cluster.
 */
export const run: CommandRun = async (ctx, input) => {
  const image = stringOption(input, 'image') ?? DEFAULT_IMAGE;
  const manifest = { image, version: KSYNC_VERSION };
  const { output } = ctx;
  if (input.options.dryRun === true) {
    const format = parseOutputFormat(stringOption(input, 'output') ?? 'yaml', ['yaml', 'json']);
    const objects = buildManifests(manifest);
    // The YAML keeps its header comment (how to add the token Secret), so it is rendered here.
    output.result(objects, format === 'json' ? 'json' : 'table', () =>
      renderManifestsYaml(objects),
    );
    return;
  }
  const timeoutMs = parseDuration(stringOption(input, 'timeout') ?? '3m');
  const target = readKubeTarget(kubeFlags(ctx, input));
  const started = Date.now();
  const applied = await applyInstall({
    ...manifest,
    target,
    upgrade: input.options.upgrade === true,
  });
  for (const o of applied) output.done(`${o.kind.toLowerCase()}/${o.name} ${o.outcome}`);
  const progress = await output.progress('waiting for the ksync agent: nodes ready 0/?');
  try {
    const done = await waitForRollout({
      target,
      timeoutMs,
      signal: ctx.signal,
      onProgress: (p) =>
        progress.update(`waiting for the ksync agent: nodes ready ${p.ready}/${p.desired}`),
    });
    progress.succeed(
      `ksync agent ${KSYNC_VERSION} ready on ${done.ready}/${done.desired} nodes ` +
        `(${formatDuration(Date.now() - started)}, context ${target.context})`,
    );
  } catch (error) {
    progress.stop();
    if (error instanceof RolloutTimeoutError) {
      for (const line of error.events) output.info(`  event ${line}`);
    }
    throw error;
  }
};
