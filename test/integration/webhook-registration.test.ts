import { Writable } from 'node:stream';
import { expect } from 'chai';
import { createLogger } from '../../src/log.js';
import { HANDLED_EVENT_TYPES } from '../../src/gitea/events.js';
import { WebhookRegistrar } from '../../src/projects/webhook.js';
import { Redis } from 'ioredis';
import { REDIS_URL, startTestService, type TestService } from '../support/service.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import type { StoredHook } from '../support/gitea-hooks.js';

const PUBLIC_URL = 'https://aiworker.example.com';
const HOOK_URL = `${PUBLIC_URL}/webhooks/gitea`;
const SECRET = 'first-webhook-secret-4f1c';

/** Whether Gitea would send this X-Gitea-Event-Type to the hook (models/webhook HasEvent). */
const delivers = (hook: StoredHook, eventType: string) =>
  hook.events.has(eventType.startsWith('pull_request_review_') ? 'pull_request_review' : eventType);

describe('Gitea webhook registration', function () {
  let svc: TestService;
  let gitea: GiteaServer;
  let logs = '';

  before(async () => {
    gitea = await startGiteaServer();
    const sink = new Writable({ write: (chunk, _enc, done) => ((logs += String(chunk)), done()) });
    svc = await startTestService(
      { ...gitea.env(), PUBLIC_URL, GITEA_WEBHOOK_SECRET: `${SECRET},older-secret` },
      { log: createLogger('debug', sink), gitea: { retries: 0 } },
    );
  });
  after(async () => {
    await svc?.cleanup();
    await gitea?.close();
  });

  /** The one hook of the repository, checked field by field against what aiworker needs. */
  function expectOneCorrectHook(): StoredHook {
    expect(gitea.repo().hooks.hooks.filter((h) => h.url === HOOK_URL), 'hooks to aiworker').to.have.length(1);
    const hook = gitea.repo().hooks.hooks.find((h) => h.url === HOOK_URL)!;
    expect(hook).to.include({ type: 'gitea', contentType: 'json', secret: SECRET, active: true, branchFilter: '*' });
    for (const type of HANDLED_EVENT_TYPES) expect(delivers(hook, type), `Gitea delivers ${type}`).to.equal(true);
    return hook;
  }
  const repair = (id: number) => svc.api('POST', `/api/projects/${id}/webhook`);
  let project: any;

  it('creating a project creates one webhook with the right fields and reports it', async () => {
    const res = await svc.api('POST', '/api/projects', { name: 'Web app', repo: 'acme/webapp' });
    expect(res.status).to.equal(201);
    project = res.body;
    const hook = expectOneCorrectHook();
    expect(project.webhook).to.deep.equal({ id: hook.id, url: HOOK_URL, events: [...hook.events], active: true });
    const created = gitea.repo().hooks.calls.find((c) => c.method === 'POST')!.body as any;
    expect(created).to.deep.include({ type: 'gitea', active: true, branch_filter: '*' });
    expect(created.config).to.deep.equal({ url: HOOK_URL, content_type: 'json', secret: SECRET });
    expect(created.events).to.include.members(['create', 'push', 'pull_request', 'issues', 'issue_comment']);
  });

  it('a second call rewrites the same hook (PATCH with the full set) and never adds one', async () => {
    const before = gitea.repo().hooks.hooks[0]!.id;
    gitea.repo().hooks.calls.length = 0;
    const res = await repair(project.id);
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.include({ id: before, url: HOOK_URL, active: true });
    expect(gitea.repo().hooks.calls.map((c) => c.method)).to.deep.equal(['GET', 'PATCH']);
    const patched = gitea.repo().hooks.calls[1]!.body as any;
    expect(patched).to.deep.include({ active: true, branch_filter: '*' });
    expect(patched.config).to.deep.equal({ url: HOOK_URL, content_type: 'json', secret: SECRET });
    expectOneCorrectHook();
  });

  it('repairs a hook whose events, filter, activity or secret were edited by hand', async () => {
    const hook = gitea.repo().hooks.hooks[0]!;
    Object.assign(hook, { events: new Set(['push']), active: false, branchFilter: 'main', secret: 'typed-by-hand' });
    const res = await repair(project.id);
    expect(res.body).to.include({ id: hook.id, active: true });
    expectOneCorrectHook();
  });

  it('creates the hook again when it was deleted', async () => {
    gitea.repo().hooks.hooks.length = 0;
    const res = await repair(project.id);
    expect(res.status).to.equal(200);
    const hook = expectOneCorrectHook();
    expect(res.body.id).to.equal(hook.id);
  });

  it('keeps the oldest of several hooks to its URL, removes the others, and leaves other hooks alone', async () => {
    const oldest = gitea.repo().hooks.hooks[0]!;
    gitea.repo().hooks.add({ url: `${HOOK_URL}/` });
    gitea.repo().hooks.add({ url: HOOK_URL, type: 'slack' });
    const ci = gitea.repo().hooks.add({ url: 'https://ci.example.com/hook' });
    expect((await repair(project.id)).body.id).to.equal(oldest.id);
    expect(expectOneCorrectHook().id).to.equal(oldest.id);
    expect(gitea.repo().hooks.hooks.map((h) => h.id)).to.deep.equal([oldest.id, ci.id]);
  });

  it('repairs started at once still leave exactly one hook', async () => {
    gitea.repo().hooks.hooks.length = 0;
    const answers = await Promise.all([repair(project.id), repair(project.id), repair(project.id)]);
    const hook = expectOneCorrectHook();
    for (const res of answers) expect(res.body.id).to.equal(hook.id);
  });

  it('a repository whose bot is not an admin: the project is created, webhook.error says why', async () => {
    const locked = gitea.repo('acme/locked');
    locked.hooks.refuse = 403;
    const res = await svc.api('POST', '/api/projects', { name: 'Locked', repo: 'acme/locked' });
    expect(res.status).to.equal(201);
    expect(res.body.webhook).to.have.keys(['error']);
    expect(res.body.webhook.error).to.match(/403/).and.match(/admin of acme\/locked/);
    expect((await svc.api('GET', `/api/projects/${res.body.id}`)).status).to.equal(200);
    expect(locked.hooks.hooks).to.have.length(0);
    const again = await repair(res.body.id);
    expect(again.status).to.equal(200);
    expect(again.body.error).to.match(/403/);
  });

  it('repairing a project that does not exist is a 404', async () => {
    const res = await repair(999999);
    expect(res.status).to.equal(404);
    expect(res.body.error.code).to.equal('not_found');
  });

  it('the secret appears in no answer and no log line', async () => {
    const answers = [await repair(project.id), await svc.api('GET', `/api/projects/${project.id}`), await svc.api('GET', '/api/projects')];
    for (const res of answers) expect(JSON.stringify(res.body)).not.to.include(SECRET);
    expect(logs).to.include('Gitea webhook in place');
    expect(logs).not.to.include(SECRET);
  });
});

describe('Gitea webhook registration without its settings', () => {
  it('names every missing setting and calls nobody', async () => {
    // Never connected: nothing is asked of Redis either.
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    const registrar = new WebhookRegistrar({ api: null, publicUrl: null, secret: null, redis, redisPrefix: 'unused', log: createLogger('silent') });
    const state = await registrar.ensure({ owner: 'acme', repoName: 'webapp', repo: 'acme/webapp' });
    expect(redis.status).to.equal('wait');
    expect(state).to.deep.equal({ error: 'webhook not registered: set PUBLIC_URL, GITEA_URL and GITEA_TOKEN, GITEA_WEBHOOK_SECRET' });
  });
});
