import type { Queues } from '../src/queue/queues.js';
import type { JobDefinition, JobDeps } from './types.js';

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

interface HeldTask {
  taskId: number;
  agentId: number;
}

/** in_progress tasks whose agent has been silent since the cutoff (or never spoke), whatever status it last reported. */
async function silentHolders(deps: JobDeps, cutoff: Date): Promise<HeldTask[]> {
  const rows = await deps.db('tasks')
    .join('agents', 'agents.id', 'tasks.assigned_agent_id')
    .where('tasks.state', 'in_progress')
    .andWhere((q) => q.where('agents.last_seen_at', '<', cutoff).orWhereNull('agents.last_seen_at'))
    .orderBy('tasks.id')
    .select({ taskId: 'tasks.id', agentId: 'agents.id' });
  return rows.map((r: HeldTask) => ({ taskId: Number(r.taskId), agentId: Number(r.agentId) }));
}

/**
 * SPEC §2: "in_progress → backlog: the agent's liveness lapsed". Each release re-checks, with the
 * task and the agent locked, that the agent is still silent and still holds the task, so an agent
 * that calls in at the last moment keeps its work. needs_input tasks stay: they wait on a person,
 * and the state machine has no needs_input → backlog.
 */
async function releaseTask(deps: JobDeps, held: HeldTask, cutoff: Date, timeoutSeconds: number): Promise<boolean> {
  return deps.tasks.withTask(held.taskId, async (tx, row) => {
    if (row.state !== 'in_progress' || row.assigned_agent_id !== held.agentId) return false;
    const agent = await tx.trx('agents').where({ id: held.agentId }).forUpdate().first('name', 'last_seen_at');
    if (!agent || (agent.last_seen_at !== null && new Date(agent.last_seen_at) >= cutoff)) return false;
    const lastSeen = agent.last_seen_at ? `last seen ${new Date(agent.last_seen_at).toISOString()}` : 'never seen';
    await deps.tasks.applyTransition(tx, row, 'backlog', {
      source: 'system',
      actor: ACTOR,
      reason: `agent ${agent.name} (${held.agentId}) silent for more than ${timeoutSeconds} s (${lastSeen}): liveness lapsed, task released`,
    });
    return true;
  });
}

export const agentLiveness: JobDefinition<Record<string, never>> = {
  queue: 'tasks',
  name: AGENT_LIVENESS,
  async process(job, deps) {
    const log = deps.log.child({ job: job.name, jobId: job.id });
    const timeoutMs = deps.config.agentTimeoutMs;
    const timeoutSeconds = Math.round(timeoutMs / 1000);
    const cutoff = new Date(Date.now() - timeoutMs);

    const released: number[] = [];
    for (const held of await silentHolders(deps, cutoff)) {
      if (await releaseTask(deps, held, cutoff, timeoutSeconds)) released.push(held.taskId);
    }

    const offline: number[] = [];
    for (const agent of await deps.agents.lapsed(timeoutMs)) {
      if (await deps.agents.markOfflineIfLapsed(agent.id, cutoff, ACTOR)) offline.push(agent.id);
    }
    if (released.length || offline.length) log.info({ released, offline, timeoutSeconds }, 'lapsed agents marked offline, their tasks released');
    return { released, offline };
  },
};
