import { mkdir } from 'node:fs/promises';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createProject, createTask, dropTestState, moveTask, startTestService, uniqueName, type TestService } from '../support/service.js';
import { chromiumAvailable, launchBrowser, PHONE, type TestBrowser } from '../support/browser.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import { freePort } from '../support/local-server.js';
import { callTool } from '../support/mcp-harness.js';

/** Chromium logs every 401 (GET /api/me signed out) and 403 (the refusals this test provokes); nothing else may appear. */
const unexpected = (problems: string[]) => problems.filter((p) => !/status of 40[13] \((Unauthorized|Forbidden)\)/.test(p));

/** Where the test writes the board's screenshots; README.md shows them. */
const SCREENSHOTS = new URL('../../docs/images/', import.meta.url);

/**
 * The console as people use it: signed in with Gitea (the test's own OAuth2 provider), a writer
 * creates a task, answers an MCP agent's question and merges approved tasks; a reader sees the
 * board without acting controls and is refused by the REST API; a restart signs nobody out.
 */
describe('console signed in with Gitea, in a browser', function () {
  this.timeout(180_000);
  const name = uniqueName();
  let gitea: GiteaServer;
  let svc: TestService;
  let env: Record<string, string>;
  let browser: TestBrowser;
  let publicUrl: string;
  let project: any;
  const clients: Client[] = [];

  before(async function () {
    if (!chromiumAvailable()) this.skip();
    gitea = await startGiteaServer();
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    env = { ...gitea.consoleEnv(publicUrl), PORT: String(port) };
    svc = await startTestService(env, {}, { name });
    browser = await launchBrowser();
    gitea.oauth.addPerson('alice', 'Alice Writer');
    gitea.oauth.addPerson('bob', 'Bob Reader');
    project = await createProject(svc, { name: 'Web app', repo: 'acme/webapp' });
    await createProject(svc, { name: 'Docs site', repo: 'acme/docs' });
    await createProject(svc, { name: 'Secret', repo: 'acme/secret' });
    gitea.setPermission('alice', 'write', 'acme/webapp');
    gitea.setPermission('alice', 'read', 'acme/docs');
    gitea.setPermission('bob', 'read', 'acme/webapp');
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await browser?.close();
    await svc?.cleanup();
    await dropTestState(name);
    await gitea?.close();
  });

  /** Opens the board signed out, signs in at Gitea as `login`, and waits for the live board. */
  async function signIn(login: string, viewport?: { width: number; height: number }): Promise<Page> {
    const page = await browser.open(`${publicUrl}/`, viewport);
    gitea.oauth.signedIn = login;
    await page.getByRole('button', { name: 'Sign in with Gitea' }).click();
    await live(page);
    return page;
  }

  const live = (page: Page) => page.locator('#connection[data-state="live"]').waitFor();
  const column = (page: Page, state: string) => page.locator(`section.column[data-state="${state}"]`);
  const card = (page: Page, state: string, title: string) => column(page, state).getByRole('article', { name: title, exact: true });

  /** A REST call from the page, with its session cookie (and the CSRF token unless `csrf` is false). */
  function fromPage(page: Page, method: string, path: string, body?: unknown, csrf = true): Promise<{ status: number; body: any }> {
    return page.evaluate(
      async ({ method, path, body, csrf }) => {
        const me = await (await fetch('/api/me')).json();
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (csrf) headers['x-csrf-token'] = me.csrfToken;
        const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        return { status: res.status, body: await res.json().catch(() => null) };
      },
      { method, path, body, csrf },
    );
  }

  async function agent(agentName: string): Promise<Client> {
    const created = await svc.api('POST', '/api/agents', { name: agentName });
    const client = new Client({ name: agentName, version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${publicUrl}/mcp`), { requestInit: { headers: { authorization: `Bearer ${created.body.token}` } } }));
    clients.push(client);
    return client;
  }

  it('lets a writer create a task, answer an agent and merge approved tasks, and keeps them signed in across a restart', async () => {
    const page = await signIn('alice');
    const picker = page.getByRole('combobox', { name: 'Project' });
    expect(await picker.locator('option').allInnerTexts(), 'the projects alice can read, by name').to.deep.equal(['Web app (acme/webapp)', 'Docs site (acme/docs)']);
    expect(await page.locator('.me').innerText()).to.include('alice');

    // A task from the "New task" dialog, recorded as alice's doing.
    await page.getByRole('button', { name: 'New task' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('textbox', { name: 'Title' }).fill('Add sign-in with Gitea');
    await dialog.getByRole('textbox', { name: 'Description' }).fill('People sign in with their Gitea account; rights follow the repository.');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await card(page, 'backlog', 'Add sign-in with Gitea').waitFor();
    await dialog.waitFor({ state: 'hidden' });
    const [created] = (await svc.api('GET', `/api/tasks?projectId=${project.id}`)).body.tasks;
    expect(created).to.include({ title: 'Add sign-in with Gitea', description: 'People sign in with their Gitea account; rights follow the repository.' });
    expect((await svc.api('GET', `/api/tasks/${created.id}/events`)).body.events[0]).to.include({ actor: 'alice', to: 'backlog' });

    // An agent claims it and asks; the question shows on the card; alice's answer reaches the agent.
    const claude = await agent('claude-1');
    const { task: claimed } = await callTool(claude, 'get_next_task', { projectId: project.id });
    expect(claimed.id).to.equal(created.id);
    // Its pull request (linked without an event: the card re-reads it with the next one).
    await svc.tasks.linkPull(created.id, { prNumber: 6, prUrl: `${gitea.url}/acme/webapp/pulls/6` });
    await callTool(claude, 'ask_user_question', { taskId: created.id, question: 'Should the session last a day or a week?' });
    const asking = card(page, 'needs_input', 'Add sign-in with Gitea');
    await asking.getByText('Should the session last a day or a week?').waitFor();
    await asking.locator('.agent', { hasText: 'claude-1' }).waitFor();
    const waiting = callTool(claude, 'check_response', { taskId: created.id, waitSeconds: 30 });
    await asking.getByRole('textbox', { name: 'Answer' }).fill('A week, renewed while it is used.');
    await asking.getByRole('button', { name: 'Send answer' }).click();
    expect(await waiting).to.deep.include({ answered: true, response: 'A week, renewed while it is used.' });
    await card(page, 'in_progress', 'Add sign-in with Gitea').waitFor();
    const answered = (await svc.api('GET', `/api/tasks/${created.id}`)).body.questions.at(-1);
    expect(answered).to.include({ answer: 'A week, renewed while it is used.', answeredBy: 'alice' });

    // The rest of a working day, for the screenshots.
    const titles = ['Rate-limit webhook deliveries', 'Cache permission look-ups', 'Write the onboarding guide', 'Dark mode for the board', 'Pick the retry policy', 'Retry failed deliveries', 'Health checks for the worker'];
    const [first, second, guide, dark, retry, staged, shipped] = await Promise.all(titles.map((t) => createTask(svc, project.id, t)));
    await moveTask(svc, first.id, 'in_progress', 'approved');
    await moveTask(svc, second.id, 'in_progress', 'approved');
    await moveTask(svc, retry.id, 'in_progress');
    await svc.tasks.ask(retry.id, null, 'Retry failed deliveries with exponential backoff, or every 30 s?', 'claude-2');
    await moveTask(svc, staged.id, 'staging');
    await moveTask(svc, shipped.id, 'production');
    await moveTask(svc, dark.id, 'in_progress');
    await svc.tasks.transition(dark.id, 'ready_to_test', {
      source: 'system',
      actor: 'test',
      patch: { pr_number: 7, pr_url: `${gitea.url}/acme/webapp/pulls/7`, preview_url: 'https://task-5.preview.example.com' },
    });
    await card(page, 'backlog', guide.title).waitFor();
    await card(page, 'ready_to_test', dark.title).getByRole('link', { name: 'Open preview' }).waitFor();
    await card(page, 'in_progress', created.title).getByRole('link', { name: 'PR #6' }).waitFor();
    await card(page, 'approved', second.title).waitFor();
    await card(page, 'production', shipped.title).waitFor();

    // A day's worth of history, so the cards say how long each has waited in its column (read from the log on reload).
    for (const [i, t] of [guide, created, retry, dark, first, second, staged, shipped].entries()) {
      await svc.db('task_events').where({ task_id: t.id }).update({ created_at: svc.db.raw('created_at - INTERVAL ? MINUTE', [(i + 1) * 47]) });
    }
    await page.reload();
    await live(page);
    await card(page, 'production', shipped.title).getByText('6 h in column', { exact: true }).waitFor();

    // Two approved tasks selected and merged to staging together.
    const merge = page.getByRole('button', { name: 'Merge to staging' });
    expect(await merge.isDisabled(), 'nothing selected yet').to.equal(true);
    await page.getByRole('checkbox', { name: `Select ${first.title}`, exact: true }).check();
    await page.getByRole('checkbox', { name: `Select ${second.title}`, exact: true }).check();
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: new URL('board-desktop.png', SCREENSHOTS).pathname, fullPage: true });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: new URL('board-phone.png', SCREENSHOTS).pathname, fullPage: true });
    await page.setViewportSize({ width: 1440, height: 900 });

    const answer = page.waitForResponse((res) => res.url().endsWith('/api/merge'));
    await merge.click();
    const merged = await answer;
    expect(merged.status()).to.equal(202);
    expect(JSON.parse(merged.request().postData() ?? '{}')).to.deep.equal({ taskIds: [first.id, second.id] });
    const { jobId } = await merged.json();
    await page.getByRole('status').filter({ hasText: `Merging 2 tasks to staging (job ${jobId})` }).waitFor();

    const promotion = page.waitForResponse((res) => res.url().endsWith(`/api/projects/${project.id}/promote`));
    await page.getByRole('button', { name: 'Promote to production' }).click();
    expect((await promotion).status()).to.equal(202);
    await page.getByRole('status').filter({ hasText: 'Promoting Web app to production' }).waitFor();

    // Sessions live in MySQL: a restarted service still knows alice.
    const beforeRestart = browser.problems.length;
    await svc.stop();
    svc = await startTestService(env, {}, { name });
    await page.reload();
    await live(page);
    // While the service was down the page's socket tried to reconnect: Chromium logs those refusals.
    const duringRestart = browser.problems.splice(beforeRestart);
    expect(duringRestart.filter((p) => !/ERR_CONNECTION_REFUSED|WebSocket connection .* failed/.test(p))).to.deep.equal([]);
    expect(await page.getByRole('button', { name: 'Sign in with Gitea' }).count()).to.equal(0);
    await page.getByRole('button', { name: 'New task' }).waitFor();

    // A missing CSRF token is refused and changes nothing.
    const before = (await svc.api('GET', `/api/tasks?projectId=${project.id}`)).body.total;
    expect((await fromPage(page, 'POST', '/api/tasks', { projectId: project.id, title: 'Forged' }, false)).status).to.equal(403);
    expect((await svc.api('GET', `/api/tasks?projectId=${project.id}`)).body.total).to.equal(before);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in with Gitea' }).waitFor();
    expect((await page.evaluate(async () => (await fetch('/api/me')).status))).to.equal(401);
    await page.reload();
    await page.getByRole('button', { name: 'Sign in with Gitea' }).waitFor();
    expect(unexpected(browser.problems)).to.deep.equal([]);
  });

  it('shows a reader the board without acting controls, and the REST API refuses their actions', async () => {
    const readable = await createTask(svc, project.id, 'Readable by bob');
    await moveTask(svc, readable.id, 'in_progress', 'needs_input');
    const approved = await createTask(svc, project.id, 'Approved, not by bob');
    await moveTask(svc, approved.id, 'in_progress', 'approved');
    const page = await signIn('bob');
    expect(await page.getByRole('combobox', { name: 'Project' }).locator('option').allInnerTexts()).to.deep.equal(['Web app (acme/webapp)']);
    await card(page, 'needs_input', readable.title).waitFor();
    await card(page, 'approved', approved.title).waitFor();
    for (const control of ['New task', 'Promote to production', 'Merge to staging', 'Send answer']) {
      expect(await page.getByRole('button', { name: control }).count(), control).to.equal(0);
    }
    expect(await page.getByRole('textbox', { name: 'Answer' }).count()).to.equal(0);
    expect(await page.getByRole('checkbox').count()).to.equal(0);
    expect(await page.locator('.note').innerText()).to.include('write permission');

    const refused = [
      await fromPage(page, 'POST', '/api/tasks', { projectId: project.id, title: 'By a reader' }),
      await fromPage(page, 'POST', `/api/tasks/${readable.id}/respond`, { response: 'From a reader' }),
      await fromPage(page, 'POST', '/api/merge', { taskIds: [approved.id] }),
      await fromPage(page, 'POST', `/api/projects/${project.id}/promote`),
    ];
    for (const res of refused) {
      expect(res.status).to.equal(403);
      expect(res.body.error.message).to.include('write permission');
    }
    expect((await svc.api('GET', `/api/tasks/${readable.id}`)).body.state, 'nothing changed').to.equal('needs_input');
    expect(unexpected(browser.problems)).to.deep.equal([]);
  });
});
