import type { EventPublisher, FeedEvent } from './event-log.js';
import type { Logger } from '../log.js';

/** Queues the `tasks` job that tells agents a task is waiting (the job scheduler). */
export interface TaskAnnouncements {
  announceTask(taskId: number, eventId: number): Promise<void>;
}

/** A task entering the backlog: created (REST, a labelled issue), reopened, handed back or released. */
export function enteredBacklog(event: FeedEvent): boolean {
  if (event.taskId === null) return false;
  return event.type === 'task:created' || (event.type === 'task:status_changed' && event.payload.newState === 'backlog');
}

/**
 * Tells agents a task is waiting, whatever put it in the backlog: every committed event that does
 * is followed by a `tasks` job (one per event). Agents also find tasks by calling get_next_task,
 * so an announcement that cannot be queued is logged, not retried.
 */
export class BacklogAnnouncer implements EventPublisher {
  constructor(
    private readonly inner: EventPublisher,
    private readonly jobs: TaskAnnouncements,
    private readonly log: Logger,
  ) {}

  async publish(events: FeedEvent[]): Promise<void> {
    await this.inner.publish(events);
    for (const event of events.filter(enteredBacklog)) {
      await this.jobs.announceTask(event.taskId!, event.eventId).catch((err) =>
        this.log.warn({ err: (err as Error).message, taskId: event.taskId }, 'task announcement not queued; agents still find it by get_next_task'),
      );
    }
  }
}
