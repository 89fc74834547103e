import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy, VersionApi, type V1Deployment } from '@kubernetes/client-node';
import { apiConfiguration, FIELD_MANAGER, loadKubeConfig, toKubeApiError } from './api.js';
import { KubeArgoCd } from './argocd.js';
import type { KubeCluster, KubeClusterOptions, PreviewCluster, PreviewNamespace } from './cluster.js';
import { RolloutFailedError, RolloutTimeoutError } from './errors.js';
import {
  EXPIRES_AT_ANNOTATION,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  PROJECT_LABEL,
  TASK_LABEL,
  type KubeObject,
} from './manifests.js';

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_ROLLOUT_POLL_MS = 2_000;
const NAMESPACE_PAGE_SIZE = 500;

/** The cluster through the Kubernetes client: loaded by createKubeCluster (cluster.ts) on first use. */
export function connectKubeCluster(o: KubeClusterOptions): KubeCluster {
  const kc = loadKubeConfig(o);
  const timeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const previews = new KubePreviewCluster(kc, timeoutMs);
  const argocd = new KubeArgoCd(kc, o.argocdNamespace ?? 'argocd', timeoutMs);
  return {
    apply: (objects) => previews.apply(objects),
    waitForRollout: (namespace, name, timeoutMs, pollMs) => previews.waitForRollout(namespace, name, timeoutMs, pollMs),
    deleteNamespace: (name) => previews.deleteNamespace(name),
    listPreviewNamespaces: () => previews.listPreviewNamespaces(),
    ping: () => previews.ping(),
    syncApplication: (options) => argocd.syncApplication(options),
  };
}

class KubePreviewCluster implements PreviewCluster {
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly version: VersionApi;

  constructor(kc: KubeConfig, requestTimeoutMs: number) {
    const config = apiConfiguration(kc, requestTimeoutMs);
    this.objects = new KubernetesObjectApi(config);
    this.core = new CoreV1Api(config);
    this.apps = new AppsV1Api(config);
    this.version = new VersionApi(config);
  }

  async apply(objects: KubeObject[]): Promise<void> {
    // Sequential: the Namespace must exist before the objects inside it.
    for (const object of objects) {
      try {
        // KubernetesObjectApi resolves the resource path through API discovery (cached per client) and
        // sends the patch strategy as the Content-Type, here application/apply-patch+yaml with a JSON body.
        await this.objects.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      } catch (e) {
        throw toKubeApiError(e, `apply ${describe(object)}`);
      }
    }
  }

  async waitForRollout(namespace: string, name: string, timeoutMs: number, pollMs = DEFAULT_ROLLOUT_POLL_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastState = 'deployment not read yet';
    for (;;) {
      try {
        const state = rolloutState(await this.apps.readNamespacedDeployment({ name, namespace }));
        if (state.kind === 'available') return;
        if (state.kind === 'failed') throw new RolloutFailedError(namespace, name, state.reason, state.detail);
        lastState = state.detail;
      } catch (e) {
        if (e instanceof RolloutFailedError) throw e;
        const error = toKubeApiError(e, `read Deployment ${namespace}/${name}`);
        // A transient API failure should not abort a rollout that may well be progressing; the deadline bounds it.
        if (!error.retryable) throw error;
        lastState = error.message;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new RolloutTimeoutError(namespace, name, timeoutMs, lastState);
      await sleep(Math.min(pollMs, remaining));
    }
  }

  async deleteNamespace(name: string): Promise<boolean> {
    try {
      await this.core.deleteNamespace({ name, propagationPolicy: 'Background' });
      return true;
    } catch (e) {
      const error = toKubeApiError(e, `delete Namespace ${name}`);
      if (error.status === 404) return false;
      // The API server answers 409 while a namespace is already terminating: the deletion is under way.
      if (error.status === 409) return true;
      throw error;
    }
  }

  async listPreviewNamespaces(): Promise<PreviewNamespace[]> {
    const result: PreviewNamespace[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.core.listNamespace({
          labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`,
          limit: NAMESPACE_PAGE_SIZE,
          _continue: token,
        });
      } catch (e) {
        throw toKubeApiError(e, 'list preview namespaces');
      }
      for (const ns of page.items) {
        const labels = ns.metadata?.labels ?? {};
        const expiresAt = new Date(ns.metadata?.annotations?.[EXPIRES_AT_ANNOTATION] ?? Number.NaN);
        result.push({
          name: ns.metadata?.name ?? '',
          projectId: parseId(labels[PROJECT_LABEL]),
          taskId: parseId(labels[TASK_LABEL]),
          expiresAt: Number.isNaN(expiresAt.getTime()) ? null : expiresAt,
          createdAt: ns.metadata?.creationTimestamp ? new Date(ns.metadata.creationTimestamp) : null,
        });
      }
      token = page.metadata?._continue || undefined;
    } while (token);
    return result;
  }

  async ping(): Promise<void> {
    try {
      await this.version.getCode();
    } catch (e) {
      throw toKubeApiError(e, 'GET /version');
    }
  }
}

type RolloutState = { kind: 'available' } | { kind: 'progressing'; detail: string } | { kind: 'failed'; reason: string; detail: string };

/** Mirrors `kubectl rollout status` with the contract's stricter "Available condition True". */
export function rolloutState(deployment: V1Deployment): RolloutState {
  const generation = deployment.metadata?.generation ?? 0;
  const status = deployment.status ?? {};
  const observed = status.observedGeneration ?? 0;
  // Conditions describe the generation the controller last saw; before that, they may belong to the previous rollout.
  if (observed < generation) {
    return { kind: 'progressing', detail: `waiting for generation ${generation} to be observed (at ${observed})` };
  }
  const conditions = status.conditions ?? [];
  const progressing = conditions.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { kind: 'failed', reason: 'ProgressDeadlineExceeded', detail: progressing.message ?? 'progress deadline exceeded' };
  }
  const desired = deployment.spec?.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  const total = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  if (updated !== desired) return { kind: 'progressing', detail: `${updated} of ${desired} replicas updated` };
  if (total > updated) return { kind: 'progressing', detail: `${total - updated} old replicas pending termination` };
  if (available < desired) return { kind: 'progressing', detail: `${available} of ${desired} updated replicas available` };
  const availableCondition = conditions.find((c) => c.type === 'Available');
  if (availableCondition?.status !== 'True') {
    return { kind: 'progressing', detail: `Available condition is ${availableCondition?.status ?? 'missing'}` };
  }
  return { kind: 'available' };
}

function parseId(value: string | undefined): number | null {
  if (!value || !/^\d+$/.test(value)) return null;
  const id = Number(value);
  return Number.isSafeInteger(id) ? id : null;
}

function describe(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return `${object.kind} ${namespace ? `${namespace}/` : ''}${name}`;
}
