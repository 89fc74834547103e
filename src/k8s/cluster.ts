import { STATUS_CODES } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  ServerConfiguration,
  VersionApi,
  createConfiguration,
  setHeaderOptions,
  type Middleware,
  type V1Deployment,
} from '@kubernetes/client-node';
import {
  EXPIRES_AT_ANNOTATION,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  PROJECT_LABEL,
  TASK_LABEL,
  type KubeObject,
} from './manifests.js';

export interface PreviewNamespace {
  name: string;
  projectId: number | null;
  taskId: number | null;
  expiresAt: Date | null;
  createdAt: Date | null;
}

export interface SyncApplicationOptions {
  /** Namespace of the Application; defaults to the cluster's `argocdNamespace`. */
  namespace?: string;
  name: string;
  /** Revision to sync to; the Application's target revision when omitted. */
  revision?: string;
  timeoutMs: number;
  pollMs?: number;
}

export interface SyncApplicationResult {
  /**
   * Argo CD operation phase: Succeeded, Failed or Error when finished; Running or Terminating, or Pending
   * (the controller has not started it), when `timeoutMs` ran out first.
   */
  phase: string;
  message: string;
  revision: string | null;
  url: string | null;
}

export interface PreviewCluster {
  /** Server-side apply, in order, as field manager `aiworker`, forcing ownership of conflicting fields. */
  apply(objects: KubeObject[]): Promise<void>;
  /** Resolves once the Deployment rollout is available; throws RolloutFailedError or RolloutTimeoutError. */
  waitForRollout(namespace: string, name: string, timeoutMs: number, pollMs?: number): Promise<void>;
  /** False if the namespace was already gone. */
  deleteNamespace(name: string): Promise<boolean>;
  listPreviewNamespaces(): Promise<PreviewNamespace[]>;
  syncApplication(o: SyncApplicationOptions): Promise<SyncApplicationResult>;
  /** Cheap authenticated round trip (GET /version) for readiness checks. */
  ping(): Promise<void>;
}

export interface KubeClusterOptions {
  kubeconfigPath?: string;
  inCluster?: boolean;
  /** An already loaded configuration; takes precedence over `kubeconfigPath` and `inCluster`. */
  kubeConfig?: KubeConfig;
  /** Namespace of Argo CD Applications. Default `argocd`. */
  argocdNamespace?: string;
  /** Upper bound for any single API request. Default 30 s. */
  requestTimeoutMs?: number;
}

export const FIELD_MANAGER = 'aiworker';
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_ROLLOUT_POLL_MS = 2_000;
const DEFAULT_SYNC_POLL_MS = 3_000;
const NAMESPACE_PAGE_SIZE = 500;
const ARGO_TERMINAL_PHASES = new Set(['Succeeded', 'Failed', 'Error']);

/**
 * A failed Kubernetes API call. `retryable` marks failures worth retrying later (5xx, 429, 408, timeouts,
 * network errors); other 4xx (e.g. 422 for an invalid manifest, 403 for missing RBAC) will fail again.
 */
export class KubeApiError extends Error {
  readonly status: number | null;
  readonly retryable: boolean;
  /** Kubernetes Status reason, e.g. `Invalid`, `NotFound`, `Forbidden`. */
  readonly reason: string | null;

  constructor(message: string, o: { status: number | null; retryable: boolean; reason?: string | null; cause?: unknown }) {
    super(message, { cause: o.cause });
    this.name = 'KubeApiError';
    this.status = o.status;
    this.retryable = o.retryable;
    this.reason = o.reason ?? null;
  }
}

export class RolloutFailedError extends Error {
  constructor(
    readonly namespace: string,
    readonly deployment: string,
    readonly reason: string,
    detail: string,
  ) {
    super(`rollout of deployment ${namespace}/${deployment} failed (${reason}): ${detail}`);
    this.name = 'RolloutFailedError';
  }
}

export class RolloutTimeoutError extends Error {
  constructor(
    readonly namespace: string,
    readonly deployment: string,
    readonly timeoutMs: number,
    lastState: string,
  ) {
    super(`rollout of deployment ${namespace}/${deployment} not available after ${timeoutMs} ms: ${lastState}`);
    this.name = 'RolloutTimeoutError';
  }
}

/**
 * Kubernetes connection settings: an explicit `kubeConfig`, the pod's service account (`inCluster`), or a
 * kubeconfig file. There is deliberately no implicit fallback to ~/.kube/config or $KUBECONFIG.
 */
export function loadKubeConfig(o: Pick<KubeClusterOptions, 'kubeconfigPath' | 'inCluster' | 'kubeConfig'>): KubeConfig {
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

export function createKubeCluster(o: KubeClusterOptions): PreviewCluster {
  return new KubePreviewCluster(loadKubeConfig(o), o.argocdNamespace ?? 'argocd', o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
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

// The generated patch methods default to a JSON Patch content type; Argo CD operations are set with a merge patch.
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

class KubePreviewCluster implements PreviewCluster {
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly version: VersionApi;

  constructor(
    kc: KubeConfig,
    private readonly argocdNamespace: string,
    requestTimeoutMs: number,
  ) {
    // Same wiring as KubeConfig.makeApiClient, plus the request timeout.
    const config = createConfiguration({
      baseServer: new ServerConfiguration(kc.getCurrentCluster()!.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [requestTimeout(requestTimeoutMs)],
    });
    this.objects = new KubernetesObjectApi(config);
    this.core = new CoreV1Api(config);
    this.apps = new AppsV1Api(config);
    this.custom = new CustomObjectsApi(config);
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

  async syncApplication(o: SyncApplicationOptions): Promise<SyncApplicationResult> {
    const ref = {
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: o.namespace ?? this.argocdNamespace,
      name: o.name,
    };
    const what = `Application ${ref.namespace}/${ref.name}`;
    const deadline = Date.now() + o.timeoutMs;
    const pollMs = o.pollMs ?? DEFAULT_SYNC_POLL_MS;

    // An operation already in flight (e.g. an automated sync) would absorb a merge patch of `operation` and
    // report its own result, so ours is requested only once the Application is idle.
    let requested = false;
    let previousStartedAt: string | undefined;
    let last: SyncApplicationResult = { phase: 'Pending', message: 'sync not requested yet', revision: null, url: null };
    for (;;) {
      let pollError: KubeApiError | null = null;
      try {
        const app = (await this.custom.getNamespacedCustomObject(ref)) as ArgoApplication;
        const operationState = app.status?.operationState;
        if (!requested) {
          const url = summarize(app).url;
          if (app.operation) {
            last = { phase: 'Pending', message: 'waiting for another operation on the Application to finish', revision: null, url };
          } else {
            previousStartedAt = operationState?.startedAt;
            await this.patchOperation(ref, o.revision, what);
            requested = true;
            last = { phase: 'Pending', message: 'waiting for the Argo CD controller to start the sync', revision: null, url };
          }
        } else if (!app.operation && operationState && ARGO_TERMINAL_PHASES.has(operationState.phase ?? '')) {
          // The controller clears `operation` when it finishes the one we set, so this state is ours.
          return summarize(app);
        } else if (operationState && operationState.startedAt !== previousStartedAt) {
          last = summarize(app);
        }
      } catch (e) {
        const error = toKubeApiError(e, `${requested ? 'read' : 'sync'} ${what}`);
        if (!error.retryable) throw error;
        pollError = error;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        // Reporting the stale state would hide that the API itself is failing.
        if (pollError) throw pollError;
        return last;
      }
      await sleep(Math.min(pollMs, remaining));
    }
  }

  async ping(): Promise<void> {
    try {
      await this.version.getCode();
    } catch (e) {
      throw toKubeApiError(e, 'GET /version');
    }
  }

  private async patchOperation(ref: ApplicationRef, revision: string | undefined, what: string): Promise<void> {
    const body = { operation: { initiatedBy: { username: FIELD_MANAGER }, sync: revision ? { revision } : {} } };
    try {
      await this.custom.patchNamespacedCustomObject({ ...ref, body }, MERGE_PATCH);
    } catch (e) {
      throw toKubeApiError(e, `sync ${what}`);
    }
  }
}

interface ApplicationRef {
  group: string;
  version: string;
  plural: string;
  namespace: string;
  name: string;
}

/** The fields of an argoproj.io/v1alpha1 Application read here. */
interface ArgoApplication {
  operation?: unknown;
  status?: {
    summary?: { externalURLs?: string[] };
    operationState?: {
      phase?: string;
      message?: string;
      startedAt?: string;
      syncResult?: { revision?: string };
    };
  };
}

function summarize(app: ArgoApplication): SyncApplicationResult {
  const state = app.status?.operationState;
  return {
    phase: state?.phase ?? 'Pending',
    message: state?.message ?? '',
    revision: state?.syncResult?.revision || null,
    url: app.status?.summary?.externalURLs?.[0] ?? null,
  };
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
