import type { Redis } from '../redis.js';
import type { Logger } from '../log.js';
import type { FeedEvent } from './events.js';

export interface FeedPublisher {
  publish(events: FeedEvent[]): Promise<void>;
}

export const feedChannel = (prefix: string) => `${prefix}:feed`;

/**
 * Events travel from any process (web or worker) to every web process over Redis pub/sub.
 * They are already durable in task_events, so a lost message is recovered by a client's replay.
 */
export class RedisFeedPublisher implements FeedPublisher {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  async publish(events: FeedEvent[]): Promise<void> {
    for (const event of events) {
      try {
        await this.redis.publish(feedChannel(this.prefix), JSON.stringify(event));
      } catch (err) {
        this.log.warn({ err, eventId: event.eventId }, 'feed publish failed; clients recover it by replay');
      }
    }
  }
}
