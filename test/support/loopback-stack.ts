import { createKubeCluster } from '../../src/k8s/cluster.js';
import type { ServiceOverrides } from '../../src/main.js';
import { startGiteaServer, type GiteaServer } from './gitea-server.js';
import { startKubeApiServer, type KubeApiServer } from './kube-api-server.js';
import { startTestService, type TestService } from './service.js';

export interface LoopbackStack {
  kube: KubeApiServer;
  gitea: GiteaServer;
  svc: TestService;
}

/**
 * Registers the hooks of a describe block whose service runs against the loopback Kubernetes API
 * and Gitea (previews at task-<id>.preview.example.com); `overrides` are the service's.
 */
export function loopbackStack(overrides: ServiceOverrides = {}): LoopbackStack {
  const stack = {} as LoopbackStack;
  before(async () => {
    stack.kube = await startKubeApiServer();
    stack.gitea = await startGiteaServer();
    stack.svc = await startTestService({ ...stack.gitea.env(), PREVIEW_DOMAIN: 'preview.example.com' }, { cluster: createKubeCluster({ kubeConfig: stack.kube.kubeConfig() }), ...overrides });
  });
  after(async () => {
    // Held applies are answered, so nothing waits on them while the service stops.
    stack.kube?.release();
    await stack.svc?.cleanup();
    await stack.gitea?.close();
    await stack.kube?.close();
  });
  return stack;
}
