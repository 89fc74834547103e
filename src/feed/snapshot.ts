import type { Knex } from 'knex';
import { notFound } from '../errors.js';
import { listAgents, type Agent } from '../agents/service.js';
import type { Deployment } from '../deployments/store.js';
import { boardTasks, withCardFacts } from '../tasks/board.js';
import type { BoardTask } from '../tasks/model.js';
import { recentEventIds, replayEvents, type FeedEvent } from '../tasks/event-log.js';
import { SEAM_WINDOW } from './subscription.js';

/**
 * The `subscribe` acknowledgement. `tasks` and `lastEventId` are SPEC §6 (each task with its
 * card's facts added); `agents`, `deployments` and `projects` (id, name, repo) are additions for
 * the board, which may hold the feed token but not API_TOKEN.
 */
export interface FeedSnapshot {
  tasks: BoardTask[];
  lastEventId: number;
  agents: Agent[];
  deployments: Deployment[];
  projects: ProjectSummary[];
}

export interface ProjectSummary {
  id: number;
  name: string;
  repo: string;
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
      const [tasks, agents, projects] = await Promise.all([
        boardTasks(trx, projectId).then((list) => withCardFacts(trx, list, { projectId })),
        listAgents(trx),
        trx('projects')
          .modify((q) => {
            if (projectId !== null) q.where('id', projectId);
          })
          .orderBy('id', 'asc')
          .select('id', 'name', 'repo') as Promise<ProjectSummary[]>,
      ]);
      if (since !== undefined && since < lastEventId) {
        await replayEvents(trx, projectId, since, onReplayed, lastEventId);
      }
      return { tasks, lastEventId, agents, projects, includedIds };
    },
    { isolationLevel: 'repeatable read' },
  );
}
