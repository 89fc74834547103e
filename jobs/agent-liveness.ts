import type { Queues } from '../src/queue/queues.js';
import type { JobDefinition, JobDeps } from './types.js';

type Deps = Pick<JobDeps, 'agents' | 'config' | 'log' | 'tasks'>;

export const AGENT_LIVENESS = 'agent-liveness';
const ACTOR = 'aiworker';

/** Often enough that a lapse is noticed within a quarter of AGENT_TIMEOUT, but at most once every 5 s and at least once a minute. */
export const livenessEveryMs = (agentTimeoutMs: number) => Math.min(60_000, Math.max(5_000, Math.round(agentTimeoutMs / 4)));

/** Upserting keeps one schedule however many workers start. */
export async function scheduleAgentLiveness(queues: Queues, agentTimeoutMs: number): Promise<void> {
  await queues.get('tasks').upsertJobScheduler(
    AGENT_LIVENESS,
    { every: livenessEveryMs(agentTimeoutMs) },
    { name: AGENT_LIVENESS, data: {}, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
  );
}

export const agentLiveness: JobDefinition<Record<string, never>> = {
  queue: 'tasks',
  name: AGENT_LIVENESS,
  async process(job, deps: Deps) {
    const log = deps.log.child({ job: job.name, jobId: job.id });
    const timeoutMs = deps.config.agentTimeoutMs;
    const timeoutSeconds = Math.round(timeoutMs / 1000);
    const cutoff = new Date(Date.now() - timeoutMs);

    const released: number[] = [];
    for (const held of await deps.tasks.silentHolders(cutoff)) {
      if (await deps.tasks.releaseLapsed(held, cutoff, { actor: ACTOR, timeoutSeconds })) released.push(held.taskId);
    }

    const offline: number[] = [];
    for (const agent of await deps.agents.lapsed(timeoutMs)) {
      if (await deps.agents.markOfflineIfLapsed(agent.id, cutoff, ACTOR)) offline.push(agent.id);
    }
    if (released.length || offline.length) log.info({ released, offline, timeoutSeconds }, 'lapsed agents marked offline, their tasks released');
    return { released, offline };
  },
};
