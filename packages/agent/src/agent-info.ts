/**
 * Asking an agent about itself without opening a target (`ksync doctor`): hello → welcome over
 * a dialed stream, then close. No token is needed; the welcome holds nothing secret.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import {
  KSYNC_VERSION,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseServerMessage,
  type NodeFacts,
} from '@ksync/core';
import { dialTcp, dialWithin, type Dial } from './dial.ts';

/** What an agent says about itself in `welcome`. */
export interface AgentWelcome {
  readonly version: string;
  readonly protocol: number;
  readonly node: NodeFacts | undefined;
}

/**
 * Reads the agent's welcome at `url` (over `dial`, default TCP to `url`); rejects when it
 * cannot be reached or does not answer with a valid welcome within `timeoutMs`.
 */
export async function readAgentWelcome(options: {
  readonly url: string;
  readonly dial?: Dial;
  readonly timeoutMs?: number;
}): Promise<AgentWelcome> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const stream = await dialWithin(options.dial ?? dialTcp(options.url), timeoutMs);
  const ws = new WebSocket(options.url, {
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    createConnection: () => stream as Socket,
  });
  try {
    return await new Promise<AgentWelcome>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no welcome within ${timeoutMs} ms`)),
        timeoutMs,
      );
      ws.once('open', () =>
        ws.send(
          JSON.stringify({
            type: 'hello',
            id: 1,
            version: KSYNC_VERSION,
            protocol: PROTOCOL_VERSION,
          }),
        ),
      );
      ws.once('message', (data: Buffer) => {
        clearTimeout(timer);
        const parsed = parseServerMessage(data.toString('utf8'));
        if (parsed.ok && parsed.message.type === 'welcome') {
          const { version, protocol, node } = parsed.message;
          resolve({ version, protocol, node });
        } else {
          reject(
            new Error(
              `the agent answered hello with ${parsed.ok ? parsed.message.type : parsed.error.message}`,
            ),
          );
        }
      });
      ws.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      ws.once('close', () => {
        clearTimeout(timer);
        reject(new Error('the agent closed the connection before its welcome'));
      });
    });
  } finally {
    ws.terminate();
    stream.destroy();
  }
}
