#!/usr/bin/env node
/**
 * The agent's entry point:
 *   ksync-agent [--listen HOST:PORT] (--root DIR | --containers) --token-file FILE
 *   ksync-agent probe [--listen HOST:PORT]
 * Parses arguments, starts the server, logs JSON lines to stdout (for `kubectl logs`), and shuts
 * down cleanly on SIGTERM and SIGINT. `probe` is the pod's exec probe: it asks the agent's own
 * `/healthz` on the loopback listener and exits 0 or 1, so no probe traffic comes from off the
 * pod. This is the only module of the agent that exits the process. Exit codes match the CLI's:
 * 0 ok, 1 bad usage or setup (one plain line on stderr saying what to change), 2 a bug (a JSON
 * log line with the stack).
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { KSYNC_VERSION, UserError } from '@ksync/core';
import { errorMessage } from './errors.ts';
import { createJsonLogger, type LogLevel, type Logger } from './log.ts';
import { readNodeFacts, readRuntimes } from './node-facts.ts';
import { createContainerResolver } from './roots/container.ts';
import { createDirectoryResolver } from './roots/directory.ts';
import type { RootResolver } from './roots/resolver.ts';
import { serveAgent } from './server.ts';

const USAGE =
  'usage: ksync-agent [--listen HOST:PORT] (--root DIR | --containers [--node-name NAME]) --token-file FILE [--staging-dir DIR] [--state-dir DIR] [--log-level debug|info|warn|error] | ksync-agent probe [--listen HOST:PORT]';

const DEFAULT_LISTEN = '127.0.0.1:7475';

const HELP = `${USAGE}

Serves a directory (--root) or the root filesystems of this node's containers (--containers) to
ksync over a WebSocket. With --root DIR, a sync's remote path /app means DIR/app.

  --listen HOST:PORT     where to listen (default ${DEFAULT_LISTEN})
  --root DIR             the directory to serve
  --containers           serve running containers on this node (the DaemonSet's mode)
  --node-name NAME       this node's name (default: $KSYNC_NODE_NAME); with --containers
  --token-file FILE      file holding the token clients must present, 16+ characters (required)
  --staging-dir DIR      where to stage content for roots that do not exist yet; emptied at
                         start and stop (default: a directory per root under $TMPDIR)
  --state-dir DIR        where to keep what outlives a restart of the agent: each served
                         root's stat cache, so that nothing unchanged is hashed again on the
                         next connection (default: none; every connection hashes its root)
  --log-level LEVEL      debug, info, warn or error (default info); logs are JSON lines on stdout
  --version              print the version
  --help                 print this help

  probe                  ask a running agent's /healthz (the pod's exec probe); exit 0 or 1
`;

async function main(): Promise<number> {
  const { values, positionals } = parseUsage({
    allowPositionals: true,
    options: {
      listen: { type: 'string', default: DEFAULT_LISTEN },
      root: { type: 'string' },
      containers: { type: 'boolean', default: false },
      'node-name': { type: 'string' },
      'token-file': { type: 'string' },
      'staging-dir': { type: 'string' },
      'state-dir': { type: 'string' },
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
  const { host, port } = parseListen(values.listen);
  if (positionals.length > 0) {
    if (positionals.length !== 1 || positionals[0] !== 'probe') {
      throw new UserError(`unknown command ${positionals.join(' ')}; ${USAGE}`);
    }
    return probe(host, port);
  }
  const level = values['log-level'] as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    throw new UserError(`--log-level ${level}: use debug, info, warn or error`);
  }
  const log = createJsonLogger({ level });
  if (values['token-file'] === undefined || (values.root === undefined) === !values.containers) {
    throw new UserError(`--token-file and one of --root or --containers are required; ${USAGE}`);
  }
  const token = readToken(values['token-file']);
  const nodeName = values['node-name'] ?? process.env.KSYNC_NODE_NAME;
  let resolver: RootResolver;
  let served: Record<string, unknown>;
  if (values.containers) {
    if (nodeName === undefined || nodeName === '') {
      throw new UserError(
        '--containers needs the node name: set KSYNC_NODE_NAME (downward API spec.nodeName) or pass --node-name',
      );
    }
    resolver = createContainerResolver({ nodeName });
    served = { containers: true, node: nodeName };
  } else {
    const root = readRoot(values.root as string);
    resolver = createDirectoryResolver(root);
    served = { root };
  }
  // One staging directory per served root (or per node, for containers) and user, emptied at
  // start and stop.
  const stagingDir =
    values['staging-dir'] ??
    join(
      tmpdir(),
      `ksync-agent-${process.getuid?.() ?? 0}-${createHash('sha256').update(JSON.stringify(served)).digest('hex').slice(0, 12)}`,
    );
  const stateDir = values['state-dir'];
  const runtimes = readRuntimes();
  const server = await serveAgent({
    host,
    port,
    resolver,
    token,
    log,
    stagingDir,
    ...(stateDir === undefined ? {} : { stateDir }),
    nodeFacts: () => readNodeFacts({ nodeName, runtimes }),
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
    ...served,
    stagingDir,
    stateDir,
    version: KSYNC_VERSION,
    pid: process.pid,
  });
  return waitForSignal(log, server);
}

/** `parseArgs`, with its errors (an unknown option, a missing value) as usage errors. */
function parseUsage<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    // Only the first sentence: the rest is parseArgs' advice about `--`, not ours.
    throw new UserError(`${errorMessage(error).split(/\.\s|\n/)[0] ?? ''}; ${USAGE}`);
  }
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(listen);
  if (!match) throw new UserError(`--listen ${listen}: expected HOST:PORT; ${USAGE}`);
  return { host: (match[1] as string).replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]) };
}

function readToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new UserError(`cannot read --token-file ${file}: ${errorMessage(error)}`);
  }
  if (token.length < 16) throw new UserError(`the token in ${file} is shorter than 16 characters`);
  return token;
}

function readRoot(root: string): string {
  try {
    const real = realpathSync(root);
    if (!statSync(real).isDirectory()) throw new Error('not a directory');
    return real;
  } catch (error) {
    throw new UserError(`cannot use --root ${root}: ${errorMessage(error)}`);
  }
}

async function waitForSignal(
  log: Logger,
  server: Awaited<ReturnType<typeof serveAgent>>,
): Promise<number> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info('shutting down', { signal, connections: server.connections() });
  await server.close();
  log.info('stopped');
  return 0;
}

/** GETs the agent's `/healthz` on the loopback listener: 0 when it answers 200 within 3 s. */
function probe(host: string, port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/healthz', timeout: 3000 }, (res) => {
      res.resume();
      process.stdout.write(`healthz: HTTP ${res.statusCode ?? '?'}\n`);
      resolve(res.statusCode === 200 ? 0 : 1);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', (error) => {
      process.stdout.write(`healthz: ${error.message}\n`);
      resolve(1);
    });
    req.end();
  });
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
