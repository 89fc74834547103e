import { expect } from 'chai';
import { connectFeed, refusedWith as refusedFeed, type FeedClient as Client, type FeedOptions } from '../support/feed-client.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import { asPerson, signIn, startConsoleService, type SignedIn } from '../support/console.js';
import { eventually, TEST_FEED_TOKEN, type TestService } from '../support/service.js';

/** A feed client as the board's page is one: the session cookie rides on the handshake, no token. */
function feedOptions(opts: { cookie?: string; token?: string; origin?: string }): FeedOptions {
  const headers: Record<string, string> = {};
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.origin) headers.origin = opts.origin;
  return { auth: opts.token ? { token: opts.token } : {}, headers };
}

const connect = (url: string, opts: { cookie?: string; token?: string }): Promise<Client> => connectFeed(url, feedOptions(opts));
const refusedWith = (url: string, opts: { cookie?: string; token?: string; origin?: string }): Promise<string> => refusedFeed(url, feedOptions(opts));

const ask = (c: Client, event: string, input: Record<string, unknown>): Promise<any> => c.socket.timeout(10_000).emitWithAck(event, input);

describe('the feed for a signed-in person', () => {
  let gitea: GiteaServer;
  let svc: TestService;
  let webapp: any;
  let infra: any;
  let reader: SignedIn;
  const clients: Client[] = [];
  const track = async (p: Promise<Client>) => {
    const c = await p;
    clients.push(c);
    return c;
  };

  before(async () => {
    gitea = await startGiteaServer();
    svc = await startConsoleService(gitea, { PERMISSION_CACHE_SECONDS: '0' });
    webapp = (await svc.api('POST', '/api/projects', { name: 'Web app', repo: 'acme/webapp' })).body;
    infra = (await svc.api('POST', '/api/projects', { name: 'Infra', repo: 'acme/infra' })).body;
    gitea.setPermission('rita', 'read', 'acme/webapp');
    gitea.setPermission('wendy', 'write', 'acme/webapp');
    reader = await signIn(svc.url, gitea, 'rita');
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.socket.close();
  });
  after(async () => {
    await svc?.cleanup();
    await gitea?.close();
  });

  it('opens with the session cookie and carries only the projects the person can read', async () => {
    const visible = (await svc.api('POST', '/api/tasks', { projectId: webapp.id, title: 'Visible' })).body;
    const hidden = (await svc.api('POST', '/api/tasks', { projectId: infra.id, title: 'Hidden' })).body;
    const c = await track(connect(svc.url, { cookie: reader.cookie }));
    const snapshot = await ask(c, 'subscribe', {});
    expect(snapshot.tasks.map((t: any) => t.id)).to.include(visible.id).and.not.include(hidden.id);
    expect(snapshot.projects.map((p: any) => p.id)).to.deep.equal([webapp.id]);

    const refused = await ask(c, 'subscribe', { projectId: infra.id });
    expect(refused.error.code).to.equal('forbidden');
    expect(refused.error.message).to.match(/^read permission on acme\/infra/);
    expect((await ask(c, 'getTask', { taskId: hidden.id })).error.code).to.equal('forbidden');
    expect((await ask(c, 'getTask', { taskId: visible.id })).task.title).to.equal('Visible');

    // "Every project" again, then live events: only the readable project's reach the person.
    await ask(c, 'subscribe', {});
    await svc.api('POST', '/api/tasks', { projectId: infra.id, title: 'Hidden live' });
    const wendy = await signIn(svc.url, gitea, 'wendy');
    await asPerson(svc.url, wendy, 'POST', '/api/tasks', { projectId: webapp.id, title: 'Visible live' });
    await eventually(async () => c.events.some((e) => e.type === 'task:created' && e.payload.title === 'Visible live'), 10_000, 'the readable event');
    expect(c.events.filter((e) => e.payload.projectId === infra.id)).to.deep.equal([]);
  });

  it('gives a machine screen with FEED_TOKEN every project, as before', async () => {
    const c = await track(connect(svc.url, { token: TEST_FEED_TOKEN }));
    const snapshot = await ask(c, 'subscribe', {});
    expect(snapshot.projects.map((p: any) => p.id)).to.deep.equal([webapp.id, infra.id]);
  });

  it('refuses a forged session, no credentials, and a page of another site', async () => {
    expect(await refusedWith(svc.url, { cookie: `aiworker_session=${'A'.repeat(43)}` })).to.match(/session has ended/);
    expect(await refusedWith(svc.url, {})).to.match(/missing feed token.*or sign in with Gitea/);
    expect(await refusedWith(svc.url, { cookie: reader.cookie, origin: 'https://evil.example' })).to.match(/Origin https:\/\/evil\.example/);
    expect(await refusedWith(svc.url, { token: TEST_FEED_TOKEN, origin: 'https://evil.example' })).to.match(/Origin/);
  });
});
