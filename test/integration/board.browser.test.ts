import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { createProject, createTask, moveTask, startTestService, TEST_FEED_TOKEN, type TestService } from '../support/service.js';
import { chromiumAvailable, launchBrowser, type TestBrowser } from '../support/browser.js';
import { giteaDelivery } from '../support/gitea-delivery.js';
import { appendEvent, type NewEvent } from '../../src/tasks/event-log.js';
import { RedisFeedPublisher } from '../../src/feed/publisher.js';
import { TASK_STATES } from '../../src/tasks/states.js';

/** The board of machine screens: sign-in with Gitea is not configured, the feed token opens a board that watches. */
describe('board with the feed token, in a browser', function () {
  this.timeout(90_000);
  let svc: TestService;
  let browser: TestBrowser;

  before(async function () {
    if (!chromiumAvailable()) this.skip();
    svc = await startTestService();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await svc?.cleanup();
  });

  /** Writes events to the log and publishes them, as a job's unit of work does. */
  async function publishEvents(events: NewEvent[]): Promise<void> {
    const stored = await svc.db.transaction(async (trx) => {
      const out = [];
      for (const e of events) out.push(await appendEvent(trx, e));
      return out;
    });
    await new RedisFeedPublisher(svc.redis, svc.config.redisPrefix, svc.log).publish(stored);
  }

  const column = (page: Page, state: string) => page.locator(`section.column[data-state="${state}"]`);
  const card = (page: Page, state: string, title: string) => column(page, state).getByRole('article', { name: title, exact: true });

  it('names the projects, shows a column per state and moves cards live, without acting controls', async () => {
    const project = await createProject(svc);
    const other = await createProject(svc, { name: 'Docs site', repo: 'acme/docs' });
    const task = await createTask(svc, project.id, 'Add login');
    await createTask(svc, project.id, 'Write docs');
    const asking = await createTask(svc, project.id, 'Pick a retry policy');
    await moveTask(svc, asking.id, 'in_progress');
    await svc.tasks.ask(asking.id, null, 'Exponential or fixed backoff?', 'test');
    await createTask(svc, other.id, 'Fix the docs menu');
    const agent = (await svc.api('POST', '/api/agents', { name: 'claude-1' })).body;

    const page = await browser.open(`${svc.url}/?token=${TEST_FEED_TOKEN}&projectId=${project.id}`);
    await page.locator('#connection[data-state="live"]').waitFor();
    expect(await page.getByRole('status').filter({ hasText: 'Connection' }).innerText()).to.include('live');
    expect(new URL(page.url()).searchParams.has('token'), 'the token leaves the address bar').to.equal(false);
    expect(await page.locator('section.column').evaluateAll((cols) => cols.map((c) => (c as HTMLElement).dataset.state))).to.deep.equal([...TASK_STATES]);
    const picker = page.getByRole('combobox', { name: 'Project' });
    expect(await picker.locator('option:checked').innerText()).to.equal('Web app (acme/webapp)');
    await card(page, 'backlog', 'Add login').waitFor();
    await card(page, 'backlog', 'Write docs').waitFor();
    // The question is shown; answering it takes a signed-in person with write permission.
    await card(page, 'needs_input', 'Pick a retry policy').getByText('Exponential or fixed backoff?').waitFor();
    for (const name of ['New task', 'Promote to production', 'Merge to staging', 'Send answer', 'Sign out', 'Sign in with Gitea']) {
      expect(await page.getByRole('button', { name }).count(), name).to.equal(0);
    }
    expect(await page.getByRole('textbox', { name: 'Answer' }).count()).to.equal(0);
    expect(await page.locator('#agents').innerText()).to.include('claude-1').and.include('offline');

    // The PR is linked first (no event); the push then moves the card, which re-reads its links.
    const pr = giteaDelivery('pull_request.opened', { taskId: task.id });
    expect((await svc.deliver(pr)).status).to.equal(202);
    expect(await svc.settled(pr.id)).to.equal('processed');
    const push = giteaDelivery('create.task-branch', { taskId: task.id });
    expect((await svc.deliver(push)).status).to.equal(202);
    expect(await svc.settled(push.id)).to.equal('processed');
    const moved = card(page, 'in_progress', 'Add login');
    await moved.getByRole('link', { name: /^PR #\d+$/ }).waitFor();
    expect(await card(page, 'backlog', 'Add login').count()).to.equal(0);
    expect(await moved.getByRole('link', { name: /^PR #/ }).getAttribute('href')).to.equal(pr.payload.pull_request.html_url);
    expect(await moved.innerText()).to.include('<1 min in column');

    await svc.agents.report(agent.id, 'busy', task.id, 'test');
    await page.locator(`#agents [data-agent-id="${agent.id}"]`, { hasText: 'busy' }).waitFor();
    await moved.locator('.agent', { hasText: 'claude-1' }).waitFor();

    // What the preview job does once the preview of the task's head is up: the move and its event in one transaction.
    const previewUrl = `https://task-${task.id}.preview.example.com`;
    const head = 'b'.repeat(40);
    await svc.tasks.recordHead(task.id, head, { actor: 'test', deliveryId: 'board-test-push' });
    await svc.tasks.previewReady(task.id, head, previewUrl, { actor: 'test', reason: 'preview is available' });
    const preview = card(page, 'ready_to_test', 'Add login').getByRole('link', { name: 'Open preview' });
    await preview.waitFor();
    expect(await preview.getAttribute('href')).to.equal(previewUrl);

    await publishEvents([
      { type: 'deploy:started', projectId: project.id, payload: { environment: 'staging', taskIds: [task.id] } },
      { type: 'deploy:completed', projectId: project.id, payload: { environment: 'staging', url: 'https://staging.example.com', status: 'succeeded' } },
    ]);
    const deploy = page.locator('#deployments .deployment', { hasText: 'succeeded' });
    await deploy.waitFor();
    expect(await deploy.getByRole('link').getAttribute('href')).to.equal('https://staging.example.com');
    expect(await deploy.innerText()).to.include(`#${task.id}`);

    // Every project at once: each card says which project it belongs to.
    await picker.selectOption({ label: 'All projects' });
    const docs = card(page, 'backlog', 'Fix the docs menu');
    await docs.waitFor();
    expect(await docs.innerText()).to.include('Docs site');
    expect(new URL(page.url()).searchParams.has('projectId')).to.equal(false);
    expect(browser.problems).to.deep.equal([]);
  });

  it('asks for the token when the URL has none, and says why a wrong one is refused', async () => {
    const project = await createProject(svc, { repo: 'acme/form' });
    await createTask(svc, project.id, 'Via the form');
    const page = await browser.open(`${svc.url}/?projectId=${project.id}`);
    const field = page.getByLabel('Feed token');
    await field.fill('not-the-token');
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByRole('alert').filter({ hasText: 'invalid feed token' }).waitFor();
    expect(await page.locator('section.column').count(), 'no board without the token').to.equal(0);

    await field.fill(TEST_FEED_TOKEN);
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.locator('#connection[data-state="live"]').waitFor();
    await card(page, 'backlog', 'Via the form').waitFor();
    // The refusal logs a failed handshake in the console; nothing else may.
    expect(browser.problems.filter((p) => !/WebSocket connection .* failed|status of 4\d\d/.test(p))).to.deep.equal([]);
  });
});
