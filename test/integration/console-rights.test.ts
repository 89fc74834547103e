import http from 'node:http';
import { expect } from 'chai';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import { asPerson, signIn, startConsoleService, type SignedIn } from '../support/console.js';
import { moveTask, TEST_API_TOKEN, type TestService } from '../support/service.js';

describe('console rights follow Gitea', () => {
  let gitea: GiteaServer;
  let svc: TestService;
  let webapp: any;
  let infra: any;
  let writer: SignedIn;
  let reader: SignedIn;
  let admin: SignedIn;
  const as = (who: SignedIn, method: string, path: string, body?: unknown, headers?: Record<string, string>) => asPerson(svc.url, who, method, path, body, headers);
  /** fetch cannot name another Host: a raw request can, as a browser on a rebound name does. */
  const withHost = (path: string, host: string, headers: Record<string, string>, body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(`${svc.url}${path}`, { method: 'POST', headers: { ...headers, host, 'content-type': 'application/json', accept: 'application/json, text/event-stream' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end(body);
    });
  const taskCount = async () => Number((await svc.db('tasks').count({ n: '*' }))[0]!.n);

  before(async () => {
    gitea = await startGiteaServer();
    svc = await startConsoleService(gitea, { ALLOWED_HOSTS: 'console.example.com', PERMISSION_CACHE_SECONDS: '0' });
    webapp = (await svc.api('POST', '/api/projects', { name: 'Web app', repo: 'acme/webapp' })).body;
    infra = (await svc.api('POST', '/api/projects', { name: 'Infra', repo: 'acme/infra' })).body;
    gitea.setPermission('wendy', 'write', 'acme/webapp');
    gitea.setPermission('rita', 'read', 'acme/webapp');
    gitea.setPermission('ada', 'admin', 'acme/newrepo');
    gitea.setPermission('ada', 'write', 'acme/webapp');
    writer = await signIn(svc.url, gitea, 'wendy');
    reader = await signIn(svc.url, gitea, 'rita');
    admin = await signIn(svc.url, gitea, 'ada');
  });
  after(async () => {
    await svc?.cleanup();
    await gitea?.close();
  });

  it('lists only the projects a person can read, with what they may do on each', async () => {
    const res = await as(reader, 'GET', '/api/projects');
    expect(res.status).to.equal(200);
    expect(res.body.total).to.equal(1);
    expect(res.body.projects.map((p: any) => p.id)).to.deep.equal([webapp.id]);
    expect(res.body.projects[0].permissions).to.deep.equal({ read: true, write: false, admin: false });
    expect((await as(writer, 'GET', `/api/projects/${webapp.id}`)).body.permissions).to.deep.equal({ read: true, write: true, admin: false });
    const hidden = await as(reader, 'GET', `/api/projects/${infra.id}`);
    expect(hidden.status).to.equal(403);
    expect(hidden.body.error.message).to.match(/^read permission on acme\/infra/);
    expect((await svc.api('GET', '/api/projects')).body.total).to.equal(2);
  });

  it('lets a writer create a task and answer, recording their Gitea login as actor; a reader gets 403 naming write', async () => {
    const before = await taskCount();
    const refused = await as(reader, 'POST', '/api/tasks', { projectId: webapp.id, title: 'Reader task' });
    expect(refused.status).to.equal(403);
    expect(refused.body.error.message).to.match(/^write permission on acme\/webapp in Gitea is needed/).and.include('rita has read');
    expect(await taskCount()).to.equal(before);

    const created = await as(writer, 'POST', '/api/tasks', { projectId: webapp.id, title: 'Add search' });
    expect(created.status).to.equal(201);
    await moveTask(svc, created.body.id, 'in_progress', 'needs_input');
    expect((await as(reader, 'POST', `/api/tasks/${created.body.id}/respond`, { response: 'no' })).status).to.equal(403);
    const answered = await as(writer, 'POST', `/api/tasks/${created.body.id}/respond`, { response: 'Use the existing index.' });
    expect(answered.status).to.equal(200);
    expect((await as(reader, 'PATCH', `/api/tasks/${created.body.id}`, { title: 'Renamed' })).status).to.equal(403);

    const events = await as(reader, 'GET', `/api/tasks/${created.body.id}/events`);
    expect(events.status).to.equal(200);
    const actors = events.body.events.map((e: any) => [e.type, e.actor]);
    expect(actors[0]).to.deep.equal(['task:created', 'wendy']);
    expect(actors.filter(([, actor]: string[]) => actor === 'wendy').length).to.be.greaterThan(1);

    // The bearer keeps its own actor.
    const byToken = await svc.api('POST', '/api/tasks', { projectId: webapp.id, title: 'By automation' });
    expect((await svc.api('GET', `/api/tasks/${byToken.body.id}/events`)).body.events[0].actor).to.equal('api');
  });

  it('filters task lists and refuses tasks of unreadable projects', async () => {
    const secret = (await svc.api('POST', '/api/tasks', { projectId: infra.id, title: 'Rotate keys' })).body;
    const all = await as(reader, 'GET', '/api/tasks');
    expect(all.status).to.equal(200);
    expect(all.body.tasks.every((t: any) => t.projectId === webapp.id)).to.equal(true);
    expect(all.body.total).to.equal(all.body.tasks.length);
    expect((await as(reader, 'GET', `/api/tasks?projectId=${infra.id}`)).status).to.equal(403);
    expect((await as(reader, 'GET', `/api/tasks/${secret.id}`)).status).to.equal(403);
    expect((await as(reader, 'GET', `/api/tasks/${secret.id}/events`)).status).to.equal(403);
  });

  it('merges and promotes with write only', async () => {
    const a = (await svc.api('POST', '/api/tasks', { projectId: webapp.id, title: 'Merge me A' })).body;
    const b = (await svc.api('POST', '/api/tasks', { projectId: webapp.id, title: 'Merge me B' })).body;
    for (const t of [a, b]) {
      await moveTask(svc, t.id, 'in_progress', 'ready_to_test', 'approved');
    }
    const refused = await as(reader, 'POST', '/api/merge', { taskIds: [a.id, b.id] });
    expect(refused.status).to.equal(403);
    expect(refused.body.error.message).to.match(/^write permission on acme\/webapp/);
    const merged = await as(writer, 'POST', '/api/merge', { taskIds: [a.id, b.id] });
    expect(merged.status).to.equal(202);
    expect((await as(reader, 'POST', `/api/projects/${webapp.id}/promote`)).status).to.equal(403);
    expect((await as(writer, 'POST', `/api/projects/${infra.id}/promote`)).status).to.equal(403);
  });

  it('creates projects with admin permission on the repository (or API_TOKEN) only', async () => {
    const refused = await as(writer, 'POST', '/api/projects', { name: 'New', repo: 'acme/newrepo' });
    expect(refused.status).to.equal(403);
    expect(refused.body.error.message).to.match(/^admin permission on acme\/newrepo/).and.include('API_TOKEN');
    const created = await as(admin, 'POST', '/api/projects', { name: 'New', repo: 'acme/newrepo' });
    expect(created.status).to.equal(201);
  });

  it('keeps token-only routes closed to sessions', async () => {
    const agents = await as(admin, 'POST', '/api/agents', { name: 'sneaky' });
    expect(agents.status).to.equal(403);
    expect(agents.body.error.message).to.include('takes API_TOKEN');
    expect((await as(reader, 'GET', '/api/agents')).status).to.equal(200);
  });

  it('refuses unsafe cookie calls without the CSRF token, or from a foreign Origin or Host, changing nothing', async () => {
    const before = await taskCount();
    const body = { projectId: webapp.id, title: 'Forged' };
    const missing = await as(writer, 'POST', '/api/tasks', body, { 'x-csrf-token': '' });
    expect(missing.status).to.equal(403);
    expect(missing.body.error.message).to.include('X-CSRF-Token');
    expect((await as(writer, 'POST', '/api/tasks', body, { 'x-csrf-token': reader.csrfToken })).status).to.equal(403);
    const foreign = await as(writer, 'POST', '/api/tasks', body, { origin: 'https://evil.example' });
    expect(foreign.status).to.equal(403);
    expect(foreign.body.error.message).to.include('Origin https://evil.example');
    expect((await as(writer, 'POST', '/api/tasks', body, { origin: 'null' })).status).to.equal(403);
    expect(await withHost('/api/tasks', 'evil.example', { cookie: writer.cookie, 'x-csrf-token': writer.csrfToken }, JSON.stringify(body))).to.equal(403);
    expect(await taskCount()).to.equal(before);

    for (const origin of [svc.config.publicUrl!, 'https://console.example.com', 'http://localhost:5173']) {
      expect((await as(writer, 'POST', '/api/tasks', { ...body, title: `From ${origin}` }, { origin })).status, origin).to.equal(201);
    }
    // The bearer is not a cookie: no CSRF token, any Origin.
    const res = await fetch(`${svc.url}/api/tasks`, { method: 'POST', headers: { authorization: `Bearer ${TEST_API_TOKEN}`, 'content-type': 'application/json', origin: 'https://elsewhere.example' }, body: JSON.stringify(body) });
    expect(res.status).to.equal(201);
  });

  it('refuses /mcp to a foreign Host or Origin before looking at the token', async () => {
    const call = (host: string, headers: Record<string, string> = {}) => withHost('/mcp', host, headers, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
    const ours = new URL(svc.url).host;
    expect(await call('evil.example')).to.equal(403);
    expect(await call('evil.example', { authorization: 'Bearer whatever' })).to.equal(403);
    expect(await call(ours, { origin: 'http://evil.example' })).to.equal(403);
    expect(await call('localhost.evil.example')).to.equal(403);
    // Ours, so the request goes on to the token check.
    expect(await call(ours)).to.equal(401);
    expect(await call('localhost:9999')).to.equal(401);
    expect(await call('console.example.com')).to.equal(401);
    expect(await call('[::1]:1', { origin: 'http://127.0.0.1:8080' })).to.equal(401);
  });
});
