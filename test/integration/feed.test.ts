import { expect } from 'chai';
import { Redis } from 'ioredis';
import { appendEvent, eventsAfter } from '../../src/tasks/event-log.js';
import {
  createProject,
  createTask,
  dropTestState,
  eventually,
  moveTask,
  REDIS_URL,
  startTestService,
  TEST_FEED_TOKEN,
  uniqueName,
  type TestService,
} from '../support/service.js';
import { connectFeed, refusedWith as refusedFeed, type FeedClient as Client } from '../support/feed-client.js';

/** A feed client with the feed token (or another token). */
const connect = (url: string, token: string = TEST_FEED_TOKEN): Promise<Client> => connectFeed(url, { auth: { token } });

/** The message a refused handshake gets. */
const refusedWith = (url: string, auth: Record<string, unknown> | undefined): Promise<string> => refusedFeed(url, { auth });

const subscribe = (c: Client, input?: Record<string, unknown>): Promise<any> =>
  input === undefined ? c.socket.timeout(10_000).emitWithAck('subscribe') : c.socket.timeout(10_000).emitWithAck('subscribe', input);

/** What the log holds for a project after an event id: the feed must deliver exactly this. */
async function logAfter(svc: TestService, afterId: number, projectId: number): Promise<number[]> {
  return (await eventsAfter(svc.db, afterId, projectId, 10_000)).map((e) => e.eventId);
}

/** Subscribes and notes the events that came before the ack (the replay), read as the ack arrives. */
function subscribeNotingReplay(c: Client, input: Record<string, unknown>): Promise<{ ack: any; replayed: number[] }> {
  return new Promise((resolve, reject) => {
    c.socket.timeout(10_000).emit('subscribe', input, (err: Error | null, ack: any) => (err ? reject(err) : resolve({ ack, replayed: c.ids() })));
  });
}

const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

describe('event feed (Socket.IO)', function () {
  let svc: TestService;
  const clients: Client[] = [];
  const track = async (p: Promise<Client>) => {
    const c = await p;
    clients.push(c);
    return c;
  };

  before(async function () {
    svc = await startTestService();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.socket.close();
  });
  after(async () => {
    await svc?.cleanup();
  });

  describe('handshake', function () {
    it('refuses a missing token, saying how to send one', async () => {
      expect(await refusedWith(svc.url!, undefined)).to.match(/missing feed token/);
      expect(await refusedWith(svc.url!, { token: '' })).to.match(/missing feed token/);
    });

    it('refuses a wrong token', async () => {
      expect(await refusedWith(svc.url!, { token: 'not-the-feed-token' })).to.equal('invalid feed token');
      expect(await refusedWith(svc.url!, { token: 42 })).to.match(/missing feed token/);
    });

    it('refuses everyone when FEED_TOKEN is not set', async () => {
      const closed = await startTestService({ FEED_TOKEN: '' });
      try {
        expect(await refusedWith(closed.url!, { token: TEST_FEED_TOKEN })).to.match(/FEED_TOKEN is not configured/);
        expect(await refusedWith(closed.url!, { token: '' })).to.match(/FEED_TOKEN is not configured/);
      } finally {
        await closed.cleanup();
      }
    });

    it('counts connected clients in the feedClients gauge', async () => {
      const gauge = async () => (await svc.metrics.feedClients.get()).values[0]?.value ?? 0;
      const before = await gauge();
      const c = await connect(svc.url!);
      await eventually(async () => (await gauge()) === before + 1, 5000, 'gauge to count the client');
      c.socket.close();
      await eventually(async () => (await gauge()) === before, 5000, 'gauge to drop the client');
      await refusedWith(svc.url!, { token: 'wrong' });
      expect(await gauge()).to.equal(before);
    });
  });

  describe('subscribe', function () {
    it('acknowledges with the project tasks as GET /api/tasks shows them and the last event they include', async () => {
      const project = await createProject(svc, { repo: 'acme/snapshot' });
      const other = await createProject(svc, { repo: 'acme/other' });
      const first = await createTask(svc, project.id, 'First');
      await createTask(svc, project.id, 'Second');
      await createTask(svc, other.id, 'Elsewhere');
      expect((await svc.api('PATCH', `/api/tasks/${first.id}`, { state: 'in_progress' })).status).to.equal(200);

      const c = await track(connect(svc.url!));
      const ack = await subscribe(c, { projectId: project.id });
      const rest = await svc.api('GET', `/api/tasks?projectId=${project.id}`);
      const history = await svc.api('GET', `/api/tasks/${first.id}/events`);
      // Each task as REST shows it, plus what its card shows: since when it is in its state, its open question.
      expect(ack.tasks.map(({ stateSince, question, ...task }: any) => task)).to.deep.equal(rest.body.tasks);
      expect(ack.tasks.map((t: any) => t.title)).to.deep.equal(['First', 'Second']);
      expect(ack.tasks[0]).to.include({ stateSince: history.body.events.at(-1).at, question: null });
      expect(ack.projects).to.deep.equal([{ id: project.id, name: project.name, repo: 'acme/snapshot' }]);
      const all = (await logAfter(svc, 0, project.id)).at(-1);
      expect(ack.lastEventId).to.equal(all).and.to.equal(history.body.events.at(-1).eventId);
      expect(ack.agents).to.be.an('array');
      expect(ack.deployments).to.deep.equal([]);
      await settle(100);
      expect(c.events, 'a snapshot alone sends no events').to.deep.equal([]);
    });

    it('without projectId covers every project, and lists agents', async () => {
      const a = await createProject(svc, { repo: 'acme/all-a' });
      const b = await createProject(svc, { repo: 'acme/all-b' });
      const ta = await createTask(svc, a.id, 'In A');
      const tb = await createTask(svc, b.id, 'In B');
      const agent = await svc.api('POST', '/api/agents', { name: 'claude-1' });
      const c = await track(connect(svc.url!));
      const ack = await subscribe(c);
      const ids = ack.tasks.map((t: any) => t.id);
      expect(ids).to.include.members([ta.id, tb.id]);
      expect(ack.agents.find((x: any) => x.id === agent.body.id)).to.deep.equal({
        id: agent.body.id,
        name: 'claude-1',
        status: 'offline',
        currentTaskId: null,
        lastSeenAt: null,
        createdAt: agent.body.createdAt,
      });
      expect(ack.agents[0]).to.not.have.property('token');
      expect(ack.agents[0]).to.not.have.property('tokenHash');
    });

    it('answers bad input and unknown projects with an error, and joins nothing', async () => {
      const c = await track(connect(svc.url!));
      const bad = await subscribe(c, { projectId: 'one' });
      expect(bad.error.code).to.equal('bad_request');
      expect(bad.error.message).to.match(/projectId/);
      expect((await subscribe(c, { since: -1 })).error.code).to.equal('bad_request');
      expect((await subscribe(c, { projectId: 1, colour: 'red' })).error.code).to.equal('bad_request');
      const missing = await subscribe(c, { projectId: 999_999 });
      expect(missing.error).to.deep.equal({ code: 'not_found', message: 'project 999999 not found' });

      const project = await createProject(svc, { repo: 'acme/bad-input' });
      await createTask(svc, project.id);
      await settle(200);
      expect(c.events, 'a refused subscription receives nothing').to.deep.equal([]);
    });

    it('accepts a subscribe sent without data or ack', async () => {
      const c = await track(connect(svc.url!));
      c.socket.emit('subscribe');
      const project = await createProject(svc, { repo: 'acme/no-ack' });
      const task = await createTask(svc, project.id);
      await eventually(async () => c.events.some((e) => e.payload.taskId === task.id), 5000, 'the event');
    });
  });

  describe('events', function () {
    it('sends task events in order, shaped as SPEC §6, after REST calls', async () => {
      const project = await createProject(svc, { repo: 'acme/order' });
      const other = await createProject(svc, { repo: 'acme/order-other' });
      const c = await track(connect(svc.url!));
      const ack = await subscribe(c, { projectId: project.id });

      const task = await createTask(svc, project.id, 'Ship it');
      await createTask(svc, other.id, 'Not mine');
      for (const state of ['in_progress', 'ready_to_test', 'approved']) {
        expect((await svc.api('PATCH', `/api/tasks/${task.id}`, { state })).status).to.equal(200);
      }
      expect((await svc.api('PATCH', `/api/tasks/${task.id}`, { state: 'production' })).status).to.equal(409);

      await eventually(async () => c.events.length >= 4, 5000, 'four events');
      await settle(200);
      const history = (await svc.api('GET', `/api/tasks/${task.id}/events`)).body.events;
      expect(c.ids()).to.deep.equal(history.map((e: any) => e.eventId));
      expect(c.ids()[0]).to.be.greaterThan(ack.lastEventId);
      expect(c.events.map((e) => e.type)).to.deep.equal(['task:created', 'task:status_changed', 'task:status_changed', 'task:status_changed']);
      const [created, ...moves] = c.events.map((e) => e.payload);
      expect(created).to.include({ taskId: task.id, title: 'Ship it', projectId: project.id, eventId: history[0].eventId });
      expect(created.at).to.equal(history[0].at);
      expect(new Date(created.at).toISOString()).to.equal(created.at);
      expect(moves.map((m) => [m.oldState, m.newState])).to.deep.equal([
        ['backlog', 'in_progress'],
        ['in_progress', 'ready_to_test'],
        ['ready_to_test', 'approved'],
      ]);
      expect(Object.keys(moves[0]).sort()).to.deep.equal(['at', 'eventId', 'newState', 'oldState', 'projectId', 'taskId']);
    });

    it('delivers the same events to a subscriber of every project', async () => {
      const project = await createProject(svc, { repo: 'acme/everyone' });
      const all = await track(connect(svc.url!));
      await subscribe(all);
      const task = await createTask(svc, project.id);
      await svc.api('PATCH', `/api/tasks/${task.id}`, { state: 'cancelled' });
      await eventually(async () => all.events.filter((e) => e.payload.taskId === task.id).length === 2, 5000, 'both events');
      await settle(200);
      expect(all.events.filter((e) => e.payload.taskId === task.id).map((e) => e.type)).to.deep.equal(['task:created', 'task:status_changed']);
    });

    it('sends events about no project (an agent going idle) to project boards too', async () => {
      const project = await createProject(svc, { repo: 'acme/agents' });
      const agent = (await svc.api('POST', '/api/agents', { name: 'worker' })).body;
      const c = await track(connect(svc.url!));
      await subscribe(c, { projectId: project.id });
      await svc.agents.report(agent.id, 'idle', null, 'test');
      await eventually(async () => c.events.some((e) => e.type === 'agent:status'), 5000, 'agent:status');
      expect(c.events.find((e) => e.type === 'agent:status')!.payload).to.include({ agentId: agent.id, status: 'idle', currentTaskId: null, projectId: null });
    });

    it('gives a card its current task on getTask, and errors for bad input', async () => {
      const project = await createProject(svc, { repo: 'acme/get-task' });
      const task = await createTask(svc, project.id);
      const c = await track(connect(svc.url!));
      const answer = await c.socket.timeout(5000).emitWithAck('getTask', { taskId: task.id });
      const { questions, feedback, ...rest } = (await svc.api('GET', `/api/tasks/${task.id}`)).body;
      expect(questions).to.deep.equal([]);
      expect(feedback).to.deep.equal([]);
      const created = (await svc.api('GET', `/api/tasks/${task.id}/events`)).body.events[0];
      expect(answer).to.deep.equal({ task: { ...rest, stateSince: created.at, question: null } });

      await moveTask(svc, task.id, 'in_progress');
      await svc.tasks.ask(task.id, null, 'Which colour?', 'test');
      const asked = (await svc.api('GET', `/api/tasks/${task.id}/events`)).body.events.findLast((e: any) => e.to === 'needs_input');
      const waiting = await c.socket.timeout(5000).emitWithAck('getTask', { taskId: task.id });
      expect(waiting.task).to.include({ state: 'needs_input', question: 'Which colour?', stateSince: asked.at });
      await svc.tasks.answer(task.id, 'Blue.', { actor: 'test', source: 'rest' });
      expect((await c.socket.timeout(5000).emitWithAck('getTask', { taskId: task.id })).task).to.include({ state: 'in_progress', question: null });
      expect((await c.socket.timeout(5000).emitWithAck('getTask', { taskId: 'x' })).error.code).to.equal('bad_request');
      expect((await c.socket.timeout(5000).emitWithAck('getTask', { taskId: 999_999 })).error.code).to.equal('not_found');
    });
  });

  describe('replay with since', function () {
    it('gives a reconnecting client exactly the events it missed, then the live stream', async () => {
      const project = await createProject(svc, { repo: 'acme/replay' });
      const first = await track(connect(svc.url!));
      await subscribe(first, { projectId: project.id });
      const task = await createTask(svc, project.id);
      await eventually(async () => first.events.length === 1, 5000, 'the creation');
      const lastSeen = first.ids().at(-1)!;
      first.socket.close();

      // Missed while away: a move, a title change (no event), another task and its move.
      await svc.api('PATCH', `/api/tasks/${task.id}`, { state: 'in_progress' });
      await svc.api('PATCH', `/api/tasks/${task.id}`, { title: 'Renamed' });
      const second = await createTask(svc, project.id, 'Second');
      await svc.api('PATCH', `/api/tasks/${second.id}`, { state: 'cancelled' });
      const missed = await logAfter(svc, lastSeen, project.id);
      expect(missed).to.have.length(3);

      const again = await track(connect(svc.url!));
      const ack = await subscribe(again, { projectId: project.id, since: lastSeen });
      expect(ack.lastEventId).to.equal(missed.at(-1));
      expect(again.ids(), 'the replay arrives before the ack').to.deep.equal(missed);
      expect(again.events.map((e) => e.type)).to.deep.equal(['task:status_changed', 'task:created', 'task:status_changed']);
      expect(ack.tasks.map((t: any) => [t.title, t.state])).to.deep.equal([
        ['Renamed', 'in_progress'],
        ['Second', 'cancelled'],
      ]);

      await svc.api('PATCH', `/api/tasks/${task.id}`, { state: 'backlog' });
      const expected = await logAfter(svc, lastSeen, project.id);
      await eventually(async () => again.events.length === expected.length, 5000, 'the live event');
      await settle(200);
      expect(again.ids()).to.deep.equal(expected);
    });

    it('has no gap and no duplicate at the seam while events are being written', async () => {
      const project = await createProject(svc, { repo: 'acme/seam' });
      await createTask(svc, project.id, 'before');
      const since = (await logAfter(svc, 0, project.id)).at(-1)!;
      await createTask(svc, project.id, 'missed');

      const c = await track(connect(svc.url!));
      // A burst of writes races the subscription: each event must arrive once, whichever side of the seam it falls.
      const burst = Promise.all(Array.from({ length: 12 }, (_, i) => createTask(svc, project.id, `burst ${i}`)));
      const [{ ack, replayed }] = await Promise.all([subscribeNotingReplay(c, { projectId: project.id, since }), burst]);
      const expected = await logAfter(svc, since, project.id);
      expect(expected).to.have.length(13);
      await eventually(async () => c.events.length >= expected.length, 5000, 'every event');
      await settle(300);
      const got = c.ids();
      expect(new Set(got).size, 'no event twice').to.equal(got.length);
      expect([...got].sort((a, b) => a - b)).to.deep.equal(expected);
      // The replay (what arrived before the ack) is the log in order; live events follow in commit order.
      expect(replayed[0]).to.equal(expected[0]);
      expect(replayed).to.deep.equal([...replayed].sort((a, b) => a - b));
      expect(replayed.every((id) => id <= ack.lastEventId)).to.equal(true);
    });

    it('without since, sends no event the snapshot already includes, and misses none after it', async () => {
      const project = await createProject(svc, { repo: 'acme/snapshot-seam' });
      const c = await track(connect(svc.url!));
      const burst = Promise.all(Array.from({ length: 12 }, (_, i) => createTask(svc, project.id, `burst ${i}`)));
      const [ack, created] = await Promise.all([subscribe(c, { projectId: project.id }), burst]);
      await eventually(async () => ack.tasks.length + c.events.length >= created.length, 5000, 'snapshot plus events to cover the burst');
      await settle(300);
      const inSnapshot = new Set<number>(ack.tasks.map((t: any) => t.id));
      const viaEvents = c.events.map((e) => e.payload.taskId as number);
      expect(viaEvents.filter((id) => inSnapshot.has(id)), 'events the snapshot includes').to.deep.equal([]);
      expect(new Set(viaEvents).size).to.equal(viaEvents.length);
      expect([...inSnapshot, ...viaEvents].sort((a, b) => a - b)).to.deep.equal(created.map((t: any) => t.id).sort((a: number, b: number) => a - b));
    });

    it('sends live events in eventId order even when their publishes overtake each other', async () => {
      const project = await createProject(svc, { repo: 'acme/late' });
      const early = await createTask(svc, project.id, 'early');
      const publisher = new Redis(REDIS_URL);
      const fresh = await track(connect(svc.url!));
      await subscribe(fresh, { projectId: project.id });
      // A transaction that emits holds the event sequence until it commits, as unitOfWork does.
      const slow = await svc.db.transaction();
      try {
        await slow.raw('SELECT id FROM event_sequence WHERE id = 1 FOR UPDATE');
        const first = await appendEvent(slow, { type: 'task:needs_input', projectId: project.id, taskId: early.id, payload: { taskId: early.id, question: 'late?' } });
        let created = false;
        const creating = createTask(svc, project.id, 'after').then((t) => ((created = true), t));
        await settle(300);
        expect(created, 'a second emitting transaction waits for the first to commit').to.equal(false);
        await slow.commit();
        const after = await creating;
        const [createdAfter] = (await eventsAfter(svc.db, first.eventId, project.id, 10)).filter((e) => e.taskId === after.id);
        expect(createdAfter.eventId).to.be.greaterThan(first.eventId);

        // The first event is published only now, after the second: the feed fills the gap from the log.
        await eventually(async () => fresh.events.length >= 2, 5000, 'both events');
        await publisher.publish(`${svc.config.redisPrefix}:feed`, JSON.stringify(first));
        await settle(300);
        expect(fresh.ids()).to.deep.equal([first.eventId, createdAfter.eventId]);
        expect(fresh.events[0]).to.deep.equal({
          type: 'task:needs_input',
          payload: { taskId: early.id, question: 'late?', eventId: first.eventId, projectId: project.id, at: first.at },
        });
      } finally {
        if (!slow.isCompleted()) await slow.rollback();
        publisher.disconnect();
      }
    });

    it('catches up from the log when its Redis subscription was lost', async () => {
      const project = await createProject(svc, { repo: 'acme/redis-drop' });
      const c = await track(connect(svc.url!));
      const ack = await subscribe(c, { projectId: project.id });
      // Written to the log but never published, as when the publish happened while the channel was not heard.
      const lost = await svc.db.transaction((trx) =>
        appendEvent(trx, { type: 'deploy:started', projectId: project.id, payload: { environment: 'staging', taskIds: [] } }),
      );
      await settle(200);
      expect(c.events).to.deep.equal([]);

      const redis = new Redis(REDIS_URL);
      try {
        const clientsList = (await redis.call('CLIENT', 'LIST')) as string;
        const line = clientsList.split('\n').find((l) => l.includes(` name=${svc.config.redisPrefix}:feed `));
        expect(line, 'the feed subscriber connection').to.be.a('string');
        await redis.call('CLIENT', 'KILL', 'ID', /\bid=(\d+)/.exec(line!)![1]);
      } finally {
        redis.disconnect();
      }
      await eventually(async () => c.events.length === 1, 10_000, 'the lost event after the reconnect');
      expect(c.events[0]).to.deep.equal({
        type: 'deploy:started',
        payload: { environment: 'staging', taskIds: [], eventId: lost.eventId, projectId: project.id, at: lost.at },
      });
      expect(lost.eventId).to.be.greaterThan(ack.lastEventId);

      const task = await createTask(svc, project.id);
      await eventually(async () => c.events.some((e) => e.payload.taskId === task.id), 5000, 'live events again');
    });
  });

  describe('across replicas', function () {
    const name = uniqueName();
    let first: TestService;
    let second: TestService;

    before(async () => {
      first = await startTestService({}, {}, { name });
      second = await startTestService({}, {}, { name });
    });
    after(async () => {
      await second?.cleanup();
      await first?.cleanup();
      await dropTestState(name);
    });

    it('delivers an event raised on one instance to clients of both, once each', async () => {
      const project = await createProject(first, { repo: 'acme/replicas' });
      const onSecond = await track(connect(second.url!));
      const onFirst = await track(connect(first.url!));
      await subscribe(onSecond, { projectId: project.id });
      await subscribe(onFirst, { projectId: project.id });

      const task = await createTask(first, project.id, 'Raised on the first');
      await first.api('PATCH', `/api/tasks/${task.id}`, { state: 'in_progress' });
      const expected = await logAfter(first, 0, project.id);
      await eventually(async () => onSecond.events.length === 2 && onFirst.events.length === 2, 5000, 'both clients to get both events');
      await settle(300);
      expect(onSecond.ids()).to.deep.equal(expected);
      expect(onFirst.ids()).to.deep.equal(expected);
      expect(onSecond.events[0].payload).to.include({ taskId: task.id, title: 'Raised on the first' });
    });

    it('counts clients per process', async () => {
      const c = await track(connect(second.url!));
      await eventually(async () => (await second.metrics.feedClients.get()).values[0]?.value === 1, 5000, 'the second to count it');
      expect((await first.metrics.feedClients.get()).values[0]?.value ?? 0).to.equal(0);
      c.socket.close();
    });
  });

  describe('shutdown', function () {
    it('drops clients so that they reconnect elsewhere, and closes its Redis connections', async () => {
      const stopping = await startTestService();
      const c = await connect(stopping.url!);
      const reason = new Promise<string>((resolve) => c.socket.once('disconnect', resolve));
      const started = Date.now();
      try {
        await stopping.stop();
        // A transport close (not "io server disconnect") is what makes a Socket.IO client retry.
        expect(await reason).to.equal('transport close');
        expect(Date.now() - started).to.be.lessThan(5000);
        const redis = new Redis(REDIS_URL);
        try {
          // Redis drops a connection just after answering its QUIT, so it may be listed a moment longer.
          await eventually(async () => {
            const names = ((await redis.call('CLIENT', 'LIST')) as string).match(/ name=\S+/g) ?? [];
            return !names.some((n) => n.startsWith(` name=${stopping.config.redisPrefix}:feed`));
          }, 5000, 'the feed connections to close');
        } finally {
          redis.disconnect();
        }
      } finally {
        c.socket.close();
        await stopping.cleanup();
      }
    });
  });

  describe('dashboard', function () {
    it('serves the page and its bundled assets without a token, the assets cached for good and the page never', async () => {
      const page = await fetch(`${svc.url}/`);
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.equal('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).to.match(/script-src 'self';/).and.match(/frame-ancestors 'none'/);
      expect(page.headers.get('referrer-policy')).to.equal('no-referrer');
      expect(page.headers.get('cache-control')).to.equal('no-cache');
      const html = await page.text();
      expect(html).to.include('<meta name="aiworker-sign-in" content="feed-token">');
      const script = /src="(\/dashboard\/board-[A-Z0-9]+\.js)"/.exec(html)?.[1];
      const style = /href="(\/dashboard\/board-[A-Z0-9]+\.css)"/.exec(html)?.[1];
      expect(script, 'the page names its hashed script').to.be.a('string');
      expect(style, 'the page names its hashed style').to.be.a('string');

      const js = await fetch(`${svc.url}${script}`);
      expect(js.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
      expect(js.headers.get('cache-control')).to.equal('public, max-age=31536000, immutable');
      const bundle = await js.text();
      expect(bundle, 'the task states come from the state machine').to.include('"backlog","in_progress","needs_input","ready_to_test","approved","staging","production","cancelled"');
      const css = await fetch(`${svc.url}${style}`);
      expect(css.headers.get('content-type')).to.equal('text/css; charset=utf-8');
      expect(await css.text()).to.include('.card');
      const client = await fetch(`${svc.url}/socket.io/socket.io.min.js`);
      expect(client.status, 'machine clients may still load the Socket.IO client from the server').to.equal(200);
      await client.arrayBuffer();
      for (const missing of ['/dashboard/nope.js', '/dashboard/index.html', '/dashboard/..%2Fpackage.json']) {
        const res = await fetch(`${svc.url}${missing}`);
        expect(res.status, missing).to.equal(404);
        await res.arrayBuffer();
      }
    });
  });
});
