/**
 * Serves the control socket inside `watch` / `run`: each request line is dispatched to the
 * supervisor, and errors travel back as data (`{kind, message}`), never as stack traces.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { KSYNC_VERSION, errorMessage } from '@ksync/core';
import { isUserFacing } from '../errors.ts';
import { checkSocketPath } from '../home.ts';
import type { Backend } from '../backend.ts';
import type { SyncView } from '../view.ts';
import {
  parseControlRequest,
  type ControlRequest,
  type ControlResponse,
  type PingResult,
} from './control-protocol.ts';

/** Options for `serveControl`. */
export interface ControlServerOptions {
  readonly socketPath: string;
  readonly backend: Backend;
  readonly role: string;
  /** Called for a `stop` request (after its answer is sent). */
  readonly onStop: () => void;
  readonly log: (level: 'info' | 'warn', message: string) => void;
}

/** A listening control server. */
export interface ControlServer {
  close(): Promise<void>;
}

/** Listens on the socket (replacing a stale socket file; the caller holds the lock). */
export async function serveControl(options: ControlServerOptions): Promise<ControlServer> {
  checkSocketPath(options.socketPath);
  await rm(options.socketPath, { force: true });
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim() !== '') void handleLine(line, socket, options);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(options.socketPath, 0o600);
  return {
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
      await rm(options.socketPath, { force: true });
    },
  };
}

async function handleLine(
  line: string,
  socket: Socket,
  options: ControlServerOptions,
): Promise<void> {
  const send = (response: ControlResponse): void => {
    if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
  };
  let parsed: ControlRequest | string;
  try {
    parsed = parseControlRequest(JSON.parse(line));
  } catch {
    parsed = 'request is not JSON';
  }
  if (typeof parsed === 'string') {
    send({ id: -1, type: 'error', kind: 'internal', message: `bad control request: ${parsed}` });
    return;
  }
  const request = parsed;
  try {
    const result = await dispatch(request, options, (view) =>
      send({ id: request.id, type: 'progress', view }),
    );
    send({ id: request.id, type: 'result', result: result ?? null });
    if (request.method === 'stop') options.onStop();
  } catch (error) {
    const kind = isUserFacing(error) ? 'user' : 'internal';
    if (kind === 'internal')
      options.log('warn', `control ${request.method} failed: ${errorMessage(error)}`);
    send({ id: request.id, type: 'error', kind, message: errorMessage(error) });
  }
}

function dispatch(
  request: ControlRequest,
  options: ControlServerOptions,
  progress: (view: SyncView) => void,
): Promise<unknown> {
  const { method, args } = request;
  switch (method) {
    case 'ping':
      return Promise.resolve({
        pid: process.pid,
        version: KSYNC_VERSION,
        role: options.role,
      } satisfies PingResult);
    case 'stop':
      return Promise.resolve(null);
    case 'flush': {
      // The progress callback cannot travel; it becomes `progress` lines.
      const [name, flushOptions] = args as Parameters<Backend['flush']>;
      return options.backend.flush(name, { ...flushOptions, onProgress: progress });
    }
    default: {
      // The arguments were checked against the method's schema (parseControlRequest).
      const backend = options.backend as unknown as Record<string, (...a: unknown[]) => unknown>;
      return Promise.resolve(backend[method]?.(...args));
    }
  }
}
