import { expect } from 'chai';
import { createProject, createTask, moveTask, startTestService, TEST_API_TOKEN, type TestService } from '../support/service.js';
import { pageQuery } from '../../src/pagination.js';

describe('REST API', function () {
  let svc: TestService;
  let project: any;

  before(async () => {
    svc = await startTestService();
    project = await createProject(svc);
  });
  after(async () => svc?.cleanup());

  describe('auth and errors', () => {
    it('refuses a missing or wrong bearer token with 401 in the error shape', async () => {
      for (const headers of [{ authorization: '' }, { authorization: 'Bearer nope' }, { authorization: `Basic ${TEST_API_TOKEN}` }]) {
        const res = await svc.api('GET', '/api/projects', undefined, headers);
        expect(res.status).to.equal(401);
        expect(res.body.error.code).to.equal('unauthorized');
        expect(res.body.error.message).to.be.a('string');
      }
    });

    it('answers unknown routes with 404 JSON', async () => {
      const res = await svc.api('GET', '/api/nothing-here');
      expect(res.status).to.equal(404);
      expect(res.body.error.code).to.equal('not_found');
    });

    it('answers a method a route does not take with 405 JSON naming the allowed ones', async () => {
      const res = await svc.api('DELETE', '/api/projects');
      expect(res.status).to.equal(405);
      expect(res.body.error.code).to.equal('method_not_allowed');
      expect(res.body.error.message).to.match(/allowed: .*GET/);
      const hook = await fetch(`${svc.url}/webhooks/gitea`);
      expect(hook.status).to.equal(405);
      expect(((await hook.json()) as any).error.code).to.equal('method_not_allowed');
    });

    it('refuses a non-JSON body with 415 and malformed JSON with 400', async () => {
      const form = await svc.api('POST', '/api/tasks', 'projectId=1', { 'content-type': 'application/x-www-form-urlencoded' });
      expect(form.status).to.equal(415);
      const bad = await svc.api('POST', '/api/tasks', '{"projectId":', { 'content-type': 'application/json' });
      expect(bad.status).to.equal(400);
      expect(bad.body.error.message).to.match(/JSON/);
    });

    it('reads bodies up to 1 MiB (413 past it, declared or counted while reading); an empty body is {}', async () => {
      const big = JSON.stringify({ projectId: project.id, title: 'x'.repeat(1024 * 1024) });
      const declared = await svc.api('POST', '/api/tasks', big);
      expect([declared.status, declared.body.error.code]).to.deep.equal([413, 'payload_too_large']);
      expect(declared.body.error.message).to.equal('body is larger than the limit of 1048576 bytes');
      // The size is checked before the type, as it always was.
      expect((await svc.api('POST', '/api/tasks', big, { 'content-type': 'text/plain' })).status).to.equal(413);
      const chunks = new ReadableStream({
        start(c) {
          for (let i = 0; i < 20; i++) c.enqueue(new TextEncoder().encode(i ? 'x'.repeat(64 * 1024) : `{"projectId":${project.id},"title":"`));
          c.close();
        },
      });
      const chunked = await fetch(`${svc.url}/api/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_API_TOKEN}`, 'content-type': 'application/json' },
        body: chunks,
        duplex: 'half',
      } as RequestInit);
      expect(chunked.status).to.equal(413);
      const empty = await svc.api('POST', '/api/agents', '', { 'content-type': 'application/json' });
      expect([empty.status, empty.body.error.message]).to.deep.equal([400, 'invalid body: name: Invalid input: expected string, received undefined']);
      expect((await svc.api('POST', '/api/agents', '{"name":"a json+ type"}', { 'content-type': 'application/vnd.api+json' })).status).to.equal(201);
    });
  });

  describe('projects', () => {
    it('creates a project with defaults and finds it', async () => {
      const res = await svc.api('POST', '/api/projects', { name: 'API', repo: 'acme/api', previewImage: 'registry.example.com/acme/api' });
      expect(res.status).to.equal(201);
      expect(res.body).to.include({ name: 'API', repo: 'acme/api', defaultBranch: 'main', stagingBranch: 'staging', previewImage: 'registry.example.com/acme/api' });
      expect(res.body.id).to.be.a('number');
      const one = await svc.api('GET', `/api/projects/${res.body.id}`);
      expect(one.status).to.equal(200);
      expect(one.body.repo).to.equal('acme/api');
      const all = await svc.api('GET', '/api/projects');
      expect(all.body.total).to.equal(all.body.projects.length).and.be.greaterThan(1);
    });

    it('says what is wrong with a bad project (400) and refuses a duplicate repository (409)', async () => {
      const bad = await svc.api('POST', '/api/projects', { name: '', repo: 'not-a-repo' });
      expect(bad.status).to.equal(400);
      expect(bad.body.error.message).to.match(/name/).and.match(/repo/);
      const dup = await svc.api('POST', '/api/projects', { name: 'again', repo: 'acme/webapp' });
      expect(dup.status).to.equal(409);
    });

    it('answers 404 for an unknown project and 400 for a bad id', async () => {
      expect((await svc.api('GET', '/api/projects/999999')).status).to.equal(404);
      expect((await svc.api('GET', '/api/projects/abc')).status).to.equal(400);
    });
  });

  describe('tasks', () => {
    it('creates a task in backlog with the documented shape', async () => {
      const res = await svc.api('POST', '/api/tasks', { projectId: project.id, title: 'Add login', description: 'OAuth please' });
      expect(res.status).to.equal(201);
      expect(res.body).to.include({ projectId: project.id, title: 'Add login', description: 'OAuth please', state: 'backlog' });
      for (const key of ['id', 'branch', 'prNumber', 'prUrl', 'previewUrl', 'assignedAgentId', 'createdAt', 'updatedAt']) {
        expect(res.body).to.have.property(key);
      }
      expect(new Date(res.body.createdAt).toISOString()).to.equal(res.body.createdAt);
      const got = await svc.api('GET', `/api/tasks/${res.body.id}`);
      expect(got.body.questions).to.deep.equal([]);
      expect(got.body.feedback).to.deep.equal([]);
    });

    it('refuses a task for an unknown project (404) or without a title (400)', async () => {
      expect((await svc.api('POST', '/api/tasks', { projectId: 999999, title: 'x' })).status).to.equal(404);
      const res = await svc.api('POST', '/api/tasks', { projectId: project.id });
      expect(res.status).to.equal(400);
      expect(res.body.error.message).to.match(/title/);
    });

    it('lists with filters and paging, and carries total', async () => {
      const other = await createProject(svc, { name: 'Other', repo: 'acme/other' });
      const a = await createTask(svc, other.id, 'one');
      await createTask(svc, other.id, 'two');
      await svc.api('PATCH', `/api/tasks/${a.id}`, { state: 'in_progress' });
      const all = await svc.api('GET', `/api/tasks?projectId=${other.id}`);
      expect(all.body.total).to.equal(2);
      expect(all.body.tasks.map((t: any) => t.title)).to.deep.equal(['one', 'two']);
      const inProgress = await svc.api('GET', `/api/tasks?projectId=${other.id}&state=in_progress`);
      expect(inProgress.body.tasks.map((t: any) => t.id)).to.deep.equal([a.id]);
      const page = await svc.api('GET', `/api/tasks?projectId=${other.id}&limit=1&offset=1`);
      expect(page.body.tasks.map((t: any) => t.title)).to.deep.equal(['two']);
      expect(page.body.total).to.equal(2);
      // Over the cap is served at the cap, as Gitea does; nonsense is refused.
      const capped = await svc.api('GET', `/api/tasks?projectId=${other.id}&limit=5000`);
      expect(capped.status).to.equal(200);
      expect(capped.body.total).to.equal(2);
      expect(pageQuery.parse({ limit: '5000' }).limit).to.equal(1000);
      expect(pageQuery.parse({}).limit).to.equal(100);
      for (const bad of ['0', '-1', '1.5', 'abc']) expect((await svc.api('GET', `/api/tasks?limit=${bad}`)).status, bad).to.equal(400);
      expect((await svc.api('GET', '/api/tasks?state=done')).status).to.equal(400);
    });

    it('moves a task along allowed transitions and records each in its events', async () => {
      const t = await createTask(svc, project.id);
      for (const state of ['in_progress', 'ready_to_test', 'approved', 'cancelled', 'backlog']) {
        const res = await svc.api('PATCH', `/api/tasks/${t.id}`, { state });
        expect(res.status, `to ${state}: ${JSON.stringify(res.body)}`).to.equal(200);
        expect(res.body.state).to.equal(state);
      }
      const events = await svc.api('GET', `/api/tasks/${t.id}/events`);
      expect(events.status).to.equal(200);
      expect(events.body.events.map((e: any) => [e.from, e.to])).to.deep.equal([
        [null, 'backlog'],
        ['backlog', 'in_progress'],
        ['in_progress', 'ready_to_test'],
        ['ready_to_test', 'approved'],
        ['approved', 'cancelled'],
        ['cancelled', 'backlog'],
      ]);
      const ids = events.body.events.map((e: any) => e.eventId);
      expect(ids).to.deep.equal([...ids].sort((x: number, y: number) => x - y));
      expect(events.body.events[0]).to.include({ type: 'task:created', actor: 'api' });
      expect(events.body.events[1]).to.have.keys('eventId', 'type', 'from', 'to', 'actor', 'reason', 'at');
    });

    it('refuses a transition the SPEC does not allow with 409 and changes nothing', async () => {
      const t = await createTask(svc, project.id);
      for (const state of ['approved', 'needs_input', 'staging', 'production']) {
        const res = await svc.api('PATCH', `/api/tasks/${t.id}`, { state, title: 'renamed' });
        expect(res.status, state).to.equal(409);
        expect(res.body.error.code).to.equal('invalid_transition');
      }
      const after = await svc.api('GET', `/api/tasks/${t.id}`);
      expect(after.body.state).to.equal('backlog');
      expect(after.body.title).to.equal('Add login');
      expect((await svc.api('GET', `/api/tasks/${t.id}/events`)).body.events).to.have.length(1);
    });

    it("refuses the moves SPEC §2 gives to others than REST, naming who makes them", async () => {
      const t = await createTask(svc, project.id);
      const patch = (state: string) => svc.api('PATCH', `/api/tasks/${t.id}`, { state });
      expect((await patch('in_progress')).status).to.equal(200);
      // Only ask_user_question asks a question; only an answer ends one.
      const ask = await patch('needs_input');
      expect(ask.status).to.equal(409);
      expect(ask.body.error.message).to.match(/ask_user_question/);
      await moveTask(svc, t.id, 'needs_input');
      const leave = await patch('in_progress');
      expect(leave.status).to.equal(409);
      expect(leave.body.error.message).to.match(/answer/);
      expect((await svc.api('POST', `/api/tasks/${t.id}/respond`, { response: 'Blue.' })).status).to.equal(200);
      // Back to in_progress from approval is for new commits, a rejection or the merge train.
      expect((await patch('approved')).status).to.equal(200);
      const back = await patch('in_progress');
      expect(back.status).to.equal(409);
      expect(back.body.error.message).to.match(/new commits/);
      expect((await svc.api('GET', `/api/tasks/${t.id}`)).body.state).to.equal('approved');

      // A project with previews: its preview, not REST, makes a task ready_to_test.
      const withPreviews = await createProject(svc, { name: 'With previews', repo: 'acme/previewed', previewImage: 'registry.example/app' });
      const p = await createTask(svc, withPreviews.id);
      expect((await svc.api('PATCH', `/api/tasks/${p.id}`, { state: 'in_progress' })).status).to.equal(200);
      const ready = await svc.api('PATCH', `/api/tasks/${p.id}`, { state: 'ready_to_test' });
      expect(ready.status).to.equal(409);
      expect(ready.body.error.message).to.match(/preview/);
    });

    it('updates title and description without an event', async () => {
      const t = await createTask(svc, project.id);
      const res = await svc.api('PATCH', `/api/tasks/${t.id}`, { title: 'Add SSO', description: null });
      expect(res.body).to.include({ title: 'Add SSO', description: null, state: 'backlog' });
      expect((await svc.api('PATCH', `/api/tasks/${t.id}`, {})).status).to.equal(400);
      expect((await svc.api('PATCH', `/api/tasks/${t.id}`, { color: 'red' })).status).to.equal(400);
      expect((await svc.api('PATCH', '/api/tasks/999999', { title: 'x' })).status).to.equal(404);
    });

    it('answers an open question through respond and refuses when none is open', async () => {
      const t = await createTask(svc, project.id);
      expect((await svc.api('POST', `/api/tasks/${t.id}/respond`, { response: 'yes' })).status).to.equal(409);
      await svc.api('PATCH', `/api/tasks/${t.id}`, { state: 'in_progress' });
      await svc.tasks.ask(t.id, null, 'Which OAuth provider?', 'agent:test');
      const asked = await svc.api('GET', `/api/tasks/${t.id}`);
      expect(asked.body.state).to.equal('needs_input');
      expect(asked.body.questions).to.have.length(1);
      expect(asked.body.questions[0]).to.include({ question: 'Which OAuth provider?', answer: null });
      expect((await svc.api('POST', `/api/tasks/${t.id}/respond`, {})).status).to.equal(400);
      const res = await svc.api('POST', `/api/tasks/${t.id}/respond`, { response: 'GitHub' });
      expect(res.status).to.equal(200);
      expect(res.body.state).to.equal('in_progress');
      expect(res.body.questions[0]).to.include({ answer: 'GitHub', answeredBy: 'api' });
    });
  });

  describe('agents', () => {
    it('creates an agent with a one-time token, stores only its hash and lists it without the token', async () => {
      const res = await svc.api('POST', '/api/agents', { name: 'coder-1' });
      expect(res.status).to.equal(201);
      expect(res.body.token).to.match(/^aiw_/);
      const row = await svc.db('agents').where({ id: res.body.id }).first();
      expect(row.token_hash).to.not.equal(res.body.token);
      expect(JSON.stringify(row)).to.not.include(res.body.token);
      const list = await svc.api('GET', '/api/agents');
      const listed = list.body.agents.find((a: any) => a.id === res.body.id);
      expect(listed).to.include({ name: 'coder-1', status: 'offline', currentTaskId: null });
      expect(listed).to.not.have.property('token');
      expect(list.body.total).to.be.at.least(1);
      expect((await svc.api('POST', '/api/agents', {})).status).to.equal(400);
    });
  });

  describe('health and metrics', () => {
    it('answers /healthz, /readyz and /metrics without a token', async () => {
      const health = await fetch(`${svc.url}/healthz`);
      expect(health.status).to.equal(200);
      const ready = await fetch(`${svc.url}/readyz`);
      const body: any = await ready.json();
      expect(ready.status).to.equal(200);
      expect(body.checks.mysql.status).to.equal('ok');
      expect(body.checks.redis.status).to.equal('ok');
      expect(body.checks.gitea.status).to.equal('not configured');
      expect(body.checks.kubernetes.status).to.equal('dry-run');
      const metrics = await (await fetch(`${svc.url}/metrics`)).text();
      expect(metrics).to.match(/aiworker_http_request_duration_seconds_bucket/);
    });
  });
});
