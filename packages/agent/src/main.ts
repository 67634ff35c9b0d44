/**
 * The agent's entry point: `ksync-agent --listen HOST:PORT --root DIR --token-file FILE`.
 * Parses arguments, starts the server, logs JSON lines to stderr, and shuts down cleanly on
 * SIGTERM and SIGINT. This is the only module of the agent that exits the process.
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KSYNC_VERSION, UserError } from '@ksync/core';
import { errorMessage } from './errors.ts';
import { createJsonLogger, type LogLevel } from './log.ts';
import { serveAgent } from './server.ts';

const USAGE =
  'usage: ksync-agent --listen HOST:PORT --root DIR --token-file FILE [--staging-dir DIR] [--log-level debug|info|warn|error]';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string', default: '127.0.0.1:7475' },
      root: { type: 'string' },
      'token-file': { type: 'string' },
      'staging-dir': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'ping-interval-ms': { type: 'string', default: '5000' },
      version: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.version) {
    process.stdout.write(`${KSYNC_VERSION}\n`);
    return 0;
  }
  const level = values['log-level'] as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new UserError(USAGE);
  const log = createJsonLogger({ level });
  if (values.root === undefined || values['token-file'] === undefined) throw new UserError(USAGE);
  const match = /^(.*):(\d+)$/.exec(values.listen);
  if (!match) throw new UserError(`--listen ${values.listen}: expected HOST:PORT; ${USAGE}`);
  const host = (match[1] as string).replace(/^\[(.*)\]$/, '$1');
  const port = Number(match[2]);
  let token: string;
  try {
    token = readFileSync(values['token-file'], 'utf8').trim();
  } catch (error) {
    throw new UserError(`cannot read --token-file ${values['token-file']}: ${errorMessage(error)}`);
  }
  if (token.length < 16) {
    throw new UserError(`the token in ${values['token-file']} is shorter than 16 characters`);
  }
  let root: string;
  try {
    root = realpathSync(values.root);
  } catch (error) {
    throw new UserError(`cannot use --root ${values.root}: ${errorMessage(error)}`);
  }
  // One staging directory per served root (and user), emptied at start and stop.
  const stagingDir =
    values['staging-dir'] ??
    join(
      tmpdir(),
      `ksync-agent-${process.getuid?.() ?? 0}-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`,
    );
  const server = await serveAgent({
    host,
    port,
    root,
    token,
    log,
    stagingDir,
    pingIntervalMs: Number(values['ping-interval-ms']),
  });
  log.info('listening', {
    host,
    port: server.port,
    root,
    stagingDir,
    version: KSYNC_VERSION,
    pid: process.pid,
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info('shutting down', { signal, connections: server.connections() });
  await server.close();
  log.info('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const log = createJsonLogger();
    if (error instanceof UserError) {
      log.error(error.message);
      process.exit(2);
    }
    log.error('agent failed', { error: errorMessage(error), stack: (error as Error).stack });
    process.exit(1);
  },
);
