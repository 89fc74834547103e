import type http from 'node:http';
import type { Knex } from 'knex';
import { Server, type Socket } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { z } from 'zod';
import { createRedis } from '../redis.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { AppError, notFound } from '../errors.js';
import { handshakeRefusal, type FeedGate, type FeedViewer } from '../access/feed.js';
import { validate } from '../http/validate.js';
import type { TaskService } from '../tasks/service.js';
import type { DeploymentStore } from '../deployments/store.js';
import { replayEvents, type FeedEvent } from '../tasks/event-log.js';
import { feedChannel } from './publisher.js';
import { OrderedRelay, parseFeedMessage } from './relay.js';
import { readSnapshot, type FeedSnapshot } from './snapshot.js';
import { withCardFacts } from '../tasks/board.js';
import { listAgents } from '../agents/service.js';
import { ALL_ROOM, projectRoom, Subscription } from './subscription.js';

export interface FeedDeps {
  db: Knex;
  /** Serves `getTask`, which the board uses to refresh a card (PR links change without an event). */
  tasks: Pick<TaskService, 'find'>;
  deployments: Pick<DeploymentStore, 'list'>;
  redisUrl: string;
  prefix: string;
  /** Who may connect (FEED_TOKEN or a person's session, from one of our hosts) and what each sees. */
  gate: FeedGate;
  log: Logger;
  metrics: Metrics;
}

export interface Feed {
  io: Server;
  /** Stops taking clients, drops the connected ones (they reconnect elsewhere) and closes the Redis connections. */
  close(): Promise<void>;
}

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
    deps.gate.admit(socket.request, socket.handshake.auth).then(
      (viewer) => {
        socket.data.viewer = viewer;
        next();
      },
      (err: unknown) => {
        const why = handshakeRefusal(err) ?? ackError(err, log);
        log.debug({ address: socket.handshake.address }, `feed client refused: ${why.message}`);
        next(Object.assign(new Error(why.message), { data: { code: why.code } }));
      },
    );
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
      void getTask(socket.data.viewer as FeedViewer, input, ack);
    });
    // Agents' events carry no name: the board asks for the list when one it does not know appears.
    socket.on('getAgents', (...args: unknown[]) => {
      const [, ack] = splitAck(args);
      listAgents(db).then(
        (agents) => ack({ agents }),
        (err) => ack({ error: ackError(err, log) }),
      );
    });
  });

  async function subscribe(socket: Socket, input: unknown, ack: Ack): Promise<void> {
    let projectId: number | null;
    let since: number | undefined;
    let visible: Set<number> | null;
    try {
      const parsed = validate(subscribeInput, input ?? {}, 'subscribe');
      projectId = parsed.projectId ?? null;
      since = parsed.since;
      const viewer = socket.data.viewer as FeedViewer;
      if (projectId !== null) await deps.gate.requireProject(viewer, projectId);
      // "Every project" for a person is every project they can read, decided when they subscribe.
      visible = projectId === null ? await deps.gate.visibleProjects(viewer) : null;
    } catch (err) {
      ack({ error: ackError(err, log) });
      return;
    }
    const previous = subscriptions.get(socket.id);
    if (previous) {
      previous.close();
      await socket.leave(previous.room);
    }
    const sub = new Subscription(socket, projectId, visible);
    subscriptions.set(socket.id, sub);
    // Joined before the log is read: whatever commits after that read reaches the socket live.
    await socket.join(sub.room);
    try {
      await sub.catchUp(async () => {
        const { includedIds, ...board } = await readSnapshot(db, projectId, since, (event) => sub.deliver(event));
        for (const id of includedIds) if (since === undefined || id <= since) sub.remember(id);
        sub.advance(board.lastEventId);
        // Deployment rows change without feed events, so they need no view shared with lastEventId.
        const scope = projectId !== null ? { projectId } : visible ? { projectIds: [...visible] } : {};
        const { deployments } = await deps.deployments.list(scope, { limit: RECENT_DEPLOYMENTS, offset: 0 });
        const seen = <T>(list: T[], projectOf: (item: T) => number) => (visible ? list.filter((item) => visible.has(projectOf(item))) : list);
        const answer: FeedSnapshot = { ...board, tasks: seen(board.tasks, (t) => t.projectId), projects: seen(board.projects, (p) => p.id), deployments };
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

  async function getTask(viewer: FeedViewer, input: unknown, ack: Ack): Promise<void> {
    try {
      const { taskId } = validate(getTaskInput, input ?? {}, 'getTask');
      const task = await deps.tasks.find(taskId);
      if (!task) throw notFound(`task ${taskId}`);
      await deps.gate.requireProject(viewer, task.projectId);
      const [card] = await withCardFacts(db, [task], { taskId });
      ack({ task: card });
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
          await replayEvents(db, sub.projectId, sub.lastEventId, (e) => sub.deliver(e));
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
