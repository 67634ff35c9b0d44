/**
 * The first two steps of the agent handshake (hello → welcome, auth → ok) over a dialed stream,
 * for `ksync doctor`: which version the agent runs, what it says about its node, and whether
 * the token in the Secret opens it. It opens nothing; syncing goes through the agent client.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { type RawData } from 'ws';
import {
  KSYNC_VERSION,
  PROTOCOL_VERSION,
  UserError,
  parseServerMessage,
  type NodeFacts,
  type ServerMessage,
} from '@ksync/core';
import { toBuffer } from './ws-data.ts';

/** What the agent said in `welcome`. */
export interface AgentHello {
  readonly version: string;
  readonly protocol: number;
  readonly node: NodeFacts | undefined;
}

/** Options for `readAgentHello`. */
export interface AgentHelloOptions {
  /** A fresh stream to the agent (e.g. `dialAgent`). */
  readonly stream: Duplex;
  readonly token: string;
  /** Longest wait for the whole exchange (default 10000 ms). */
  readonly timeoutMs?: number;
}

/** Says hello and authenticates; a `UserError` when the agent does not answer or refuses. */
export async function readAgentHello(opts: AgentHelloOptions): Promise<AgentHello> {
  const ws = new WebSocket('ws://ksync-agent/', {
    perMessageDeflate: false,
    createConnection: () => opts.stream as Socket,
  });
  const replies: ServerMessage[] = [];
  let wake: () => void = () => undefined;
  let failure: Error | undefined;
  ws.on('message', (data: RawData, isBinary) => {
    if (isBinary) return;
    const parsed = parseServerMessage(toBuffer(data).toString('utf8'));
    if (parsed.ok) replies.push(parsed.message);
    else failure ??= new UserError(`the agent sent a bad message: ${parsed.error.message}`);
    wake();
  });
  ws.on('error', (error) => {
    failure ??= new UserError(`the agent connection failed: ${error.message}`);
    wake();
  });
  ws.on('close', () => {
    failure ??= new UserError('the agent closed the connection during the handshake');
    wake();
  });
  const next = async (): Promise<ServerMessage> => {
    for (;;) {
      const reply = replies.shift();
      if (reply !== undefined) return reply;
      if (failure !== undefined) throw failure;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const timer = setTimeout(() => {
    failure ??= new UserError(`the agent did not finish the handshake within ${timeoutMs} ms`);
    ws.terminate();
  }, timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('close', () => reject(failure ?? new UserError('the agent closed the connection')));
    });
    ws.send(
      JSON.stringify({ type: 'hello', id: 1, version: KSYNC_VERSION, protocol: PROTOCOL_VERSION }),
    );
    const welcome = await next();
    if (welcome.type !== 'welcome') throw refusal(welcome, 'hello');
    ws.send(JSON.stringify({ type: 'auth', id: 2, token: opts.token }));
    const ok = await next();
    if (ok.type !== 'ok') throw refusal(ok, 'the token');
    return { version: welcome.version, protocol: welcome.protocol, node: welcome.node };
  } finally {
    clearTimeout(timer);
    ws.close(1000);
  }
}

function refusal(reply: ServerMessage, what: string): UserError {
  return new UserError(
    reply.type === 'error'
      ? `the agent refused ${what}: ${reply.error.message} (${reply.error.code})`
      : `the agent answered ${what} with ${reply.type}`,
  );
}
