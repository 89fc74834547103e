/**
 * The failures of Kubernetes calls, free of the Kubernetes client so that catching them does not
 * load it. The client is loaded on first use (cluster.ts), and a module loaded that way can be a
 * second copy of this one (a test runner that loads tests as CommonJS gets one copy that way and
 * one through the dynamic import): `instanceof` asks for a mark every copy gives its errors, not
 * for one copy's class.
 */

/** `instanceof` for these classes: true for an error made by any copy of this module. */
function marked(mark: symbol) {
  return (value: unknown) => typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[mark] === true;
}

const KUBE_API_ERROR = Symbol.for('aiworker.k8s.KubeApiError');
const ROLLOUT_FAILED = Symbol.for('aiworker.k8s.RolloutFailedError');
const ROLLOUT_TIMEOUT = Symbol.for('aiworker.k8s.RolloutTimeoutError');

/**
 * A failed Kubernetes API call. `retryable` marks failures worth retrying later (5xx, 429, 408, timeouts,
 * network errors); other 4xx (e.g. 422 for an invalid manifest, 403 for missing RBAC) will fail again.
 */
export class KubeApiError extends Error {
  static [Symbol.hasInstance] = marked(KUBE_API_ERROR);
  readonly [KUBE_API_ERROR] = true;
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
  static [Symbol.hasInstance] = marked(ROLLOUT_FAILED);
  readonly [ROLLOUT_FAILED] = true;
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
  static [Symbol.hasInstance] = marked(ROLLOUT_TIMEOUT);
  readonly [ROLLOUT_TIMEOUT] = true;
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
