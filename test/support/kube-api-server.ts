import { writeFileSync } from 'node:fs';
import type http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeStatus, PREVIEW_DISCOVERY, tokenKubeConfig } from './kube-shapes.js';
import { LocalStandIn, sendJson } from './local-server.js';

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
export class KubeApiServer extends LocalStandIn {
  readonly requests: KubeRequest[] = [];
  /** The objects applied, in order (what a Deployment's image says, for one). */
  readonly appliedObjects: any[] = [];
  /** While set, every call is answered with this status and a Kubernetes Status body. */
  failWith: number | null = null;
  private holding = false;
  private readonly held: Array<() => void> = [];

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
    // client-node refuses plain HTTP unless TLS verification is off; there is no TLS on loopback to verify.
    return tokenKubeConfig(this.url, KUBE_TOKEN, { name: 'loopback', skipTLSVerify: true });
  }

  /** A kubeconfig file for KUBECONFIG of a spawned service. */
  writeKubeconfig(path: string): string {
    writeFileSync(path, this.kubeConfig().exportConfig());
    return path;
  }

  override async close(): Promise<void> {
    this.held.length = 0;
    await super.close();
  }

  protected answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const record: KubeRequest = { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]!, status: null };
    this.requests.push(record);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        record.status = status;
        sendJson(res, status, body);
      };
      if (req.headers.authorization !== `Bearer ${KUBE_TOKEN}`) return send(401, kubeStatus(401, 'Unauthorized', 'no or wrong bearer token'));
      if (this.failWith !== null) return send(this.failWith, kubeStatus(this.failWith, 'ServiceUnavailable', 'the API server is failing (test)'));
      const path = record.path;
      if (record.method === 'GET' && path === '/version') return send(200, { major: '1', minor: '31', gitVersion: 'v1.31.0' });
      if (record.method === 'GET' && PREVIEW_DISCOVERY[path]) return send(200, PREVIEW_DISCOVERY[path]);
      // No preview namespaces: the cleanup job finds nothing to remove.
      if (record.method === 'GET' && path === '/api/v1/namespaces') return send(200, { kind: 'NamespaceList', apiVersion: 'v1', metadata: {}, items: [] });
      if (record.method === 'PATCH') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        this.appliedObjects.push(body);
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

function availableDeployment(namespace: string, name: string) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, generation: 1 },
    spec: { replicas: 1 },
    status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1, conditions: [{ type: 'Available', status: 'True' }] },
  };
}
