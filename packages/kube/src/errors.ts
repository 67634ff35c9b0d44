/**
 * The errors of the Kubernetes package, and the one place that turns what client-node, undici
 * and ws throw into them. client-node's `ApiException` pastes the whole response (body and
 * headers) into its message; nothing from it is ever shown as is. Every failure becomes one of:
 * - `KubeNotFoundError`: the object does not exist (callers branch on it, e.g. uninstall);
 * - `KubeForbiddenError`: RBAC said no; the message names the verb and resource that are missing;
 * - `KubeConflictError`: 409, the object changed since the version a write was based on;
 * - `KubeUnreachableError`: no answer from the API server (refused, DNS, TLS, timeout);
 * - any other `UserError`: the API server answered with an error we show in one line.
 */
import { UserError, oneLine } from '@ksync/core';

/** What a request tried to do, so that a denial can name the missing permission. */
export interface KubeAction {
  /** The RBAC verb: get, list, watch, create, patch, delete. */
  readonly verb: string;
  /** The resource with its subresource, e.g. `pods/portforward`, `daemonsets.apps`. */
  readonly resource: string;
  readonly namespace?: string;
  readonly name?: string;
}

/** The object asked for does not exist. */
export class KubeNotFoundError extends UserError {}

/** RBAC refused a request; `action` is what was refused. */
export class KubeForbiddenError extends UserError {
  readonly action: KubeAction;
  constructor(action: KubeAction, user: string | undefined) {
    super(
      `forbidden: ${user === undefined ? 'you' : `user "${user}"`} cannot ${action.verb} ` +
        `${action.resource}${inNamespace(action.namespace)}; ask a cluster admin for this ` +
        `permission (docs/security.md lists what ksync needs)`,
    );
    this.action = action;
  }
}

/** The object changed since the version a write was based on (409 Conflict). */
export class KubeConflictError extends UserError {}

/** The API server did not answer at all. */
export class KubeUnreachableError extends UserError {}

/** Where the request went, for messages ("the cluster at https://… (context kind)"). */
export interface KubeEndpoint {
  readonly server: string;
  readonly context: string;
}

/** The parts of a Kubernetes `Status` we read. */
interface StatusBody {
  readonly message?: string;
  readonly reason?: string;
}

/**
 * Maps anything a Kubernetes request threw to one of this module's errors. `status` and `body`
 * come from an HTTP answer (client-node's ApiException, or a failed WebSocket upgrade); without
 * them the error is a transport failure and becomes `KubeUnreachableError`.
 */
export function toKubeError(error: unknown, action: KubeAction, endpoint: KubeEndpoint): Error {
  if (error instanceof UserError) return error;
  const status = httpStatus(error);
  if (status === undefined) return unreachable(error, endpoint);
  return fromStatus({ status, body: parseStatusBody(bodyOf(error)), action, endpoint });
}

/** Options for `fromStatus`. */
export interface StatusAnswer {
  readonly status: number;
  readonly body: StatusBody | undefined;
  readonly action: KubeAction;
  readonly endpoint: KubeEndpoint;
}

/** Maps an HTTP error answer of the API server to one of this module's errors. */
export function fromStatus(answer: StatusAnswer): UserError {
  const { status, body, action, endpoint } = answer;
  const what = `${action.resource}${action.name === undefined ? '' : ` "${action.name}"`}`;
  switch (status) {
    case 401:
      return new UserError(
        `the cluster at ${endpoint.server} (context "${endpoint.context}") did not accept your ` +
          `credentials (401 Unauthorized); renew them (e.g. log in again) and retry`,
      );
    case 403:
      return new KubeForbiddenError(action, forbiddenUser(body?.message));
    case 404:
      return new KubeNotFoundError(`${what} not found${inNamespace(action.namespace)}`);
    case 409:
      return new KubeConflictError(
        `cannot ${action.verb} ${what}${inNamespace(action.namespace)}: ${oneLine(body?.message ?? 'conflict')}`,
      );
    default: {
      const detail = oneLine(body?.message ?? body?.reason ?? `HTTP ${status}`);
      return new UserError(
        `cannot ${action.verb} ${what}${inNamespace(action.namespace)}: ${detail}`,
      );
    }
  }
}

function inNamespace(namespace: string | undefined): string {
  return namespace === undefined ? '' : ` in namespace "${namespace}"`;
}

/** The user RBAC named in a Forbidden message: `User "alice" cannot …`. */
function forbiddenUser(message: string | undefined): string | undefined {
  return message === undefined ? undefined : /User "([^"]+)" cannot/.exec(message)?.[1];
}

function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  // client-node's ApiException carries the HTTP status as a numeric `code`, and its watch's
  // error as `statusCode`; Node's system errors carry string codes (ECONNREFUSED), so the type
  // tells them apart.
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  const status = typeof code === 'number' ? code : statusCode;
  return typeof status === 'number' && status >= 400 ? status : undefined;
}

function bodyOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null
    ? (error as { body?: unknown }).body
    : undefined;
}

/** Reads a Kubernetes `Status` from a parsed or raw JSON body. */
export function parseStatusBody(body: unknown): StatusBody | undefined {
  let value = body;
  if (typeof value === 'string' || Buffer.isBuffer(value)) {
    try {
      value = JSON.parse(value.toString()) as unknown;
    } catch {
      return undefined;
    }
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { message, reason } = value as Record<string, unknown>;
  return {
    ...(typeof message === 'string' ? { message } : {}),
    ...(typeof reason === 'string' ? { reason } : {}),
  };
}

/** Transport error codes, in words. */
const TRANSPORT_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'timed out',
  UND_ERR_CONNECT_TIMEOUT: 'timed out',
  UND_ERR_SOCKET: 'connection lost',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'its TLS certificate is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate is not trusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate does not name this address',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
};

function unreachable(error: unknown, endpoint: KubeEndpoint): KubeUnreachableError {
  return new KubeUnreachableError(
    `cannot reach the cluster at ${endpoint.server} (context "${endpoint.context}"): ` +
      `${transportReason(error)}; check that it is running and that --context or ` +
      `--kubeconfig point at it`,
  );
}

/** The innermost transport reason of an error chain (undici wraps it as `cause`). */
function transportReason(error: unknown): string {
  let innermost = error;
  for (let e = error, depth = 0; e instanceof Error && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return TRANSPORT_REASONS[code] ?? code;
    if (e.name === 'TimeoutError') return 'timed out';
    innermost = e;
    e = e.cause;
  }
  return oneLine(innermost instanceof Error ? innermost.message : String(innermost));
}
