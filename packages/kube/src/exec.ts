/**
 * Runs a command in a container through the API server's exec subresource and judges it by its
 * exit status (a `V1Status` on the error channel), never by its output. client-node's `Exec`
 * takes nine positional parameters; this wraps it in one options object.
 */
import { Writable } from 'node:stream';
import { Exec } from '@kubernetes/client-node';
import { UserError } from '@ksync/core';
import type { KubeTarget } from './config.ts';
import { toKubeError } from './errors.ts';

/** What to run where. */
export interface ExecOptions {
  readonly target: KubeTarget;
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly command: readonly string[];
  /** Longest wait (default 60000 ms). */
  readonly timeoutMs?: number;
}

/** How a command ended: its exit code and the last lines of its output. */
export interface ExecResult {
  readonly exitCode: number;
  readonly output: string;
}

/** Runs the command; rejects with a `UserError` when the exec itself fails (RBAC, no pod). */
export async function execInContainer(options: ExecOptions): Promise<ExecResult> {
  const { target, namespace, pod, container, command } = options;
  let output = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      output = (output + chunk.toString('utf8')).slice(-2000);
      callback();
    },
  });
  const action = { verb: 'create', resource: 'pods/exec', namespace, name: pod };
  return new Promise<ExecResult>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new UserError(`${command.join(' ')} in ${pod}/${container} did not finish`)),
      options.timeoutMs ?? 60_000,
    );
    new Exec(target.kc)
      .exec(namespace, pod, container, [...command], sink, sink, null, false, (status) => {
        clearTimeout(timer);
        if (status.status === 'Success') {
          resolve({ exitCode: 0, output });
          return;
        }
        const code = status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
        if (code !== undefined) resolve({ exitCode: Number(code), output });
        else reject(new UserError(`exec in ${pod}/${container} failed: ${status.message ?? ''}`));
      })
      .then(
        (ws) => {
          ws.on('close', () => {
            clearTimeout(timer);
            // A close without a status: the stream broke.
            resolve({ exitCode: -1, output });
          });
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(toKubeError(error, action, target));
        },
      );
  });
}
