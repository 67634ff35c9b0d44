/**
 * Raw JSON requests to the API server for objects of any kind. client-node's typed clients
 * (and `KubernetesObjectApi`) deserialize into generated model classes, which drop fields the
 * model does not know and turn timestamps into `Date`s; a file must hold the object exactly as
 * the server sent it, as the watch (raw JSON too) does. Authentication and TLS come from the
 * kubeconfig through client-node (`applySecurityAuthentication`), on the same undici stack its
 * watch uses.
 */
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';
import type { KubeTarget } from '../config.ts';
import { fromStatus, parseStatusBody, toKubeError, type KubeAction } from '../errors.ts';
import { isJsonObject, type JsonObject } from './project.ts';

/** One request. */
export interface JsonRequest {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** The URL path below the server, e.g. `/api/v1/namespaces/ns/configmaps`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  /** Default `application/json`; a merge patch says `application/merge-patch+json`. */
  readonly contentType?: string;
  /** What the request does, for error messages. */
  readonly action: KubeAction;
}

/** Sends `request`; resolves to the answer's JSON object, or throws a mapped `UserError`. */
export async function requestJson(target: KubeTarget, request: JsonRequest): Promise<JsonObject> {
  const server = target.kc.getCurrentCluster()?.server ?? target.server;
  const url = new URL(server.replace(/\/+$/, '') + request.path);
  for (const [key, value] of Object.entries(request.query ?? {})) url.searchParams.set(key, value);
  const ctx = new RequestContext(url.toString(), HttpMethod[request.method]);
  let text: string;
  let status: number;
  try {
    await target.kc.applySecurityAuthentication(ctx);
    const dispatcher = ctx.getDispatcher();
    const response = await fetch(url, {
      method: request.method,
      headers: {
        ...ctx.getHeaders(),
        Accept: 'application/json',
        ...(request.body === undefined
          ? {}
          : { 'Content-Type': request.contentType ?? 'application/json' }),
      },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      ...(dispatcher === undefined ? {} : { dispatcher }),
      signal: AbortSignal.timeout(30_000),
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    throw toKubeError(error, request.action, target);
  }
  if (status >= 400) {
    throw fromStatus({
      status,
      body: parseStatusBody(text),
      action: request.action,
      endpoint: target,
    });
  }
  const value: unknown = JSON.parse(text);
  return isJsonObject(value) ? value : {};
}
