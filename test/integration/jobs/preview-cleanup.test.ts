import { expect } from 'chai';
import { schedulePreviewCleanup } from '../../../jobs/preview-cleanup.js';
import { createTask, eventually } from '../../support/service.js';
import { setTaskColumns } from '../../support/task-rows.js';
import { DOMAIN, IMAGE, kube, previewService } from '../../support/previews.js';

describe('preview-cleanup (jobs/preview-cleanup.ts)', function () {
  this.timeout(60_000);
  const h = previewService();

  it('cleanup deletes previews of finished, expired and vanished tasks, and keeps live ones', async () => {
    const { svc: s, project, task: live } = await h.start(h.kubeCluster(), { previewImage: IMAGE }, false);
    const cancelled = await createTask(s, project.id, 'Cancelled');
    expect((await s.api('PATCH', `/api/tasks/${cancelled.id}`, { state: 'cancelled' })).status).to.equal(200);
    const expired = await createTask(s, project.id, 'Expired');
    await setTaskColumns(s.deps, expired.id, { preview_url: `https://task-${expired.id}.${DOMAIN}` });

    const future = new Date(Date.now() + 3600_000).toISOString();
    const past = new Date(Date.now() - 60_000).toISOString();
    const namespace = (name: string, labels: Record<string, string>, expiresAt?: string) => ({
      metadata: {
        name,
        uid: `uid-${name}`,
        resourceVersion: '1',
        creationTimestamp: new Date().toISOString(),
        labels: { 'kubernetes.io/metadata.name': name, 'app.kubernetes.io/managed-by': 'aiworker', ...labels },
        ...(expiresAt ? { annotations: { 'aiworker.dev/expires-at': expiresAt } } : {}),
      },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
    const of = (taskId: number, pid = project.id) => ({ 'aiworker.dev/project': String(pid), 'aiworker.dev/task': String(taskId) });
    kube()
      .get('/api/v1/namespaces')
      .query({ labelSelector: 'app.kubernetes.io/managed-by=aiworker', limit: '500' })
      .reply(200, {
        kind: 'NamespaceList',
        apiVersion: 'v1',
        metadata: { resourceVersion: '900' },
        items: [
          namespace(`preview-task-${live.id}`, of(live.id), future),
          namespace(`preview-task-${cancelled.id}`, of(cancelled.id), future),
          namespace(`preview-task-${expired.id}`, of(expired.id), past),
          namespace('preview-task-424242', of(424242), future),
          // Same task id, other project: not this task's preview (another installation's, or a stale one).
          namespace('preview-task-other', of(live.id, project.id + 1000), future),
        ],
      });
    const deletions: string[] = [];
    for (const name of [`preview-task-${cancelled.id}`, `preview-task-${expired.id}`, 'preview-task-424242', 'preview-task-other']) {
      kube()
        .delete(`/api/v1/namespaces/${name}`)
        .query({ propagationPolicy: 'Background' })
        .reply(200, () => {
          deletions.push(name);
          return { kind: 'Namespace', apiVersion: 'v1', metadata: { name }, status: { phase: 'Terminating' } };
        });
    }

    // The scheduler runs its first round right away, then every `everyMs`.
    await schedulePreviewCleanup(s.queues, 3600_000);
    const job = await eventually(async () => {
      const jobs = await s.queues.get('cleanup').getJobs(['completed', 'failed']);
      return jobs.find((j) => j.name === 'preview-cleanup');
    }, 15_000, 'the first cleanup round');
    h.expectAllCallsMade();
    expect(h.gitea.requests, 'nothing asked of Gitea').to.deep.equal([]);

    expect(await job.getState()).to.equal('completed');
    expect(deletions.sort()).to.deep.equal([`preview-task-${cancelled.id}`, `preview-task-${expired.id}`, 'preview-task-424242', 'preview-task-other'].sort());
    expect(job.returnvalue).to.include({ kept: 1 });
    const schedulers = await s.queues.get('cleanup').getJobSchedulers();
    expect(schedulers.map((x) => [x.key, x.every])).to.deep.equal([['preview-cleanup', 3600_000]]);
    expect(await h.getTask(s, expired.id)).to.include({ previewUrl: null });
    const { deployments: rows } = await h.deployments(s, `projectId=${project.id}`);
    expect(rows.map((d: any) => [d.taskId, d.kind, d.status]).sort()).to.deep.equal(
      [
        [cancelled.id, 'teardown', 'succeeded'],
        [expired.id, 'teardown', 'succeeded'],
      ].sort(),
    );
  });
});
