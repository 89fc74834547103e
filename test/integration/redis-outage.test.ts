import { expect } from 'chai';
import { createProject, eventually, startTestService, type TestService } from '../support/service.js';
import { giteaDelivery } from '../support/gitea-delivery.js';
import { freePort, TestRedis } from '../support/redis-server.js';
import { setTaskColumns } from '../support/task-rows.js';

describe('Redis outage during ingest', function () {
  this.timeout(90_000);
  let redis: TestRedis;
  let svc: TestService;

  before(async () => {
    redis = new TestRedis(await freePort());
    await redis.start();
    svc = await startTestService({ REDIS_URL: redis.url });
    await createProject(svc);
  });
  after(async () => {
    await svc?.cleanup();
    await redis?.stop();
  });

  it('keeps every delivery while Redis is down and handles each exactly once when it is back', async () => {
    const issue = (n: number) => giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.number = n) });
    const before = Array.from({ length: 20 }, (_, i) => issue(100 + i));
    const during = Array.from({ length: 20 }, (_, i) => issue(200 + i));
    const after = Array.from({ length: 20 }, (_, i) => issue(300 + i));

    // Some arrive just as Redis dies: queued jobs it held are lost with it.
    const first = await Promise.all(before.map((d) => svc.deliver(d)));
    expect(first.every((r) => r.status === 202)).to.equal(true);
    await redis.stop();

    const down = await Promise.all(during.map((d) => svc.deliver(d)));
    expect(down.map((r) => r.status)).to.deep.equal(during.map(() => 202));
    expect(down.map((r) => r.body.status)).to.deep.equal(during.map(() => 'received'));
    const ready = await fetch(`${svc.url}/readyz`);
    expect(ready.status).to.equal(503);
    expect(((await ready.json()) as any).checks.redis.status).to.equal('error');

    await redis.start();
    await eventually(async () => (await fetch(`${svc.url}/readyz`)).status === 200, 20_000, 'ready again');
    await Promise.all(after.map((d) => svc.deliver(d)));

    const all = [...before, ...during, ...after];
    await eventually(async () => {
      const rows = await svc.db('webhook_deliveries').whereIn('delivery_id', all.map((d) => d.id)).andWhere('status', 'processed');
      return rows.length === all.length;
    }, 60_000, 'every delivery processed').catch(async (err) => {
      const rows = await svc.db('webhook_deliveries').whereIn('delivery_id', all.map((d) => d.id)).select('status', 'attempts', 'last_error');
      const summary = rows.reduce<Record<string, number>>((acc, r: any) => ((acc[`${r.status}/${r.attempts}/${r.last_error}`] = (acc[`${r.status}/${r.attempts}/${r.last_error}`] ?? 0) + 1), acc), {});
      throw new Error(`${(err as Error).message}: ${JSON.stringify(summary)}`);
    });
    // A delivery whose handler was cut off by the outage runs again and converges: never doubled.
    const rows = await svc.db('webhook_deliveries').whereIn('delivery_id', all.map((d) => d.id));
    expect(rows.filter((r: any) => r.attempts > 2)).to.deep.equal([]);
    const tasks = await svc.db('tasks').whereIn('issue_number', [...Array(20).keys()].flatMap((i) => [100 + i, 200 + i, 300 + i]));
    expect(tasks).to.have.length(60);
  });

  it('runs a deploy queued while Redis was down once it is back (the MySQL outbox)', async () => {
    const project = await createProject(svc, { name: 'With previews', repo: 'acme/previewed', previewImage: 'registry.example.com/acme/previewed' });
    const task = await svc.tasks.create({ projectId: project.id, title: 'Preview me', actor: 'test' });
    await svc.tasks.transition(task.id, 'in_progress', { source: 'rest', actor: 'test' });
    await setTaskColumns(svc.deps, task.id, { pr_number: 12, head_sha: 'a'.repeat(40), branch: `task-${task.id}-preview-me` });

    await redis.stop();
    const jobId = await svc.jobs.deployPreview(task.id, 'queued during the outage');
    const row = await svc.db('job_outbox').where({ job_id: jobId }).first();
    expect(row).to.include({ queue: 'deploy', name: 'preview-deploy', status: 'pending' });

    await redis.start();
    const deployment = await eventually(
      async () => (await svc.db('deployments').where({ task_id: task.id, kind: 'preview' }).first()) ?? null,
      30_000,
      'the recovered deploy to run',
    );
    expect(Boolean(deployment.dry_run)).to.equal(true);
    await eventually(async () => (await svc.db('job_outbox').where({ job_id: jobId }).first()).status === 'done', 10_000, 'the outbox entry to be done');
    expect(await svc.db('deployments').where({ task_id: task.id, kind: 'preview' })).to.have.length(1);
  });
});
