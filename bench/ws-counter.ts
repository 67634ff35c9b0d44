/**
 * A loopback TCP proxy that counts WebSocket messages and bytes each way between the ksync
 * daemon and the agent: the harness's way to count round trips without touching either program.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Counts so far, each way. */
export interface Counts {
  framesToAgent: number;
  framesFromAgent: number;
  bytesToAgent: number;
  bytesFromAgent: number;
}

/**
 * Counts the final frames (messages) in a byte stream that starts with an HTTP upgrade head.
 * RFC 6455 §5.2: byte 0 holds FIN, byte 1 the mask bit and a 7-bit length (126: 16-bit
 * length follows, 127: 64-bit), then the 4-byte mask key when masked, then the payload.
 */
function frameCounter(onMessage: () => void): (chunk: Buffer) => void {
  let head = true;
  let pending = Buffer.alloc(0);
  let skip = 0;
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    if (head) {
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      pending = pending.subarray(end + 4);
      head = false;
    }
    for (;;) {
      if (skip > 0) {
        const n = Math.min(skip, pending.length);
        skip -= n;
        pending = pending.subarray(n);
        if (skip > 0) return;
      }
      if (pending.length < 2) return;
      const b0 = pending[0] as number;
      const b1 = pending[1] as number;
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (pending.length < 4) return;
        length = pending.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (pending.length < 10) return;
        length = Number(pending.readBigUInt64BE(2));
        offset = 10;
      }
      if (b1 & 0x80) offset += 4;
      if (pending.length < offset) return;
      if (b0 & 0x80) onMessage();
      pending = pending.subarray(offset);
      skip = length;
    }
  };
}

/** Starts the proxy in front of `agentUrl`; returns its URL, the live counts and `close`. */
export async function startCounter(agentUrl: string): Promise<{
  url: string;
  counts: Counts;
  close(): Promise<void>;
}> {
  const target = new URL(agentUrl.replace(/^ws/, 'http'));
  const counts: Counts = {
    framesToAgent: 0,
    framesFromAgent: 0,
    bytesToAgent: 0,
    bytesFromAgent: 0,
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    const agent = connect(Number(target.port), target.hostname);
    const toAgent = frameCounter(() => counts.framesToAgent++);
    const fromAgent = frameCounter(() => counts.framesFromAgent++);
    client.on('data', (chunk: Buffer) => {
      counts.bytesToAgent += chunk.length;
      toAgent(chunk);
    });
    agent.on('data', (chunk: Buffer) => {
      counts.bytesFromAgent += chunk.length;
      fromAgent(chunk);
    });
    client.pipe(agent);
    agent.pipe(client);
    client.on('error', () => agent.destroy());
    agent.on('error', () => client.destroy());
    client.on('close', () => agent.destroy());
    agent.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    counts,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
