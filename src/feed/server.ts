import type http from 'node:http';
import type { Knex } from 'knex';
import { Server, type Socket } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { z } from 'zod';
import { createRedis } from '../redis.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { AppError, notFound } from '../errors.js';
import { safeEqual } from '../http/auth.js';
import { validate } from '../http/validate.js';
import type { TaskService } from '../tasks/service.js';
import { AGENT_COLUMNS, toAgent, type Agent } from '../agents/service.js';
import type { Deployment, DeploymentStore } from '../deployments/store.js';
import { toTask, type Task, type TaskRow } from '../tasks/model.js';
import { FEED_EVENT_TYPES, toFeedEvent, wireEvent, type EventRow, type FeedEvent } from './events.js';
import { feedChannel } from './publisher.js';

export interface FeedDeps {
  db: Knex;
  /** Serves `getTask`, which the dashboard uses to refresh a card (PR links change without an event). */
  tasks: TaskService;
  deployments: DeploymentStore;
  redisUrl: string;
  prefix: string;
  feedToken: string | null;
  log: Logger;
  metrics: Metrics;
}

export interface Feed {
  io: Server;
  /** Stops taking clients, drops the connected ones (they reconnect elsewhere) and closes the Redis connections. */
  close(): Promise<void>;
}

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

export const ALL_ROOM = 'all';
export const projectRoom = (projectId: number) => `project:${projectId}`;

/** Ids a socket remembers, so an event that reaches it both from the log and live is sent once. */
const SEAM_WINDOW = 1000;
const REPLAY_PAGE = 500;
const RECENT_DEPLOYMENTS = 20;

const subscribeInput = z
  .object({
    projectId: z.number().int().positive().optional(),
    since: z.number().int().min(0).optional(),
  })
  .strict();

const getTaskInput = z.object({ taskId: z.number().int().positive() }).strict();

type Ack = (answer: unknown) => void;

/**
 * Socket.IO on the service's own HTTP server (SPEC §6).
 *
 * Delivery: every web process subscribes to the Redis channel the publisher writes to and hands
 * each event to its own sockets only (socket.emit, never a broadcast through the adapter), so
 * with N replicas each client still gets each event once. The Redis adapter is installed so
 * that server-side broadcasts and fetchSockets() see every replica's clients.
 */
export function attachFeed(server: http.Server, deps: FeedDeps): Feed {
  const { db, log, metrics } = deps;
  const adapterPub = createRedis(deps.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: null, connectionName: `${deps.prefix}:feed-adapter-pub` });
  const adapterSub = createRedis(deps.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: null, connectionName: `${deps.prefix}:feed-adapter-sub` });
  // Resubscribed by hand on every connect, so a catch-up can follow once the channel is live again.
  const feedSub = createRedis(deps.redisUrl, { autoResubscribe: false, connectionName: `${deps.prefix}:feed` });
  for (const conn of [adapterPub, adapterSub, feedSub]) {
    conn.on('error', (err) => log.debug({ err: err.message }, 'feed redis connection error'));
  }

  const io = new Server(server, {
    serveClient: true,
    adapter: createAdapter(adapterPub, adapterSub, { key: `${deps.prefix}:socket.io` }),
  });
  const subscriptions = new Map<string, Subscription>();
  let closing = false;

  io.use((socket, next) => {
    const why = refusal(deps.feedToken, socket.handshake.auth?.token);
    if (!why) return next();
    log.debug({ address: socket.handshake.address }, `feed client refused: ${why}`);
    next(Object.assign(new Error(why), { data: { code: 'unauthorized' } }));
  });

  io.on('connection', (socket) => {
    if (closing) {
      // A transport close, unlike a server disconnect, makes the client retry (on another replica).
      socket.conn.close();
      return;
    }
    metrics.feedClients.inc();
    socket.on('disconnect', () => {
      metrics.feedClients.dec();
      subscriptions.get(socket.id)?.close();
      subscriptions.delete(socket.id);
    });
    socket.on('subscribe', (...args: unknown[]) => {
      const [input, ack] = splitAck(args);
      void subscribe(socket, input, ack);
    });
    socket.on('getTask', (...args: unknown[]) => {
      const [input, ack] = splitAck(args);
      void getTask(input, ack);
    });
  });

  async function subscribe(socket: Socket, input: unknown, ack: Ack): Promise<void> {
    let projectId: number | null;
    let since: number | undefined;
    try {
      const parsed = validate(subscribeInput, input ?? {}, 'subscribe');
      projectId = parsed.projectId ?? null;
      since = parsed.since;
    } catch (err) {
      ack({ error: ackError(err, log) });
      return;
    }
    const previous = subscriptions.get(socket.id);
    if (previous) {
      previous.close();
      await socket.leave(previous.room);
    }
    const sub = new Subscription(socket, projectId);
    subscriptions.set(socket.id, sub);
    // Joined before the log is read: whatever commits after that read reaches the socket live.
    await socket.join(sub.room);
    try {
      await sub.catchUp(async () => {
        const snapshot = await readSnapshot(db, projectId, since, (event) => sub.deliver(event));
        for (const id of snapshot.includedIds) if (since === undefined || id <= since) sub.remember(id);
        sub.advance(snapshot.lastEventId);
        // Deployment rows change without feed events, so they need no view shared with lastEventId.
        const { deployments } = await deps.deployments.list(projectId === null ? {} : { projectId }, { limit: RECENT_DEPLOYMENTS, offset: 0 });
        const answer: FeedSnapshot = { tasks: snapshot.tasks, lastEventId: snapshot.lastEventId, agents: snapshot.agents, deployments };
        ack(answer);
      });
    } catch (err) {
      sub.close();
      // A newer subscribe on this socket may have taken over (maybe the same room): leave only our own.
      if (subscriptions.get(socket.id) === sub) {
        subscriptions.delete(socket.id);
        await socket.leave(sub.room);
      }
      ack({ error: ackError(err, log) });
    }
  }

  async function getTask(input: unknown, ack: Ack): Promise<void> {
    try {
      const { taskId } = validate(getTaskInput, input ?? {}, 'getTask');
      const task = await deps.tasks.find(taskId);
      if (!task) throw notFound(`task ${taskId}`);
      ack({ task });
    } catch (err) {
      ack({ error: ackError(err, log) });
    }
  }

  /** A live event to the local sockets whose room it belongs to; events about no project go to every board. */
  function route(event: FeedEvent): void {
    if (event.projectId === null) {
      for (const sub of subscriptions.values()) sub.offer(event);
      return;
    }
    const rooms = io.of('/').adapter.rooms;
    for (const room of [projectRoom(event.projectId), ALL_ROOM]) {
      for (const socketId of rooms.get(room) ?? []) subscriptions.get(socketId)?.offer(event);
    }
  }

  const relay = new OrderedRelay(db, route, log);
  feedSub.on('message', (channel: string, message: string) => {
    const event = parseFeedMessage(message);
    if (event) relay.push(event);
    else log.warn({ channel }, 'feed message dropped: not a feed event');
  });
  feedSub.on('ready', () => {
    const heard = feedSub.subscribe(feedChannel(deps.prefix)).then(() => relay.reset());
    heard.catch((err) => log.warn({ err: err.message }, 'feed channel subscribe failed; retried on reconnect'));
    // Events published while the channel was not heard are in the log: every socket reads what it
    // missed. Its catch-up starts now, so live events that arrive meanwhile are held, not sent ahead.
    for (const sub of subscriptions.values()) {
      sub
        .catchUp(async () => {
          await heard;
          await replay(db, sub.projectId, sub.lastEventId, (e) => sub.deliver(e));
        })
        .catch((err) => log.warn({ err }, 'feed catch-up failed'));
    }
  });

  return {
    io,
    async close() {
      closing = true;
      for (const sub of subscriptions.values()) sub.close();
      subscriptions.clear();
      // Not io.close(): it would also close the HTTP server, which the 'http' shutdown step owns.
      io.engine.close();
      io.of('/').adapter.close();
      // quit() refuses a connection that is not up yet (no offline queue); disconnect() also stops its reconnecting.
      await Promise.allSettled([feedSub, adapterSub, adapterPub].map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}

/**
 * Publishes can overtake each other on their way here (two processes commit 11 then 12, and 12's
 * PUBLISH lands first), but ids are handed out in commit order (event_sequence), so when 12 arrives
 * every event below it that will ever exist is committed: the gap is read from the log and sent
 * first, and the late 11 is dropped. Every socket thus gets live events in eventId order.
 */
class OrderedRelay {
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
      const [row] = await this.db('task_events').max({ id: 'id' });
      this.last = Number(row?.id ?? 0);
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
        const rows = await this.db<EventRow>('task_events').where('id', '>', this.last).andWhere('id', '<', event.eventId).orderBy('id', 'asc');
        for (const row of rows as EventRow[]) this.send(toFeedEvent(row));
      } catch (err) {
        this.log.warn({ err, from: this.last, to: event.eventId }, 'feed gap not filled; clients recover it by replay');
      }
    }
    this.last = event.eventId;
    this.send(event);
  }
}

/** Why a handshake is refused, or null; the feed fails closed when FEED_TOKEN is not configured. */
function refusal(feedToken: string | null, token: unknown): string | null {
  if (!feedToken) return 'the feed is disabled: FEED_TOKEN is not configured on the server';
  if (typeof token !== 'string' || token === '') return 'missing feed token: connect with auth: {token: FEED_TOKEN}';
  if (!safeEqual(token, feedToken)) return 'invalid feed token';
  return null;
}

/** Socket.IO passes the ack callback as the last argument; a client may also send none. */
function splitAck(args: unknown[]): [unknown, Ack] {
  const last = args.at(-1);
  if (typeof last === 'function') return [args.length > 1 ? args[0] : undefined, last as Ack];
  return [args[0], () => {}];
}

function ackError(err: unknown, log: Logger): { code: string; message: string } {
  if (err instanceof AppError) return { code: err.code, message: err.message };
  log.error({ err }, 'feed request failed');
  return { code: 'internal', message: 'internal error' };
}

function parseFeedMessage(message: string): FeedEvent | null {
  try {
    const event = JSON.parse(message) as FeedEvent;
    const known = (FEED_EVENT_TYPES as readonly string[]).includes(event.type);
    return known && Number.isInteger(event.eventId) && event.eventId > 0 ? event : null;
  } catch {
    return null;
  }
}

/**
 * One socket's subscription. While it reads the log (snapshot, replay, catch-up), live events are
 * held; afterwards they are released in eventId order, skipping any it already sent or that its
 * snapshot includes, so the seam between log and live stream has no gap and no duplicate.
 */
class Subscription {
  private live = false;
  private closed = false;
  private readonly held: FeedEvent[] = [];
  /** Insertion-ordered, so the oldest ids are forgotten first. */
  private readonly known = new Set<number>();
  private runs: Promise<void> = Promise.resolve();
  lastEventId = 0;

  constructor(
    private readonly socket: Socket,
    readonly projectId: number | null,
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

/** A project's board also shows events about no project (an agent going idle); without a project, everything. */
function inScope(projectId: number | null) {
  return (q: Knex.QueryBuilder) => {
    if (projectId !== null) q.where((w) => w.where('project_id', projectId).orWhereNull('project_id'));
  };
}

async function eventsPage(db: Knex, projectId: number | null, after: number, upTo?: number): Promise<FeedEvent[]> {
  const rows = await db<EventRow>('task_events')
    .modify(inScope(projectId))
    .where('id', '>', after)
    .modify((q) => {
      if (upTo !== undefined) q.andWhere('id', '<=', upTo);
    })
    .orderBy('id', 'asc')
    .limit(REPLAY_PAGE);
  return (rows as EventRow[]).map(toFeedEvent);
}

/** Every event in scope after `after` (up to `upTo`), in order, a page at a time. */
async function replay(db: Knex, projectId: number | null, after: number, onEvent: (e: FeedEvent) => void, upTo?: number): Promise<void> {
  let cursor = after;
  for (;;) {
    const page = await eventsPage(db, projectId, cursor, upTo);
    page.forEach(onEvent);
    if (page.length < REPLAY_PAGE) return;
    cursor = page[page.length - 1].eventId;
  }
}

interface Snapshot extends Omit<FeedSnapshot, 'deployments'> {
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
async function readSnapshot(db: Knex, projectId: number | null, since: number | undefined, onReplayed: (e: FeedEvent) => void): Promise<Snapshot> {
  return db.transaction(
    async (trx) => {
      if (projectId !== null && !(await trx('projects').where({ id: projectId }).first('id'))) {
        throw notFound(`project ${projectId}`);
      }
      const recent = (await trx('task_events').modify(inScope(projectId)).orderBy('id', 'desc').limit(SEAM_WINDOW).pluck('id')) as Array<number | string>;
      const includedIds = recent.map(Number).reverse();
      const lastEventId = includedIds.at(-1) ?? 0;
      const [taskRows, agentRows] = await Promise.all([
        trx<TaskRow>('tasks')
          .modify((q) => {
            if (projectId !== null) q.where('project_id', projectId);
          })
          .orderBy('id', 'asc'),
        trx('agents').select(...AGENT_COLUMNS).orderBy('id', 'asc'),
      ]);
      if (since !== undefined && since < lastEventId) {
        await replay(trx, projectId, since, onReplayed, lastEventId);
      }
      return {
        tasks: (taskRows as TaskRow[]).map(toTask),
        lastEventId,
        agents: agentRows.map(toAgent),
        includedIds,
      };
    },
    { isolationLevel: 'repeatable read' },
  );
}

