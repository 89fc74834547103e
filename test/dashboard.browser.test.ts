import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createProject, createTask, startTestService, TEST_FEED_TOKEN, type TestService } from './support/service.js';
import { giteaDelivery } from './support/gitea-delivery.js';
import { appendEvent, type NewEvent } from '../src/tasks/event-log.js';
import { RedisFeedPublisher } from '../src/feed/publisher.js';
import { TASK_STATES } from '../src/tasks/states.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = new URL('../test-output/dashboard.png', import.meta.url);

describe('dashboard in a browser', function () {
  this.timeout(60_000);
  let svc: TestService;
  let context: BrowserContext;
  let userDataDir: string;
  const problems: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      // CI installs chromium, so there a missing binary is a failure, not a skip.
      if (process.env.CI) throw new Error(`CI is set but ${CHROMIUM} is missing: apt-get install -y chromium`);
      console.warn(`    skipped: no chromium at ${CHROMIUM} (apt-get install -y chromium to run these)`);
      this.skip();
    }
    svc = await startTestService();
    userDataDir = await mkdtemp(join(tmpdir(), 'aiworker-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  after(async () => {
    await context?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    await svc?.cleanup();
  });

  /** A page whose script errors and console errors (a CSP violation, a failed load) fail the test. */
  async function openPage(path: string): Promise<Page> {
    const page = await context.newPage();
    await page.setViewportSize({ width: 1400, height: 700 });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    await page.goto(`${svc.url}${path}`);
    return page;
  }

  /** Writes events to the log and publishes them, as a job's unit of work does. */
  async function publishEvents(events: NewEvent[]): Promise<void> {
    const stored = await svc.db.transaction(async (trx) => {
      const out = [];
      for (const e of events) out.push(await appendEvent(trx, e));
      return out;
    });
    await new RedisFeedPublisher(svc.redis, svc.config.redisPrefix, svc.log).publish(stored);
  }

  const card = (page: Page, state: string, taskId: number) => page.locator(`.column[data-state="${state}"] .card[data-task-id="${taskId}"]`);

  it('shows the project board and moves a card when a Gitea webhook moves its task', async () => {
    const project = await createProject(svc);
    const task = await createTask(svc, project.id, 'Add login');
    const other = await createTask(svc, project.id, 'Write docs');
    const agent = (await svc.api('POST', '/api/agents', { name: 'claude-1' })).body;

    const page = await openPage(`/?token=${TEST_FEED_TOKEN}&projectId=${project.id}`);
    await page.locator('#connection[data-state="live"]').waitFor();
    expect(new URL(page.url()).searchParams.has('token'), 'the token leaves the address bar').to.equal(false);
    expect(await page.locator('.column').evaluateAll((cols) => cols.map((c) => (c as HTMLElement).dataset.state))).to.deep.equal([...TASK_STATES]);
    await card(page, 'backlog', task.id).waitFor();
    expect(await card(page, 'backlog', task.id).innerText()).to.include(`#${task.id}`).and.include('Add login');
    await card(page, 'backlog', other.id).waitFor();
    expect(await page.locator('#agents').innerText()).to.include('claude-1').and.include('offline');

    // The PR is linked first (no event); the push then moves the card, which re-reads its links.
    const pr = giteaDelivery('pull_request.opened', { taskId: task.id });
    expect((await svc.deliver(pr)).status).to.equal(202);
    expect(await svc.settled(pr.id)).to.equal('processed');
    const push = giteaDelivery('create.task-branch', { taskId: task.id });
    expect((await svc.deliver(push)).status).to.equal(202);
    expect(await svc.settled(push.id)).to.equal('processed');

    await card(page, 'in_progress', task.id).waitFor();
    expect(await card(page, 'backlog', task.id).count()).to.equal(0);
    await card(page, 'in_progress', task.id).locator('a.pr-link').waitFor();
    expect(await card(page, 'in_progress', task.id).locator('a.pr-link').getAttribute('href')).to.equal(pr.payload.pull_request.html_url);
    expect(await card(page, 'backlog', other.id).count(), 'the other card stays').to.equal(1);

    await svc.agents.report(agent.id, 'busy', task.id, 'test');
    await page.locator(`#agents [data-agent-id="${agent.id}"]`, { hasText: 'busy' }).waitFor();
    await card(page, 'in_progress', task.id).locator('.agent', { hasText: 'claude-1' }).waitFor();

    // What the preview job does once the preview is up: the move and its event in one transaction.
    const previewUrl = `https://task-${task.id}.preview.example.com`;
    await svc.tasks.withTask(task.id, async (tx, row) => {
      await svc.tasks.applyTransition(tx, row, 'ready_to_test', { source: 'system', actor: 'test', patch: { preview_url: previewUrl } });
      await tx.emit({ type: 'task:ready_to_test', projectId: project.id, taskId: task.id, payload: { taskId: task.id, previewUrl } });
    });
    await card(page, 'ready_to_test', task.id).locator('a.preview-link').waitFor();
    expect(await card(page, 'ready_to_test', task.id).locator('a.preview-link').getAttribute('href')).to.equal(previewUrl);

    await publishEvents([
      { type: 'deploy:started', projectId: project.id, payload: { environment: 'staging', taskIds: [task.id] } },
      { type: 'deploy:completed', projectId: project.id, payload: { environment: 'staging', url: 'https://staging.example.com', status: 'succeeded' } },
    ]);
    const deploy = page.locator('#deployments .deployment', { hasText: 'succeeded' });
    await deploy.waitFor();
    expect(await deploy.locator('a').getAttribute('href')).to.equal('https://staging.example.com');
    expect(await deploy.innerText()).to.include(`#${task.id}`);

    await mkdir(new URL('.', SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT.pathname, fullPage: true });
    expect(existsSync(SCREENSHOT)).to.equal(true);
    expect(problems).to.deep.equal([]);
    await page.close();
  });

  it('asks for the token when the URL has none, and says why a wrong one is refused', async () => {
    const project = await createProject(svc, { repo: 'acme/form' });
    const task = await createTask(svc, project.id, 'Via the form');
    const page = await openPage(`/?projectId=${project.id}`);
    await page.locator('#token-form').waitFor();
    expect(await page.locator('#dashboard').isHidden()).to.equal(true);

    await page.fill('#token-input', 'not-the-token');
    await page.click('#token-form button[type="submit"]');
    await page.locator('#token-error', { hasText: 'invalid feed token' }).waitFor();
    expect(await page.locator('#connection').getAttribute('data-state')).to.equal('refused');

    await page.fill('#token-input', TEST_FEED_TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.locator('#connection[data-state="live"]').waitFor();
    await card(page, 'backlog', task.id).waitFor();
    // The refusal logs a failed WebSocket handshake in the console; nothing else may.
    expect(problems.filter((p) => !/WebSocket connection .* failed|status of 4\d\d/.test(p))).to.deep.equal([]);
    await page.close();
  });
});
