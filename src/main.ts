import http from 'node:http';
import type Router from '@koa/router';
import type { Config } from './config.js';
import { createLogger, safeUrl, type Logger } from './log.js';
import { createDatabaseIfMissing, createDb, migrate, type Db } from './db/connect.js';
import { createRedis, type Redis } from './redis.js';
import { Cache } from './cache.js';
import { createMetrics, type Metrics } from './metrics.js';
import { RedisFeedPublisher } from './feed/publisher.js';
import { TaskService } from './tasks/service.js';
import { ProjectService } from './projects/service.js';
import { WebhookRegistrar } from './projects/webhook.js';
import { AgentService } from './agents/service.js';
import { Queues } from './queue/queues.js';
import { JobScheduler } from './queue/scheduler.js';
import { WorkerPool } from './queue/workers.js';
import { DeliveryStore } from './webhooks/deliveries.js';
import { DeliveryQueue } from './webhooks/delivery-queue.js';
import { PendingWorkRecovery } from './webhooks/recovery.js';
import { JobOutbox } from './queue/outbox.js';
import { DeliveryIntake } from './webhooks/intake.js';
import { GiteaClient } from './gitea/client.js';
import { createKubeCluster, type KubeCluster } from './k8s/cluster.js';
import { BacklogAnnouncer } from './tasks/backlog-announcer.js';
import { Replier } from './gitea/replies.js';
import { CommandReplies } from './gitea/command-replies.js';
import { PermissionChecker } from './access/permissions.js';
import { createAccess } from './access/index.js';
import { Shutdown } from './lifecycle/shutdown.js';
import { createApp } from './http/app.js';
import { healthRoutes } from './http/routes/health.js';
import { dependencyChecks } from './http/dependency-checks.js';
import { projectRoutes } from './http/routes/projects.js';
import { taskRoutes } from './http/routes/tasks.js';
import { agentRoutes } from './http/routes/agents.js';
import { deliveryRoutes } from './http/routes/deliveries.js';
// preview-jobs: deployments route (minimal edit by the preview engineer)
import { deploymentRoutes } from './http/routes/deployments.js';
import { DeploymentStore } from './deployments/store.js';
import { DeploymentService } from './deployments/service.js';
import { webhookRoutes } from './http/routes/webhooks.js';
import { openApiRoutes } from './http/routes/openapi.js';
import { openApiDocument } from './http/openapi.js';
import pkg from '../package.json' with { type: 'json' };
import { mergeRoutes } from './http/routes/merge.js';
import { MergeRunStore } from './merges/runs.js';
import { attachFeed } from './feed/server.js';
import { boardRoutes } from './console/serve.js';
import { JOBS } from '../jobs/index.js';
import { scheduleRepeatables } from '../jobs/schedules.js';
import { listen } from './http/listen.js';
import { AnswerWaiter, RedisAnswerNotifier } from './mcp/answers.js';
import { mcpRoutes } from './mcp/http.js';
import type { McpDeps } from './mcp/server.js';
import type { JobDeps } from '../jobs/types.js';

export interface ServiceOverrides {
  log?: Logger;
  /** Recovery timing; tests shorten it. */
  recovery?: { intervalMs: number; staleAfterMs: number };
  /** First wait between attempts of deploy and merge jobs (default 2 s, doubling); tests shorten it. */
  jobBackoffMs?: number;
  /** Repeatable jobs (preview cleanup, agent liveness) scheduled at worker start; tests that do not want them turn this off. */
  schedules?: boolean;
  /** How often a worker re-creates the schedules (default a minute; tests shorten it). */
  rescheduleMs?: number;
  /** Gitea client tuning (tests shorten retries and timeouts). */
  gitea?: { retries?: number; timeoutMs?: number; retryBaseMs?: number };
  /** A cluster to use instead of the one KUBECONFIG describes (tests). */
  cluster?: KubeCluster | null;
}

export interface Service {
  config: Config;
  log: Logger;
  db: Db;
  redis: Redis;
  metrics: Metrics;
  tasks: TaskService;
  projects: ProjectService;
  agents: AgentService;
  deliveries: DeliveryStore;
  queues: Queues;
  jobs: JobScheduler;
  recovery: PendingWorkRecovery;
  /** What handlers, jobs and MCP tools are given. */
  deps: JobDeps;
  /** Where this process listens: the web role's API, or a worker's health and metrics. */
  url: string;
  /** Every router of this process's HTTP app: what it answers, and what GET /api/openapi.json describes. */
  routers: Router[];
  shutdown: Shutdown;
  stop(): Promise<void>;
}

/** Every dependency a process of any role needs, built once; nothing runs yet. */
export async function buildCore(config: Config, overrides: ServiceOverrides = {}) {
  const log = overrides.log ?? createLogger(config.logLevel);
  const shutdown = new Shutdown(log);
  log.info({ role: config.role, database: safeUrl(config.databaseUrl), redis: safeUrl(config.redisUrl) }, 'starting aiworker');
  for (const [name, value] of [
    ['API_TOKEN', config.apiToken],
    ['FEED_TOKEN', config.feedToken],
    ['GITEA_WEBHOOK_SECRET', config.webhookSecrets.length ? 'set' : null],
  ] as const) {
    if (!value) log.warn(`${name} is not set: that surface refuses every request until it is`);
  }
  log.info(config.gitea ? { gitea: config.gitea.url } : {}, config.gitea ? 'Gitea API configured' : 'Gitea not configured: comments, statuses and merges are logged, not sent');
  log.info(config.kube || overrides.cluster ? 'Kubernetes configured: previews are deployed' : 'Kubernetes not configured: previews run in dry-run mode (manifests rendered and stored, nothing deployed)');

  await createDatabaseIfMissing(config.databaseUrl);
  const db = createDb(config.databaseUrl, { min: 0, max: config.databasePoolMax });
  shutdown.add('mysql', () => db.destroy());
  const applied = await migrate(db);
  if (applied.length) log.info({ migrations: applied }, 'migrations applied');

  const redis = createRedis(config.redisUrl);
  redis.on('error', (err) => log.debug({ err: err.message }, 'redis connection error'));
  shutdown.add('redis', () => void redis.disconnect());

  const metrics = createMetrics();
  const cache = new Cache(redis, config.redisPrefix, log);
  const queues = new Queues({ redisUrl: config.redisUrl, prefix: config.redisPrefix });
  shutdown.add('queues', () => queues.close());
  const outbox = new JobOutbox(db);
  const jobs = new JobScheduler(queues, outbox, log, { backoffMs: overrides.jobBackoffMs });
  const feed = new BacklogAnnouncer(new RedisFeedPublisher(redis, config.redisPrefix, log), jobs, log);
  const tasks = new TaskService({ db, cache, feed, answers: new RedisAnswerNotifier(redis, config.redisPrefix, log) });
  const projects = new ProjectService({ db, cache });
  const agents = new AgentService({ db, cache, feed }, { tokenCacheMs: config.agentTokenCacheMs });
  const deliveries = new DeliveryStore(db);
  const deliveryQueue = new DeliveryQueue({ queues, deliveries, log });

  const gitea = config.gitea ? new GiteaClient({ baseUrl: config.gitea.url, token: config.gitea.token, logger: log, ...overrides.gitea }) : null;
  let botLogin: string | null = config.gitea?.botLogin ?? null;
  const resolveBotLogin = async () => {
    if (botLogin || !gitea) return botLogin;
    try {
      botLogin = (await gitea.getCurrentUser()).login;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not ask Gitea who the bot is; set GITEA_BOT_LOGIN');
    }
    return botLogin;
  };
  const configured = overrides.cluster === undefined && config.kube
    ? createKubeCluster({ kubeconfigPath: config.kube.kubeconfigPath ?? undefined, inCluster: config.kube.inCluster, argocdNamespace: config.kube.argocdNamespace })
    : null;
  if (configured) {
    // Loaded now: roles that deploy wait for it, so a broken kubeconfig stops them at start; the web
    // role talks to Kubernetes only in its readiness check, and only reports a broken one there.
    const connecting = configured.connect();
    if (config.role === 'web') connecting.catch((err) => log.warn({ err: (err as Error).message }, 'Kubernetes configuration could not be loaded'));
    else await connecting;
  }
  const cluster: KubeCluster | null = overrides.cluster !== undefined ? overrides.cluster : configured;
  const replies = new Replier({ api: gitea, log });
  const permissions = new PermissionChecker({ api: gitea, redis, prefix: config.redisPrefix, ttlSeconds: config.permissionCacheSeconds, log });

  const recovery = new PendingWorkRecovery(
    { deliveries, outbox, queues, queue: deliveryQueue, log, metrics },
    { intervalMs: overrides.recovery?.intervalMs ?? 5000, staleAfterMs: overrides.recovery?.staleAfterMs ?? 15_000, batch: 500 },
  );

  const deployments = new DeploymentStore(db);
  const mergeRuns = new MergeRunStore(db);
  const jobDeps: JobDeps = {
    tasks,
    projects,
    agents,
    jobs,
    replies,
    commandReplies: new CommandReplies(db),
    permissions,
    botLogin: resolveBotLogin,
    log,
    deliveries,
    deliveryQueue,
    redis,
    redisPrefix: config.redisPrefix,
    queues,
    outbox,
    config,
    db,
    cache,
    feed,
    deployments,
    deploymentService: new DeploymentService(deployments, { db, cache, feed }),
    mergeRuns,
    metrics,
    gitea,
    cluster,
  };

  return { config, log, shutdown, db, redis, metrics, cache, feed, deployments, mergeRuns, tasks, projects, agents, deliveries, queues, jobs, deliveryQueue, gitea, cluster, replies, recovery, jobDeps };
}

export type Core = Awaited<ReturnType<typeof buildCore>>;

/** What MCP tools are given, in the web role and in `aiworker mcp`. */
export function mcpDeps(core: Core, answers: McpDeps['answers']): McpDeps {
  const { tasks, projects, agents, jobs, replies, gitea, cluster, config, log } = core;
  return { tasks, projects, agents, jobs, replies, gitea, cluster, config, answers, log };
}

/** Wiring only: config -> dependencies -> roles -> shutdown. */
export async function startService(config: Config, overrides: ServiceOverrides = {}): Promise<Service> {
  const core = await buildCore(config, overrides);
  const { log, shutdown, db, redis, metrics, tasks, projects, agents, deliveries, queues, jobs, deliveryQueue, gitea, cluster, recovery, jobDeps } = core;

  let url: string;
  let routers: Router[];
  const checks = dependencyChecks({ db, redis, gitea, cluster });
  const health = healthRoutes({ checks, registry: metrics.registry, isShuttingDown: () => shutdown.inProgress });
  if (config.role === 'worker' || config.role === 'all') {
    const pool = new WorkerPool(JOBS, jobDeps, {
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      concurrency: { webhooks: config.webhookConcurrency, deploy: config.deployConcurrency, merge: 1, cleanup: 1, tasks: 4 },
      lockMs: config.jobLockMs,
    }, log, metrics);
    pool.start();
    shutdown.add('workers', () => pool.close());
    if (overrides.schedules !== false) {
      await scheduleRepeatables(queues, config, log);
      // Idempotent: a Redis that lost everything gets its schedules back within a minute.
      const reschedule = setInterval(() => void scheduleRepeatables(queues, config, log), overrides.rescheduleMs ?? 60_000);
      reschedule.unref();
      shutdown.add('schedules', () => clearInterval(reschedule));
    }
  }
  recovery.start();
  shutdown.add('recovery', () => recovery.stop());

  if (config.role === 'web' || config.role === 'all') {
    const answers = new AnswerWaiter({ redisUrl: config.redisUrl, prefix: config.redisPrefix, log });
    const access = createAccess({ config, db, permissions: jobDeps.permissions, projects, log });
    const publicRoutes: Router[] = [
      // The busiest route first: every router before it is matched against each delivery.
      webhookRoutes({ intake: new DeliveryIntake(deliveries, deliveryQueue), secrets: config.webhookSecrets, maxBytes: config.webhookMaxBytes, log, metrics }),
      // Agents authenticate with their own tokens, not API_TOKEN.
      mcpRoutes(mcpDeps(core, answers), { hosts: access.hosts }),
      health,
      boardRoutes({ signIn: config.signIn ? 'gitea' : 'feed-token', giteaUrl: config.gitea?.url ?? null, log }),
      ...access.publicRoutes,
    ];
    const apiRoutes: Router[] = [
      ...access.apiRoutes,
      projectRoutes({
        projects,
        webhooks: new WebhookRegistrar({ api: gitea, publicUrl: config.publicUrl, secret: config.webhookSecrets[0] ?? null, redis, redisPrefix: config.redisPrefix, log }),
      }),
      taskRoutes({ tasks, projects }),
      agentRoutes({ agents }),
      deliveryRoutes({ deliveries, queues, queue: deliveryQueue }),
      mergeRoutes({ tasks, projects, jobs, runs: core.mergeRuns }),
      deploymentRoutes({ deployments: core.deployments, projects }),
    ];
    // Public (the public routers come before the API router's token check): it holds no secret.
    publicRoutes.push(openApiRoutes(() => openApiDocument([...publicRoutes, ...apiRoutes], pkg.version)));
    routers = [...publicRoutes, ...apiRoutes];
    const app = createApp({ log, metrics, access, publicRoutes, apiRoutes });
    const server = http.createServer(app.callback());
    const liveFeed = attachFeed(server, { db, tasks, deployments: core.deployments, redisUrl: config.redisUrl, prefix: config.redisPrefix, gate: access.feed, log, metrics });
    url = await listen(server, config.port, shutdown, config.shutdownGraceMs / 2);
    shutdown.add('feed', () => liveFeed.close());
    // Closed before HTTP drains, so waiting check_response calls answer first.
    shutdown.add('mcp answers', () => answers.close());
    log.info({ url }, 'listening');
  } else {
    // A worker serves only its health and metrics, for probes and scrapes.
    routers = [health];
    const app = createApp({ log, metrics, access: null, publicRoutes: [health], apiRoutes: [] });
    url = await listen(http.createServer(app.callback()), config.port, shutdown, config.shutdownGraceMs / 2);
    log.info({ url }, 'worker health and metrics listening');
  }

  return {
    config,
    log,
    db,
    redis,
    metrics,
    tasks,
    projects,
    agents,
    deliveries,
    queues,
    jobs,
    recovery,
    deps: jobDeps,
    url,
    routers,
    shutdown,
    stop: () => shutdown.run(),
  };
}
