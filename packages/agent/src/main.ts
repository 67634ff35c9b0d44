#!/usr/bin/env node
/**
 * The agent's entry point: `ksync-agent --listen HOST:PORT --root DIR --token-file FILE`.
 * Parses arguments, starts the server, logs JSON lines to stderr, and shuts down cleanly on
 * SIGTERM and SIGINT. This is the only module of the agent that exits the process. Exit codes
 * match the CLI's: 0 ok, 1 bad usage or setup (one plain line on stderr saying what to change),
 * 2 a bug (a JSON log line with the stack).
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { KSYNC_VERSION, UserError } from '@ksync/core';
import { errorMessage } from './errors.ts';
import { createJsonLogger, type LogLevel } from './log.ts';
import { serveAgent } from './server.ts';

const USAGE =
  'usage: ksync-agent --listen HOST:PORT --root DIR --token-file FILE [--staging-dir DIR] [--log-level debug|info|warn|error]';

const HELP = `${USAGE}

Serves DIR to ksync over a WebSocket: a sync's remote path /app means DIR/app.

  --listen HOST:PORT     where to listen (default 127.0.0.1:7475)
  --root DIR             the directory to serve (required)
  --token-file FILE      file holding the token clients must present, 16+ characters (required)
  --staging-dir DIR      where to stage content for roots that do not exist yet; emptied at
                         start and stop (default: a directory per root under $TMPDIR)
  --log-level LEVEL      debug, info, warn or error (default info); logs are JSON lines on stderr
  --version              print the version
  --help                 print this help
`;

async function main(): Promise<number> {
  const { values } = parseUsage({
    options: {
      listen: { type: 'string', default: '127.0.0.1:7475' },
      root: { type: 'string' },
      'token-file': { type: 'string' },
      'staging-dir': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'ping-interval-ms': { type: 'string', default: '5000' },
      version: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${KSYNC_VERSION}\n`);
    return 0;
  }
  const level = values['log-level'] as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    throw new UserError(`--log-level ${level}: use debug, info, warn or error`);
  }
  const log = createJsonLogger({ level });
  if (values.root === undefined || values['token-file'] === undefined) {
    throw new UserError(`--root and --token-file are required; ${USAGE}`);
  }
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
  }).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new UserError(`cannot listen on ${values.listen} (${code}); pick another --listen`);
    }
    throw error;
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

/** `parseArgs`, with its errors (an unknown option, a missing value) as usage errors. */
function parseUsage<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UserError(`${errorMessage(error).split('\n')[0] ?? ''}; ${USAGE}`);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UserError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(1);
    }
    createJsonLogger().error('agent failed', {
      error: errorMessage(error),
      stack: (error as Error).stack,
    });
    process.exit(2);
  },
);
