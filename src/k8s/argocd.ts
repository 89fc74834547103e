import { setTimeout as sleep } from 'node:timers/promises';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { apiConfiguration, FIELD_MANAGER, toKubeApiError } from './api.js';
import type { KubeApiError } from './errors.js';

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

/** Argo CD, reached through its Application resources in the cluster. */
export interface ArgoCd {
  syncApplication(o: SyncApplicationOptions): Promise<SyncApplicationResult>;
}

const DEFAULT_SYNC_POLL_MS = 3_000;
const ARGO_TERMINAL_PHASES = new Set(['Succeeded', 'Failed', 'Error']);

// The generated patch methods default to a JSON Patch content type; Argo CD operations are set with a merge patch.
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class KubeArgoCd implements ArgoCd {
  private readonly custom: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    private readonly argocdNamespace: string,
    requestTimeoutMs: number,
  ) {
    this.custom = new CustomObjectsApi(apiConfiguration(kc, requestTimeoutMs));
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
