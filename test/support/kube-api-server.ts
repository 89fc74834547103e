import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export const KUBE_TOKEN = 'loopback-kube-token';

export interface KubeRequest {
  method: string;
  path: string;
  /** What was answered; null while the request is held. */
  status: number | null;
}

/**
 * A loopback stand-in for the parts of the Kubernetes API server a preview deploy calls: discovery,
 * server-side apply (PATCH, answered with the applied object) and the Deployment read, which
 * reports the rollout available at once; plus GET /version for readiness checks and an empty
 * namespace list for the cleanup job. Tests make it
 * fail (`failWith`) or hold applies until released (`hold`), and read what it was asked (`requests`).
 * Unlike nock it is a real server, so processes the test spawns can use it too (`writeKubeconfig`).
 */
export class KubeApiServer {
  readonly requests: KubeRequest[] = [];
  /** While set, every call is answered with this status and a Kubernetes Status body. */
  failWith: number | null = null;
  private holding = false;
  private readonly held: Array<() => void> = [];
  private server: http.Server | null = null;
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => this.answer(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Applies wait, unanswered, from now until release(). */
  hold(): void {
    this.holding = true;
  }

  /** Answers the held applies (those whose client is still there) and stops holding. */
  release(): void {
    this.holding = false;
    for (const answer of this.held.splice(0)) answer();
  }

  /** Applies received so far (one per object: namespace, deployment, service, ingress). */
  applies(): KubeRequest[] {
    return this.requests.filter((r) => r.method === 'PATCH');
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      // client-node refuses plain HTTP unless TLS verification is off; there is no TLS on loopback to verify.
      clusters: [{ name: 'loopback', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'aiworker', token: KUBE_TOKEN }],
      contexts: [{ name: 'loopback', cluster: 'loopback', user: 'aiworker' }],
      currentContext: 'loopback',
    });
    return kc;
  }

  /** A kubeconfig file for KUBECONFIG of a spawned service. */
  writeKubeconfig(path: string): string {
    writeFileSync(path, this.kubeConfig().exportConfig());
    return path;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.held.length = 0;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const record: KubeRequest = { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]!, status: null };
    this.requests.push(record);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        record.status = status;
        json(res, status, body);
      };
      if (req.headers.authorization !== `Bearer ${KUBE_TOKEN}`) return send(401, kubeStatus(401, 'Unauthorized', 'no or wrong bearer token'));
      if (this.failWith !== null) return send(this.failWith, kubeStatus(this.failWith, 'ServiceUnavailable', 'the API server is failing (test)'));
      const path = record.path;
      if (record.method === 'GET' && path === '/version') return send(200, { major: '1', minor: '31', gitVersion: 'v1.31.0' });
      if (record.method === 'GET' && DISCOVERY[path]) return send(200, DISCOVERY[path]);
      // No preview namespaces: the cleanup job finds nothing to remove.
      if (record.method === 'GET' && path === '/api/v1/namespaces') return send(200, { kind: 'NamespaceList', apiVersion: 'v1', metadata: {}, items: [] });
      if (record.method === 'PATCH') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const reply = () => send(200, { ...body, metadata: { ...body.metadata, uid: 'loopback', resourceVersion: '1', generation: 1 } });
        if (this.holding) this.held.push(reply);
        else reply();
        return;
      }
      const deployment = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)$/.exec(path);
      if (record.method === 'GET' && deployment) return send(200, availableDeployment(deployment[1]!, deployment[2]!));
      send(404, kubeStatus(404, 'NotFound', `${record.method} ${path}`));
    });
  }
}

export async function startKubeApiServer(): Promise<KubeApiServer> {
  return new KubeApiServer().start();
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function kubeStatus(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function resourceList(groupVersion: string, resources: Array<[string, string, boolean]>) {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: resources.map(([name, kind, namespaced]) => ({ name, singularName: kind.toLowerCase(), namespaced, kind, verbs: ['get', 'list', 'patch', 'delete'] })),
  };
}

const DISCOVERY: Record<string, unknown> = {
  '/api/v1': resourceList('v1', [['namespaces', 'Namespace', false], ['services', 'Service', true]]),
  '/apis/apps/v1': resourceList('apps/v1', [['deployments', 'Deployment', true]]),
  '/apis/networking.k8s.io/v1': resourceList('networking.k8s.io/v1', [['ingresses', 'Ingress', true]]),
};

function availableDeployment(namespace: string, name: string) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, generation: 1 },
    spec: { replicas: 1 },
    status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1, conditions: [{ type: 'Available', status: 'True' }] },
  };
}
