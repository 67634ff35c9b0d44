/** `ksync create`: validates a spec (every problem at once), checks the agent, stores it. */
import { stat, realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { stringArg, stringOption, type CommandRun } from '../command.ts';
import { withBackend } from '../control-client.ts';
import { UserError, hasCode } from '../errors.ts';
import {
  checkRoots,
  deriveName,
  validateSpec,
  type RootCheckInput,
  type SpecInput,
  type SyncSpec,
} from '../spec.ts';
import { checkAgent } from '../sync-endpoints.ts';
import { DEFAULT_MODE, SYNC_MODES, type SyncMode } from '@ksync/core';

/** Adds a sync. */
export const run: CommandRun = async (ctx, input) => {
  const localArg = stringArg(input, 0) ?? '';
  const local = resolve(ctx.cwd, localArg);
  const url = stringOption(input, 'direct');
  const tokenArg = stringOption(input, 'tokenFile');
  const ignore = Array.isArray(input.options.ignore) ? (input.options.ignore as string[]) : [];
  const specInput: SpecInput = {
    name: stringOption(input, 'name') ?? deriveName(local),
    local,
    remote: stringArg(input, 1) ?? '',
    url: url ?? '',
    tokenFile: tokenArg === undefined ? '' : resolve(ctx.cwd, tokenArg),
    mode: stringOption(input, 'mode') ?? DEFAULT_MODE,
    ignore,
  };
  const problems =
    url === undefined
      ? [
          'pass --direct ws://HOST:PORT (syncing into Kubernetes pods is not available yet)',
          ...validateSpec(specInput).filter((p) => !p.startsWith('agent URL')),
        ]
      : validateSpec(specInput);
  const realLocal = await checkLocalDir(local, localArg, problems);
  if (tokenArg !== undefined) await checkReadable(specInput.tokenFile, problems);
  if (problems.length > 0) throw new UserError(problems.join('; '));

  const spec: SyncSpec = {
    name: specInput.name,
    local: realLocal,
    remote: specInput.remote.replace(/\/+$/, '') || '/',
    direct: { url: specInput.url, tokenFile: specInput.tokenFile },
    mode: specInput.mode as SyncMode,
    ignore,
    paused: input.options.paused === true,
    createdAt: Date.now(),
  };
  if (!Object.hasOwn(SYNC_MODES, spec.mode)) throw new UserError(`unknown sync mode ${spec.mode}`);
  const [ksyncHome, userHome] = await Promise.all([
    realOrSelf(ctx.home.root),
    realOrSelf(homedir()),
  ]);
  const rootCheck = {
    local: spec.local,
    remote: spec.remote,
    url: spec.direct.url,
    ksyncHome,
    userHome,
    force: input.options.force === true,
  };
  // Checked before connecting, and again against the syncs that exist when it is stored.
  const refuse = (others: RootCheckInput['others']): void => {
    const rootProblems = checkRoots({ ...rootCheck, others });
    if (rootProblems.length > 0) throw new UserError(rootProblems.join('; '));
  };
  refuse([]);
  if (input.options.check !== false) await checkAgent(spec);

  const view = await withBackend({ home: ctx.home }, async (backend) => {
    // A sync of the same name is refused by create itself, with its own message.
    refuse((await backend.list()).filter((other) => other.name !== spec.name));
    const created = await backend.create(spec);
    return { created, watching: backend.kind === 'watch' };
  });
  ctx.output.done(
    `created sync ${spec.name}: ${spec.local} <-> ${spec.direct.url} ${spec.remote} (${spec.mode})`,
  );
  if (!view.watching)
    ctx.output.info('start syncing with: ksync watch --daemon (or: ksync run ' + spec.name + ')');
};

/** Adds a problem unless `path` is an existing directory; returns its real path. */
async function checkLocalDir(path: string, given: string, problems: string[]): Promise<string> {
  try {
    const real = await realpath(path);
    if (!(await stat(real)).isDirectory()) {
      problems.push(`local path ${given} is not a directory; sync a directory`);
    }
    return real;
  } catch (error) {
    if (!hasCode(error, 'ENOENT', 'ENOTDIR', 'EACCES')) throw error;
    problems.push(`local directory ${given} does not exist; create it first (mkdir -p ${given})`);
    return path;
  }
}

/** The real path of `path`, or `path` itself while it does not exist. */
async function realOrSelf(path: string): Promise<string> {
  return realpath(path).catch(() => path);
}

async function checkReadable(path: string, problems: string[]): Promise<void> {
  try {
    if (!(await stat(path)).isFile()) problems.push(`token file ${path} is not a file`);
  } catch (error) {
    if (!hasCode(error, 'ENOENT', 'ENOTDIR', 'EACCES')) throw error;
    problems.push(`token file ${path} does not exist`);
  }
}
