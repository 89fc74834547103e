import type { Knex } from 'knex';
import type { TaskWriter } from './writer.js';

export interface HeldTask {
  taskId: number;
  agentId: number;
}

/** in_progress tasks whose agent has been silent since the cutoff (or never spoke), whatever status it last reported. */
export async function silentHolders(db: Knex, cutoff: Date): Promise<HeldTask[]> {
  const rows = await db('tasks')
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
 * and the state machine has no needs_input → backlog. True when released.
 */
export function releaseLapsed(writer: TaskWriter, held: HeldTask, cutoff: Date, opts: { actor: string; timeoutSeconds: number }): Promise<boolean> {
  return writer.withTask(held.taskId, async (tx, row) => {
    if (row.state !== 'in_progress' || row.assigned_agent_id !== held.agentId) return false;
    const agent = await tx.trx('agents').where({ id: held.agentId }).forUpdate().first('name', 'last_seen_at');
    if (!agent || (agent.last_seen_at !== null && new Date(agent.last_seen_at) >= cutoff)) return false;
    const lastSeen = agent.last_seen_at ? `last seen ${new Date(agent.last_seen_at).toISOString()}` : 'never seen';
    await writer.apply(tx, row, 'backlog', {
      source: 'system',
      actor: opts.actor,
      reason: `agent ${agent.name} (${held.agentId}) silent for more than ${opts.timeoutSeconds} s (${lastSeen}): liveness lapsed, task released`,
    });
    return true;
  });
}
