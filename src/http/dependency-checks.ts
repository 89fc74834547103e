import { ping, type Db } from '../db/connect.js';
import { waitForRedis, type Redis } from '../redis.js';
import type { GiteaClient } from '../gitea/client.js';
import type { PreviewCluster } from '../k8s/cluster.js';
import type { HealthCheck } from './routes/health.js';

/** What /readyz reports: MySQL and Redis are critical; Gitea and Kubernetes are reported but not required. */
export function dependencyChecks({ db, redis, gitea, cluster }: { db: Db; redis: Redis; gitea: Pick<GiteaClient, 'getVersion'> | null; cluster: Pick<PreviewCluster, 'ping'> | null }): HealthCheck[] {
  return [
    { name: 'mysql', critical: true, run: async () => (await ping(db), { status: 'ok' }) },
    {
      name: 'redis',
      critical: true,
      // Commands fail fast while (re)connecting: give a connection being made a moment to come up.
      run: async () => {
        if (redis.status !== 'ready') await waitForRedis(redis, 1000);
        await redis.ping();
        return { status: 'ok' };
      },
    },
    {
      name: 'gitea',
      critical: false,
      run: async () => (gitea ? (await gitea.getVersion(), { status: 'ok' }) : { status: 'not configured' }),
    },
    {
      name: 'kubernetes',
      critical: false,
      run: async () =>
        cluster
          ? (await cluster.ping(), { status: 'ok' })
          : { status: 'dry-run', detail: 'Kubernetes not configured: previews are rendered, not deployed' },
    },
  ];
}
