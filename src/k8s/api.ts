import { STATUS_CODES } from 'node:http';
import { KubeApiError } from './errors.js';
import { ApiException, KubeConfig, ServerConfiguration, createConfiguration, type Configuration, type Middleware } from '@kubernetes/client-node';

/** The field manager of every server-side apply, and who initiates Argo CD syncs. */
export const FIELD_MANAGER = 'aiworker';

export interface KubeConnectionOptions {
  kubeconfigPath?: string;
  inCluster?: boolean;
  /** An already loaded configuration; takes precedence over `kubeconfigPath` and `inCluster`. */
  kubeConfig?: KubeConfig;
}

/**
 * Kubernetes connection settings: an explicit `kubeConfig`, the pod's service account (`inCluster`), or a
 * kubeconfig file. There is deliberately no implicit fallback to ~/.kube/config or $KUBECONFIG.
 */
export function loadKubeConfig(o: KubeConnectionOptions): KubeConfig {
  let kc = o.kubeConfig;
  if (!kc) {
    kc = new KubeConfig();
    if (o.inCluster) kc.loadFromCluster();
    else if (o.kubeconfigPath) kc.loadFromFile(o.kubeconfigPath);
    else throw new Error('Kubernetes is not configured: set a kubeconfig path or enable in-cluster mode');
  }
  if (!kc.getCurrentCluster()?.server) {
    throw new Error(`Kubernetes config has no server for context ${JSON.stringify(kc.getCurrentContext())}`);
  }
  return kc;
}

/** Aborts every request after `ms`: the client sets no timeout of its own, so a stalled connection would hang a job. */
function requestTimeout(ms: number): Middleware {
  return {
    pre: async (context) => {
      context.setSignal(AbortSignal.timeout(ms));
      return context;
    },
    post: async (response) => response,
  };
}

/** Same wiring as KubeConfig.makeApiClient, plus the request timeout. */
export function apiConfiguration(kc: KubeConfig, requestTimeoutMs: number): Configuration {
  return createConfiguration({
    baseServer: new ServerConfiguration(kc.getCurrentCluster()!.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [requestTimeout(requestTimeoutMs)],
  });
}

interface StatusBody {
  kind?: string;
  message?: string;
  reason?: string;
}

function parseStatusBody(body: unknown): StatusBody | null {
  if (typeof body === 'string') {
    try {
      return parseStatusBody(JSON.parse(body));
    } catch {
      return null;
    }
  }
  return body && typeof body === 'object' ? (body as StatusBody) : null;
}

/** Classifies any failure of a client call, naming what was attempted. */
export function toKubeApiError(e: unknown, what: string): KubeApiError {
  if (e instanceof KubeApiError) return e;
  if (e instanceof ApiException) {
    const status: number = e.code;
    const body = parseStatusBody(e.body);
    const raw = typeof e.body === 'string' ? e.body.trim().slice(0, 500) : '';
    const detail = body?.message || raw || STATUS_CODES[status] || 'no response body';
    const reason = body?.kind === 'Status' && body.reason ? body.reason : null;
    return new KubeApiError(`${what} failed: HTTP ${status}${reason ? ` ${reason}` : ''}: ${detail}`, {
      status,
      retryable: status >= 500 || status === 429 || status === 408,
      reason,
      cause: e,
    });
  }
  const error = e instanceof Error ? e : new Error(String(e));
  // node-fetch rejects with AbortError when our request timeout fires, FetchError of type "system" on network failures.
  const type = (error as { type?: unknown }).type;
  const timedOut = error.name === 'AbortError' || type === 'request-timeout' || type === 'body-timeout';
  const network = error.name === 'FetchError' && type === 'system';
  const detail = timedOut ? `request timed out (${error.message})` : error.message;
  return new KubeApiError(`${what} failed: ${detail}`, { status: null, retryable: timedOut || network, cause: e });
}
