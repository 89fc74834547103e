import { expect } from 'chai';
import { eventually } from '../../support/service.js';
import { DOMAIN, kube, previewService } from '../../support/previews.js';

describe('preview-teardown (jobs/preview-teardown.ts)', function () {
  this.timeout(60_000);
  const h = previewService();

  it('PR closed without merge: the preview namespace is deleted and the URL cleared', async () => {
    const { svc: s, task } = await h.start(h.kubeCluster());
    await h.openAndDeploy(s, task.id);
    expect((await h.getTask(s, task.id)).state).to.equal('ready_to_test');
    const asked = h.gitea.requests.length;

    const deleted = kube()
      .delete(`/api/v1/namespaces/preview-task-${task.id}`)
      .query({ propagationPolicy: 'Background' })
      .reply(200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name: `preview-task-${task.id}`, deletionTimestamp: '2025-06-03T09:00:00Z' }, status: { phase: 'Terminating' } });
    await h.send(s, 'pull_request.closed', { taskId: task.id });
    await eventually(async () => deleted.isDone(), 10_000, 'the namespace deletion');
    const teardown = await eventually(async () => {
      const { deployments: rows } = await h.deployments(s, `taskId=${task.id}`);
      return rows.find((d: any) => d.kind === 'teardown' && d.status === 'succeeded');
    }, 10_000, 'the teardown record');
    h.expectAllCallsMade();
    expect(h.gitea.requests.slice(asked), 'a teardown asks nothing of Gitea').to.deep.equal([]);

    expect(teardown).to.include({ environment: 'preview', dryRun: false, url: `https://task-${task.id}.${DOMAIN}` });
    expect(await h.getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
  });
});
