import type { Knex } from 'knex';
import type { Logger } from '../log.js';
import { eventsBetween, FEED_EVENT_TYPES, newestEventId, type FeedEvent } from '../tasks/event-log.js';

/**
 * Publishes can overtake each other on their way here (two processes commit 11 then 12, and 12's
 * PUBLISH lands first), but ids are handed out in commit order (event_sequence), so when 12 arrives
 * every event below it that will ever exist is committed: the gap is read from the log and sent
 * first, and the late 11 is dropped. Every socket thus gets live events in eventId order.
 */
export class OrderedRelay {
  private last: number | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Knex,
    private readonly send: (event: FeedEvent) => void,
    private readonly log: Logger,
  ) {}

  push(event: FeedEvent): void {
    this.chain = this.chain.then(() => this.relay(event)).catch((err) => this.log.warn({ err }, 'feed relay failed'));
  }

  /**
   * When the channel is (again) heard: everything up to the log's newest id is committed, so its
   * late publishes are dropped here; sockets read those from the log afterwards (catch-up).
   */
  reset(): Promise<void> {
    const done = this.chain.then(async () => {
      this.last = await newestEventId(this.db);
    });
    this.chain = done.catch((err) => {
      this.last = null;
      this.log.warn({ err }, 'feed relay could not read the newest event id');
    });
    return this.chain;
  }

  private async relay(event: FeedEvent): Promise<void> {
    if (this.last !== null && event.eventId <= this.last) return;
    if (this.last !== null && event.eventId > this.last + 1) {
      try {
        for (const missed of await eventsBetween(this.db, this.last, event.eventId)) this.send(missed);
      } catch (err) {
        this.log.warn({ err, from: this.last, to: event.eventId }, 'feed gap not filled; clients recover it by replay');
      }
    }
    this.last = event.eventId;
    this.send(event);
  }
}

/** A message of the feed channel, or null when it is not a feed event. */
export function parseFeedMessage(message: string): FeedEvent | null {
  try {
    const event = JSON.parse(message) as FeedEvent;
    const known = (FEED_EVENT_TYPES as readonly string[]).includes(event.type);
    return known && Number.isInteger(event.eventId) && event.eventId > 0 ? event : null;
  } catch {
    return null;
  }
}
