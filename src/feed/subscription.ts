import type { Socket } from 'socket.io';
import type { FeedEvent } from '../tasks/event-log.js';

export const ALL_ROOM = 'all';
export const projectRoom = (projectId: number) => `project:${projectId}`;

/** Ids a socket remembers, so an event that reaches it both from the log and live is sent once. */
export const SEAM_WINDOW = 1000;

/** The wire form: `{eventId, projectId, at, ...payload}` under the event's name. */
export function wireEvent(event: FeedEvent): Record<string, unknown> {
  return { ...event.payload, eventId: event.eventId, projectId: event.projectId, at: event.at };
}

/**
 * One socket's subscription. While it reads the log (snapshot, replay, catch-up), live events are
 * held; afterwards they are released in eventId order, skipping any it already sent or that its
 * snapshot includes, so the seam between log and live stream has no gap and no duplicate.
 */
export class Subscription {
  private live = false;
  private closed = false;
  private readonly held: FeedEvent[] = [];
  /** Insertion-ordered, so the oldest ids are forgotten first. */
  private readonly known = new Set<number>();
  private runs: Promise<void> = Promise.resolve();
  lastEventId = 0;

  /** `visible`: the only projects whose events this socket gets (a person's readable ones); null for all. */
  constructor(
    private readonly socket: Socket,
    readonly projectId: number | null,
    private readonly visible: ReadonlySet<number> | null = null,
  ) {}

  get room(): string {
    return this.projectId === null ? ALL_ROOM : projectRoom(this.projectId);
  }

  offer(event: FeedEvent): void {
    if (this.closed) return;
    if (this.live) this.deliver(event);
    else this.held.push(event);
  }

  deliver(event: FeedEvent): void {
    if (this.closed || this.known.has(event.eventId)) return;
    // Events about no project (agents) reach every board; the others only those allowed to see them.
    if (this.visible && event.projectId !== null && !this.visible.has(event.projectId)) return;
    this.remember(event.eventId);
    this.socket.emit(event.type, wireEvent(event));
  }

  /** Marks an event the client already has. */
  remember(eventId: number): void {
    this.known.add(eventId);
    if (this.known.size > SEAM_WINDOW) this.known.delete(this.known.values().next().value!);
    this.advance(eventId);
  }

  advance(eventId: number): void {
    this.lastEventId = Math.max(this.lastEventId, eventId);
  }

  /** Reads from the log with live events held back; reads of one socket never overlap. */
  catchUp(read: () => Promise<void>): Promise<void> {
    const run = this.runs.then(async () => {
      if (this.closed) return;
      this.live = false;
      try {
        await read();
      } finally {
        this.release();
      }
    });
    this.runs = run.catch(() => {});
    return run;
  }

  close(): void {
    this.closed = true;
    this.held.length = 0;
  }

  private release(): void {
    this.live = true;
    for (const event of this.held.splice(0).sort((a, b) => a.eventId - b.eventId)) this.deliver(event);
  }
}
