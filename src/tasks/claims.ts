import { gens } from '../cache.js';
import { Coalescer } from '../coalescer.js';
import { TransitionError } from '../errors.js';
import { unitOfWork, type Tx, type UnitOfWorkDeps } from './unit-of-work.js';
import { agentStatusEvent } from '../agents/service.js';
import type { NewEvent } from './event-log.js';
import { refusal } from './states.js';
import { toTask, type Task, type TaskRow } from './model.js';
import { statePatch } from './writer.js';

export interface ClaimRequest {
  agentId: number;
  actor: string;
  projectId?: number;
}

/** Claims sharing one transaction at most; each one is two event rows and a CASE branch per row. */
const MAX_BATCH = 50;
/** Claim transactions of one process in flight at once: one stores while the next is prepared. */
const MAX_IN_FLIGHT = 2;

/** A claim transaction MySQL chose as a deadlock victim is made again, this many times at most. */
const MAX_ATTEMPTS = 3;

/** `CASE id WHEN ? THEN ? … END`: a value per row in one UPDATE. */
function caseById(tx: Tx, pairs: Array<[number, number]>) {
  return tx.trx.raw(`CASE id ${pairs.map(() => 'WHEN ? THEN ?').join(' ')} END`, pairs.flat());
}

/**
 * Hands out backlog tasks to agents. Claims that arrive together share one transaction (group
 * commit): it locks the oldest backlog rows with FOR UPDATE SKIP LOCKED, on the (state, id) and
 * (project_id, state, id) indexes, so concurrent transactions here or in other replicas skip rows
 * another holds and a task is never handed out twice. Each claimed task moves to in_progress,
 * assigned to its agent, and the agent is recorded busy on it (with its sign of life), in the same
 * transaction and with the same events as one claim at a time would write.
 */
export class TaskClaims {
  private readonly coalescer: Coalescer<ClaimRequest, Task | null>;

  constructor(private readonly uow: UnitOfWorkDeps) {
    this.coalescer = new Coalescer((requests) => this.claimAll(requests), { maxInFlight: MAX_IN_FLIGHT, maxBatch: MAX_BATCH });
  }

  /** The oldest backlog task (of the project, if given), now the agent's; null when none is waiting. */
  claim(request: ClaimRequest): Promise<Task | null> {
    return this.coalescer.submit(request);
  }

  /**
   * One transaction per project filter and round; a round holds at most one claim of each agent, so
   * an agent calling twice at once gets two tasks and ends up busy on the later one.
   */
  private async claimAll(requests: ClaimRequest[]): Promise<Array<Task | null>> {
    const results = new Array<Task | null>(requests.length).fill(null);
    const pending = requests.map((request, index) => ({ request, index }));
    while (pending.length) {
      const groups = new Map<string, typeof pending>();
      const agentsInRound = new Set<number>();
      for (let i = 0; i < pending.length; ) {
        const { request } = pending[i];
        if (agentsInRound.has(request.agentId)) {
          i++;
          continue;
        }
        agentsInRound.add(request.agentId);
        const key = String(request.projectId ?? '*');
        groups.set(key, [...(groups.get(key) ?? []), ...pending.splice(i, 1)]);
      }
      for (const group of groups.values()) {
        const tasks = await this.claimGroup(group.map((g) => g.request));
        group.forEach((g, i) => (results[g.index] = tasks[i]));
      }
    }
    return results;
  }

  /** Claims for distinct agents with the same project filter, in one transaction; null where the backlog ran out. */
  private async claimGroup(requests: ClaimRequest[]): Promise<Array<Task | null>> {
    const projectId = requests[0].projectId;
    const claim = () => unitOfWork(this.uow, async (tx) => {
      const q = tx.trx<TaskRow>('tasks').where('state', 'backlog');
      if (projectId !== undefined) q.andWhere('project_id', projectId);
      const rows: TaskRow[] = await q.orderBy('id', 'asc').limit(requests.length).forUpdate().skipLocked();
      if (!rows.length) return requests.map(() => null);
      const now = new Date();
      const claimed = rows.map((row, i) => ({ row, request: requests[i] }));
      for (const { row } of claimed) {
        const why = refusal(row.state, 'in_progress', { source: 'agent', via: 'claim' });
        if (why) throw new TransitionError(row.id, row.state, 'in_progress', `task ${row.id}: ${why}`);
      }
      // Every row taken is in backlog (the WHERE above), so the columns entering in_progress sets are the same for all.
      const entering = statePatch('backlog', 'in_progress');
      const taskIds = claimed.map((c) => c.row.id);
      const agentIds = claimed.map((c) => c.request.agentId);
      await tx.trx('tasks')
        .whereIn('id', taskIds)
        .update({ ...entering, state: 'in_progress', updated_at: now, assigned_agent_id: caseById(tx, claimed.map((c) => [c.row.id, c.request.agentId])) });
      await tx.trx('agents')
        .whereIn('id', agentIds)
        .update({ status: 'busy', last_seen_at: now, current_task_id: caseById(tx, claimed.map((c) => [c.request.agentId, c.row.id])) });
      const events: NewEvent[] = claimed.flatMap(({ row, request }) => [
        {
          type: 'task:status_changed' as const,
          projectId: row.project_id,
          taskId: row.id,
          from: row.state,
          to: 'in_progress',
          actor: request.actor,
          reason: 'claimed by an agent',
          payload: { taskId: row.id, oldState: row.state, newState: 'in_progress' },
        },
        agentStatusEvent(request.agentId, 'busy', row.id, row.project_id, request.actor),
      ]);
      await tx.emitAll(events);
      for (const { row } of claimed) tx.touch(gens.task(row.id), gens.taskList(row.project_id));
      tx.touch(gens.agents());
      return requests.map((_, i) =>
        claimed[i] ? toTask({ ...claimed[i].row, ...entering, state: 'in_progress', assigned_agent_id: claimed[i].request.agentId, updated_at: now }) : null,
      );
    }, { isolationLevel: 'read committed' });
    // Read committed: the locks are the rows taken, no gaps, so claims in other transactions and
    // replicas do not deadlock on the index ranges they scan; a deadlock MySQL still reports rolled
    // everything back, and the claim is simply made again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await claim();
      } catch (err) {
        if ((err as { code?: string }).code !== 'ER_LOCK_DEADLOCK' || attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  }
}
