/**
 * A byte relay between a TCP port and a unix socket, so a process in a network namespace of the
 * test's own reaches the API server on the host's loopback through the filesystem, never through
 * an interface off the machine. Run as a program:
 *   node relay.ts unix-to-tcp SOCKET HOST:PORT   (in the host namespace)
 *   node relay.ts tcp-to-unix HOST:PORT SOCKET   (inside the namespace)
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}

function hostPort(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
}

const [mode, from, to] = process.argv.slice(2);
if (mode === 'unix-to-tcp' && from !== undefined && to !== undefined) {
  rmSync(from, { force: true });
  createServer((c) => pipeBoth(c, createConnection(hostPort(to)))).listen(from);
} else if (mode === 'tcp-to-unix' && from !== undefined && to !== undefined) {
  const { host, port } = hostPort(from);
  createServer((c) => pipeBoth(c, createConnection(to))).listen(port, host);
} else {
  process.stderr.write(
    'usage: relay.ts unix-to-tcp SOCKET HOST:PORT | tcp-to-unix HOST:PORT SOCKET\n',
  );
  process.exitCode = 2;
}
