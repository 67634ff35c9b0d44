/** `ksync version`. */
import { KSYNC_VERSION } from '@ksync/core';
import { stringOption, type CommandRun } from '../command.ts';
import { parseOutputFormat } from '../output.ts';

/** Prints the CLI version (the agent must match it; see the protocol handshake). */
export const run: CommandRun = async (ctx, input) => {
  const format = parseOutputFormat(stringOption(input, 'output') ?? 'table', [
    'table',
    'json',
    'yaml',
  ]);
  const info = { version: KSYNC_VERSION, node: process.versions.node };
  ctx.output.result(info, format, () => `ksync ${info.version} (node ${info.node})\n`);
};
