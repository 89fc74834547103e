import type { KubeConnectionOptions } from './api.js';
import type { ArgoCd } from './argocd.js';
import type { KubeObject } from './manifests.js';

export { KubeApiError, RolloutFailedError, RolloutTimeoutError } from './errors.js';

export interface PreviewNamespace {
  name: string;
  projectId: number | null;
  taskId: number | null;
  expiresAt: Date | null;
  createdAt: Date | null;
}

export interface PreviewCluster {
  /** Server-side apply, in order, as field manager `aiworker`, forcing ownership of conflicting fields. */
  apply(objects: KubeObject[]): Promise<void>;
  /** Resolves once the Deployment rollout is available; throws RolloutFailedError or RolloutTimeoutError. */
  waitForRollout(namespace: string, name: string, timeoutMs: number, pollMs?: number): Promise<void>;
  /** False if the namespace was already gone. */
  deleteNamespace(name: string): Promise<boolean>;
  listPreviewNamespaces(): Promise<PreviewNamespace[]>;
  /** Cheap authenticated round trip (GET /version) for readiness checks. */
  ping(): Promise<void>;
}

/** The cluster aiworker works with: preview namespaces and rollouts, and Argo CD's Applications. */
export type KubeCluster = PreviewCluster & ArgoCd;

/** A cluster that connects on first use (createKubeCluster). */
export interface LazyKubeCluster extends KubeCluster {
  /** Loads the client and the configuration now; throws what is wrong with the configuration. */
  connect(): Promise<void>;
}

export interface KubeClusterOptions extends KubeConnectionOptions {
  /** Namespace of Argo CD Applications. Default `argocd`. */
  argocdNamespace?: string;
  /** Upper bound for any single API request. Default 30 s. */
  requestTimeoutMs?: number;
}

/**
 * The cluster, connected on first use (main.ts connects at start): the Kubernetes client is a large
 * module (tens of MB resident even as the build bundles it), loaded only by a process that has
 * Kubernetes configured.
 */
export function createKubeCluster(o: KubeClusterOptions): LazyKubeCluster {
  let connected: Promise<KubeCluster> | null = null;
  const cluster = () => {
    connected ??= import('./preview-cluster.js').then((client) => client.connectKubeCluster(o));
    // A failed attempt (an unreadable kubeconfig) is tried again on the next call, not remembered.
    connected.catch(() => (connected = null));
    return connected;
  };
  return {
    connect: async () => void (await cluster()),
    apply: async (objects) => (await cluster()).apply(objects),
    waitForRollout: async (namespace, name, timeoutMs, pollMs) => (await cluster()).waitForRollout(namespace, name, timeoutMs, pollMs),
    deleteNamespace: async (name) => (await cluster()).deleteNamespace(name),
    listPreviewNamespaces: async () => (await cluster()).listPreviewNamespaces(),
    ping: async () => (await cluster()).ping(),
    syncApplication: async (options) => (await cluster()).syncApplication(options),
  };
}
