import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { createDatabaseIfMissing, createDb, migrate } from '../db/connect.js';
import { createRedis } from '../redis.js';
import { Cache } from '../cache.js';
import { RedisFeedPublisher } from '../feed/publisher.js';
import { TaskService } from '../tasks/service.js';
import { ProjectService } from '../projects/service.js';
import { AgentService } from '../agents/service.js';
import { Queues } from '../queue/queues.js';
import { JobScheduler } from '../queue/scheduler.js';
import { GiteaClient } from '../gitea/client.js';
import { Replier } from '../gitea/replies.js';
import { createKubeCluster } from '../k8s/cluster.js';
import { Shutdown } from '../lifecycle/shutdown.js';
import { AnswerWaiter, RedisAnswerNotifier } from './answers.js';
import { requireAgentToken, runStdio } from './stdio.js';
import type { McpDeps } from './server.js';

/**
 * The dependencies of a process that only serves MCP on stdio (`aiworker mcp`): the same services
 * as the web role, against the same MySQL and Redis, without HTTP, workers or recovery loops.
 */
async function startMcpDeps(config: Config, log: Logger, shutdown: Shutdown): Promise<McpDeps> {
  await createDatabaseIfMissing(config.databaseUrl);
  const db = createDb(config.databaseUrl);
  shutdown.add('mysql', () => db.destroy());
  await migrate(db);
  const redis = createRedis(config.redisUrl);
  redis.on('error', (err) => log.debug({ err: err.message }, 'redis connection error'));
  shutdown.add('redis', () => void redis.disconnect());
  const cache = new Cache(redis, config.redisPrefix, log);
  const feed = new RedisFeedPublisher(redis, config.redisPrefix, log);
  const queues = new Queues({ redisUrl: config.redisUrl, prefix: config.redisPrefix });
  shutdown.add('queues', () => queues.close());
  const answers = new AnswerWaiter({ redisUrl: config.redisUrl, prefix: config.redisPrefix, log });
  shutdown.add('answers', () => answers.close());
  const gitea = config.gitea ? new GiteaClient({ baseUrl: config.gitea.url, token: config.gitea.token, logger: log }) : null;
  return {
    tasks: new TaskService({ db, cache, feed, answers: new RedisAnswerNotifier(redis, config.redisPrefix, log) }),
    projects: new ProjectService({ db, cache }),
    agents: new AgentService({ db, cache, feed }),
    jobs: new JobScheduler(queues),
    replies: new Replier({ api: gitea, log }),
    gitea,
    cluster: config.kube
      ? createKubeCluster({ kubeconfigPath: config.kube.kubeconfigPath ?? undefined, inCluster: config.kube.inCluster, argocdNamespace: config.kube.argocdNamespace })
      : null,
    config,
    answers,
    log,
  };
}

/** `aiworker mcp`: serves the agent the token names until the client closes stdin or a signal arrives. */
export async function serveStdio(config: Config, token: string | undefined, log: Logger): Promise<void> {
  requireAgentToken(token);
  const shutdown = new Shutdown(log);
  shutdown.installSignalHandlers(config.shutdownGraceMs);
  try {
    await runStdio(await startMcpDeps(config, log, shutdown), token);
  } finally {
    await shutdown.run();
  }
}
