import type { Redis } from '../redis.js';
import type { Logger } from '../log.js';
import type { EventPublisher, FeedEvent } from '../tasks/event-log.js';

export const feedChannel = (prefix: string) => `${prefix}:feed`;

/**
 * Events travel from any process (web or worker) to every web process over Redis pub/sub.
 * They are already durable in task_events, so a lost message is recovered by a client's replay.
 */
export class RedisFeedPublisher implements EventPublisher {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  async publish(events: FeedEvent[]): Promise<void> {
    // One round trip for a commit's events; a pipeline keeps their order.
    const pipeline = this.redis.pipeline();
    for (const event of events) pipeline.publish(feedChannel(this.prefix), JSON.stringify(event));
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.filter(([err]) => err).length;
      if (failed) this.log.warn({ failed, eventIds: events.map((e) => e.eventId) }, 'feed publish failed; clients recover it by replay');
    } catch (err) {
      this.log.warn({ err, eventIds: events.map((e) => e.eventId) }, 'feed publish failed; clients recover it by replay');
    }
  }
}
