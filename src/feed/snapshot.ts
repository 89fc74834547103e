import type { Knex } from 'knex';
import { notFound } from '../errors.js';
import { listAgents, type Agent } from '../agents/service.js';
import type { Deployment } from '../deployments/store.js';
import { boardTasks } from '../tasks/board.js';
import type { Task } from '../tasks/model.js';
import { recentEventIds, replayEvents, type FeedEvent } from '../tasks/event-log.js';
import { SEAM_WINDOW } from './subscription.js';

/**
 * The `subscribe` acknowledgement. `tasks` and `lastEventId` are SPEC §6; `agents` and
 * `deployments` are additions for the dashboard, which holds the feed token but not API_TOKEN.
 */
export interface FeedSnapshot {
  tasks: Task[];
  lastEventId: number;
  agents: Agent[];
  deployments: Deployment[];
}

export interface Snapshot extends Omit<FeedSnapshot, 'deployments'> {
  /** The newest event ids the snapshot includes, oldest first. */
  includedIds: number[];
}

/**
 * Reads the board and its lastEventId in one REPEATABLE READ transaction, so both come from the
 * same view: the tasks reflect exactly the events the view holds, lastEventId is the newest of
 * them, and with `since` the events (since, lastEventId] are replayed from that same view.
 * Event ids follow commit order (event_sequence), so every event up to lastEventId is in the view.
 * Tasks are read here rather than through TaskService.list, whose cache is refreshed only after
 * a commit and so could show a board older than lastEventId.
 */
export async function readSnapshot(db: Knex, projectId: number | null, since: number | undefined, onReplayed: (e: FeedEvent) => void): Promise<Snapshot> {
  return db.transaction(
    async (trx) => {
      if (projectId !== null && !(await trx('projects').where({ id: projectId }).first('id'))) {
        throw notFound(`project ${projectId}`);
      }
      const includedIds = await recentEventIds(trx, projectId, SEAM_WINDOW);
      const lastEventId = includedIds.at(-1) ?? 0;
      const [tasks, agents] = await Promise.all([boardTasks(trx, projectId), listAgents(trx)]);
      if (since !== undefined && since < lastEventId) {
        await replayEvents(trx, projectId, since, onReplayed, lastEventId);
      }
      return { tasks, lastEventId, agents, includedIds };
    },
    { isolationLevel: 'repeatable read' },
  );
}
