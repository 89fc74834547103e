import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueName, Queues } from '../src/queue/queues.js';
import type { JobOutbox } from '../src/queue/outbox.js';
import type { DeliveryStore } from '../src/webhooks/deliveries.js';
import type { HandlerDeps } from '../handlers/types.js';
import type { Config } from '../src/config.js';
import type { GiteaClient } from '../src/gitea/client.js';
import type { KubeCluster } from '../src/k8s/cluster.js';
import type { Metrics } from '../src/metrics.js';
import type { Db } from '../src/db/connect.js';
import type { Cache } from '../src/cache.js';
import type { EventPublisher } from '../src/tasks/event-log.js';
import type { DeploymentStore } from '../src/deployments/store.js';
import type { DeploymentService } from '../src/deployments/service.js';
import type { MergeRunStore } from '../src/merges/runs.js';
import type { DeliveryQueue } from '../src/webhooks/delivery-queue.js';
import type { AgentService } from '../src/agents/service.js';

/** What job processors may use; built once in src/main.ts. */
export interface JobDeps extends HandlerDeps {
  deliveries: DeliveryStore;
  /** Puts stored deliveries' jobs on the webhooks queue (the relay). */
  deliveryQueue: DeliveryQueue;
  redis: Redis;
  redisPrefix: string;
  queues: Queues;
  outbox: JobOutbox;
  config: Config;
  db: Db;
  cache: Cache;
  feed: EventPublisher;
  deployments: DeploymentStore;
  /** Starts and ends deployments with their deploy:* events. */
  deploymentService: DeploymentService;
  mergeRuns: MergeRunStore;
  metrics: Metrics;
  /** Agents' status and liveness (the agent-liveness sweep). */
  agents: AgentService;
  /** Null when Gitea is not configured: comments and statuses are logged instead. */
  gitea: GiteaClient | null;
  /** Null when Kubernetes is not configured: previews and syncs run as dry-runs. */
  cluster: KubeCluster | null;
}

export interface JobDefinition<D = Record<string, unknown>> {
  queue: QueueName;
  /** The BullMQ job name this processor runs. */
  name: string;
  /** `stopping` is aborted when this process's workers begin to close: a long job hands its work on. */
  process(job: Job<D>, deps: JobDeps, token?: string, stopping?: AbortSignal): Promise<unknown>;
}
