/**
 * The transport under an agent connection, kept apart from the endpoint: the client asks a
 * `Dial` for a byte stream and runs its WebSocket over whatever comes back (ws's
 * `createConnection`). Direct mode dials TCP; Kubernetes mode dials a port-forward stream
 * (`@ksync/kube`). Every (re)connect dials again, so a dialer can refresh credentials or pick a
 * new agent pod each time.
 */
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';

/** Makes one fresh byte stream to the agent; rejects when the agent cannot be reached. */
export type Dial = () => Promise<Duplex>;

/** Dials `ws://host:port` over TCP, resolving once the socket is connected. */
export function dialTcp(url: string): Dial {
  const { hostname, port } = new URL(url);
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  return () =>
    new Promise<Duplex>((resolve, reject) => {
      const socket = connect({ host, port: Number(port || 80) });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    });
}

/**
 * Runs `dial` with a deadline. A stream that arrives after the deadline is destroyed, so a slow
 * dialer never leaks a connection.
 */
export async function dialWithin(dial: Dial, timeoutMs: number): Promise<Duplex> {
  let timer: NodeJS.Timeout | undefined;
  let late = false;
  const dialing = dial();
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(new Error(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  dialing.then(
    (stream) => {
      if (late) stream.destroy();
    },
    () => undefined,
  );
  try {
    return await Promise.race([dialing, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
