/**
 * The agent's entry point:
 *   ksync-agent [--listen HOST:PORT] (--root DIR | --containers) --token-file FILE
 *   ksync-agent probe [--listen HOST:PORT]
 * Parses arguments, starts the server, logs JSON lines to stdout (for `kubectl logs`), and shuts
 * down cleanly on SIGTERM and SIGINT. `probe` is the pod's exec probe: it asks the agent's own
 * `/healthz` on the loopback listener and exits 0 or 1, so no probe traffic comes from off the
 * pod. This is the only module of the agent that exits the process.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { KSYNC_VERSION, UserError } from '@ksync/core';
import { errorMessage } from './errors.ts';
import { createJsonLogger, type LogLevel, type Logger } from './log.ts';
import { readNodeFacts, readRuntimes } from './node-facts.ts';
import { createContainerResolver } from './roots/container.ts';
import { createDirectoryResolver } from './roots/directory.ts';
import type { RootResolver } from './roots/resolver.ts';
import { serveAgent } from './server.ts';

const USAGE =
  'usage: ksync-agent [--listen HOST:PORT] (--root DIR | --containers [--node-name NAME]) --token-file FILE [--log-level debug|info|warn|error] | ksync-agent probe [--listen HOST:PORT]';

const DEFAULT_LISTEN = '127.0.0.1:7475';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      listen: { type: 'string', default: DEFAULT_LISTEN },
      root: { type: 'string' },
      containers: { type: 'boolean', default: false },
      'node-name': { type: 'string' },
      'token-file': { type: 'string' },
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
  const { host, port } = parseListen(values.listen);
  if (positionals.length > 0) {
    if (positionals.length !== 1 || positionals[0] !== 'probe') throw new UserError(USAGE);
    return probe(host, port);
  }
  const level = values['log-level'] as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new UserError(USAGE);
  const log = createJsonLogger({ level });
  if (values['token-file'] === undefined || (values.root === undefined) === !values.containers) {
    throw new UserError(USAGE);
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
  const runtimes = readRuntimes();
  const server = await serveAgent({
    host,
    port,
    resolver,
    token,
    log,
    nodeFacts: () => readNodeFacts({ nodeName, runtimes }),
    pingIntervalMs: Number(values['ping-interval-ms']),
  });
  log.info('listening', {
    host,
    port: server.port,
    ...served,
    version: KSYNC_VERSION,
    pid: process.pid,
  });
  return waitForSignal(log, server);
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
    const log = createJsonLogger();
    if (error instanceof UserError) {
      log.error(error.message);
      process.exit(2);
    }
    log.error('agent failed', { error: errorMessage(error), stack: (error as Error).stack });
    process.exit(1);
  },
);
