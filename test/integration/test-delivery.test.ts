import { expect } from 'chai';
import nock from 'nock';
import { createProject, createTask, moveTask, startTestService, type TestService } from '../support/service.js';
import { giteaDelivery, type DeliveryOptions } from '../support/gitea-delivery.js';
import { fakeGitea, GITEA_URL } from '../support/fake-gitea.js';

/** Gitea's "Test Delivery" button sends a push of the branch's latest commit with before = after. */
describe("Gitea's test delivery", function () {
  let svc: TestService;
  let project: any;

  before(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    fakeGitea();
    svc = await startTestService({ GITEA_URL, GITEA_TOKEN: 'gitea-token', GITEA_BOT_LOGIN: 'aiworker-bot' });
    project = await createProject(svc, { argocdApplication: 'webapp-staging', argocdProductionApplication: 'webapp-prod' });
  });
  after(async () => {
    await svc?.cleanup();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  /** A push fixture whose before equals its after, as the button sends it. */
  const testPush = (extra: DeliveryOptions = {}): DeliveryOptions => ({
    ...extra,
    mutate: (p) => {
      extra.mutate?.(p);
      p.before = p.after;
    },
  });
  async function send(name: string, opts: DeliveryOptions): Promise<{ status: string; note: string | null }> {
    const d = giteaDelivery(name, opts);
    expect((await svc.deliver(d)).status).to.equal(202);
    const status = await svc.settled(d.id);
    const listed = (await svc.api('GET', '/api/webhooks/deliveries?status=ignored&limit=1000')).body.deliveries;
    return { status, note: listed.find((x: any) => x.id === d.id)?.lastError ?? null };
  }
  const syncJobs = async () =>
    (await svc.queues.get('deploy').getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).filter((j) => j.name === 'environment-sync');
  const deployments = async () => (await svc.api('GET', `/api/deployments?projectId=${project.id}`)).body;

  for (const [fixture, environment] of [['push.staging', 'staging'], ['push.main', 'production']] as const) {
    it(`to the ${environment} branch is recorded as ignored, says why, and syncs nothing`, async () => {
      const staged = await createTask(svc, project.id, `Staged before the ${environment} test`);
      await moveTask(svc, staged.id, 'in_progress', 'approved', 'staging');
      const { status, note } = await send(fixture, testPush());
      expect(status).to.equal('ignored');
      expect(note).to.match(/Gitea's test delivery/);
      expect(await syncJobs()).to.have.length(0);
      expect((await deployments()).total).to.equal(0);
      expect((await svc.api('GET', `/api/tasks/${staged.id}`)).body.state).to.equal('staging');
    });
  }

  it('to a task branch moves nothing', async () => {
    const t = await createTask(svc, project.id);
    const { status } = await send('push.task-branch', testPush({ taskId: t.id }));
    expect(status).to.equal('ignored');
    const task = (await svc.api('GET', `/api/tasks/${t.id}`)).body;
    expect(task.state).to.equal('backlog');
    expect(task.branch).to.equal(null);
  });

  it('a real push to the same branch still syncs (the check is before = after, not the branch)', async () => {
    expect((await send('push.staging', {})).status).to.equal('processed');
    expect((await syncJobs()).map((j) => j.data.environment)).to.deep.equal(['staging']);
  });
});
