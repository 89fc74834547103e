import { expect } from 'chai';
import { Redis } from 'ioredis';
import { argoSync, jsonOf, mergeService, nextSha } from '../../support/merges.js';
import { eventually, REDIS_URL, startTestService, type TestService } from '../../support/service.js';

describe('environment-sync: Argo CD (jobs/environment-sync.ts)', function () {
  this.timeout(60_000);
  const h = mergeService();

  it("a sync queued by a push names the task whose pull request Gitea says made the revision, and none when Gitea names none or fails", async () => {
    const { project: p, fake } = await h.project({ argocdApplication: 'train-staging-ui' });
    const t = await h.approvedTask(p.id, fake, 91);
    // Merged in Gitea's UI: the push to staging is all that queues the sync, with no task ids.
    const merged = fake.pulls.get(91)!;
    Object.assign(merged, { merged: true, state: 'closed', merge_commit_sha: nextSha() });
    fake.branches.set('staging', merged.merge_commit_sha!);
    const unknown = nextSha();
    const refused = nextSha();
    fake.script(`GET /commits/${refused}/pull`, [403, { message: 'token does not have at least one of required scope(s): [read:repository]', url: '' }]);
    for (const revision of [merged.merge_commit_sha!, unknown, refused]) {
      argoSync('train-staging-ui', { phase: 'Succeeded', message: 'successfully synced' }, (r) => r === revision);
      const { state, job } = await h.finished('deploy', await h.svc.jobs.syncEnvironment(p.id, 'staging', revision));
      expect(state, job.failedReason).to.equal('completed');
    }
    expect((await h.deployEvents(p.id)).filter((e: any) => e.type === 'deploy:started')).to.deep.equal([
      { type: 'deploy:started', environment: 'staging', taskIds: [t.id] },
      { type: 'deploy:started', environment: 'staging', taskIds: [] },
      { type: 'deploy:started', environment: 'staging', taskIds: [] },
    ]);
  });

  it('syncs the staging Application to the revision, follows it to Succeeded and publishes deploy:started/completed', async () => {
    const { project: p, fake } = await h.project({ argocdApplication: 'train-staging-ok' });
    const t = await h.approvedTask(p.id, fake, 81);
    const revision = nextSha();
    const argo = argoSync('train-staging-ok', { phase: 'Succeeded', message: 'successfully synced (all tasks run)' }, (r) => r === revision);
    const feed: any[] = [];
    const sub = new Redis(REDIS_URL);
    try {
      await sub.subscribe(`${h.svc.config.redisPrefix}:feed`);
      sub.on('message', (_channel, message) => feed.push(JSON.parse(message)));

      const jobId = await h.svc.jobs.syncEnvironment(p.id, 'staging', revision, [t.id]);
      const { state, job } = await h.finished('deploy', jobId);
      expect(state, job.failedReason).to.equal('completed');
      expect(argo.idle.isDone() && argo.patch.isDone() && argo.done.isDone()).to.equal(true);
      const url = 'https://train-staging-ok.example.com/';
      expect(job.returnvalue).to.deep.include({ status: 'succeeded', environment: 'staging', application: 'train-staging-ok', url });

      const rows = await h.svc.db('deployments').where({ project_id: p.id, kind: 'sync' });
      expect(rows).to.have.length(1);
      expect(rows[0]).to.include({ environment: 'staging', kind: 'sync', status: 'succeeded', url, commit_sha: revision, job_id: jobId, error: null });
      expect(Boolean(rows[0].dry_run)).to.equal(false);
      expect(jsonOf(rows[0].task_ids)).to.deep.equal([t.id]);
      expect(rows[0].finished_at).to.be.instanceOf(Date);

      expect(await h.deployEvents(p.id)).to.deep.equal([
        { type: 'deploy:started', environment: 'staging', taskIds: [t.id] },
        { type: 'deploy:completed', environment: 'staging', url, status: 'succeeded' },
      ]);
      await eventually(async () => feed.filter((e) => e.projectId === p.id).length === 2, 5000, 'feed messages');
      const published = feed.filter((e) => e.projectId === p.id);
      expect(published.map((e) => [e.type, e.payload.status ?? null])).to.deep.equal([
        ['deploy:started', null],
        ['deploy:completed', 'succeeded'],
      ]);
      expect(published[1].eventId).to.be.greaterThan(published[0].eventId);
    } finally {
      sub.disconnect();
    }
  });

  it('records a Failed sync of production as failed, with Argo CD\'s message, and fails the job', async () => {
    const { project: p } = await h.project({ argocdProductionApplication: 'train-prod-bad' });
    const message = 'one or more objects failed to apply, reason: Deployment.apps "web" is invalid';
    const revision = nextSha();
    argoSync('train-prod-bad', { phase: 'Failed', message }, (r) => r === revision);

    const jobId = await h.svc.jobs.syncEnvironment(p.id, 'production', revision, []);
    const { state, job } = await h.finished('deploy', jobId);

    expect(state).to.equal('failed');
    // Argo CD's verdict is final: no automatic retries, /retry can run it again.
    expect(job.attemptsMade).to.equal(1);
    const error = `Argo CD sync of train-prod-bad Failed: ${message}`;
    expect(job.failedReason).to.equal(error);
    const [row] = await h.svc.db('deployments').where({ project_id: p.id, kind: 'sync' });
    expect(row).to.include({ environment: 'production', kind: 'sync', status: 'failed', error, url: 'https://train-prod-bad.example.com/' });
    expect(await h.deployEvents(p.id)).to.deep.equal([
      { type: 'deploy:started', environment: 'production', taskIds: [] },
      { type: 'deploy:completed', environment: 'production', url: 'https://train-prod-bad.example.com/', status: 'failed' },
    ]);
  });

  it('does nothing for an environment without an Application', async () => {
    const { project: p } = await h.project({ argocdApplication: 'only-staging' });
    const jobId = await h.svc.jobs.syncEnvironment(p.id, 'production', nextSha(), []);
    const { job } = await h.finished('deploy', jobId);
    expect(job.returnvalue).to.deep.include({ status: 'skipped', deploymentId: null });
    expect(await h.svc.db('deployments').where({ project_id: p.id, kind: 'sync' })).to.deep.equal([]);
    expect(await h.deployEvents(p.id)).to.deep.equal([]);
  });
});

describe('environment-sync without Kubernetes: dry-run (jobs/environment-sync.ts)', function () {
  this.timeout(30_000);
  let svc: TestService;

  before(async () => {
    svc = await startTestService({}, { cluster: null });
  });
  after(async () => {
    await svc?.cleanup();
  });

  it('records a dry-run deployment and publishes deploy:completed with status dry-run', async () => {
    const res = await svc.api('POST', '/api/projects', { name: 'web', repo: 'acme/dry', argocdApplication: 'dry-staging' });
    const jobId = await svc.jobs.syncEnvironment(res.body.id, 'staging', 'b'.repeat(40), []);
    await eventually(async () => (await svc.queues.get('deploy').getJobState(jobId)) === 'completed');
    const job = (await svc.queues.get('deploy').getJob(jobId))!;
    expect(job.returnvalue).to.deep.include({ status: 'dry-run', url: null });
    const [row] = await svc.db('deployments').where({ project_id: res.body.id });
    expect(row).to.include({ environment: 'staging', kind: 'sync', url: null, commit_sha: 'b'.repeat(40) });
    expect(Boolean(row.dry_run)).to.equal(true);
    const events = await svc.db('task_events').where({ project_id: res.body.id, type: 'deploy:completed' });
    expect(events.map((e: any) => jsonOf(e.data))).to.deep.equal([{ environment: 'staging', url: null, status: 'dry-run' }]);
  });
});
