import { KubeConfig } from '@kubernetes/client-node';

/**
 * Kubernetes API server answers (discovery, Status) and client configuration shared by the tests
 * that fake the API server, with nock or with the loopback KubeApiServer.
 */

/** A discovery document (`GET /api/v1`, `GET /apis/{group}/{version}`) listing the given resources. */
export function resourceList(groupVersion: string, resources: Array<[name: string, kind: string, namespaced: boolean]>) {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: resources.map(([name, kind, namespaced]) => ({
      name,
      singularName: kind.toLowerCase(),
      namespaced,
      kind,
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    })),
  };
}

/** The discovery a preview deploy needs (Namespace, Service, Deployment, Ingress), by request path. */
export const PREVIEW_DISCOVERY: Readonly<Record<string, ReturnType<typeof resourceList>>> = {
  '/api/v1': resourceList('v1', [['namespaces', 'Namespace', false], ['services', 'Service', true]]),
  '/apis/apps/v1': resourceList('apps/v1', [['deployments', 'Deployment', true]]),
  '/apis/networking.k8s.io/v1': resourceList('networking.k8s.io/v1', [['ingresses', 'Ingress', true]]),
};

/** A failure `Status` body as the API server sends it with an error code. */
export function kubeStatus(code: number, reason: string, message: string, details?: object) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code };
}

/** A kubeconfig with one cluster at `server`, reached with a bearer `token`. */
export function tokenKubeConfig(server: string, token: string, o: { name?: string; skipTLSVerify?: boolean } = {}): KubeConfig {
  const name = o.name ?? 'test';
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name, server, skipTLSVerify: o.skipTLSVerify ?? false }],
    users: [{ name: 'aiworker', token }],
    contexts: [{ name, cluster: name, user: 'aiworker' }],
    currentContext: name,
  });
  return kc;
}
