import { expect } from 'chai';
import { createTask } from '../../support/service.js';
import { handlerService } from '../../support/handler-service.js';

describe('pull_request: opened, merged, closed (handlers/pull-request.ts)', function () {
  const h = handlerService();

  it('opened links the PR and queues one preview deploy', async () => {
    const t = await createTask(h.svc, h.project.id);
    await h.setState(t.id, 'in_progress');
    expect((await h.send('pull_request.opened', { taskId: t.id, prNumber: 21 })).status).to.equal('processed');
    const after = await h.task(t.id);
    expect(after).to.include({ prNumber: 21, state: 'in_progress', branch: `task-${t.id}-add-login` });
    expect(after.prUrl).to.equal(`https://gitea.example.com/acme/webapp/pulls/21`);
    expect(await h.deployJobs()).to.include(`preview-deploy:${t.id}`);
  });

  it('links a PR through a "Task: <id>" body line', async () => {
    const t = await createTask(h.svc, h.project.id);
    await h.send('pull_request.opened', {
      prNumber: 22,
      mutate: (p) => {
        p.pull_request.head.ref = p.pull_request.head.label = 'feature/login';
        p.pull_request.body = `Adds login.\n\nTask: ${t.id}\n`;
      },
    });
    expect((await h.task(t.id)).prNumber).to.equal(22);
  });

  it('merged into staging moves the task to staging and tears the preview down', async () => {
    const t = await h.prTask(25, 'approved');
    expect((await h.send('pull_request.merged-staging', { taskId: t.id, prNumber: 25 })).status).to.equal('processed');
    expect((await h.task(t.id)).state).to.equal('staging');
    expect(await h.deployJobs()).to.include(`preview-teardown:${t.id}`);
    // Gitea's fact applies once; a replay converges.
    const replay = await h.send('pull_request.merged-staging', { taskId: t.id, prNumber: 25 });
    expect(replay.status).to.equal('processed');
    const events = (await h.svc.api('GET', `/api/tasks/${t.id}/events`)).body.events.filter((e: any) => e.to === 'staging');
    expect(events).to.have.length(1);
  });

  it('a promotion merged into main moves every staging task to production', async () => {
    const a = await createTask(h.svc, h.project.id);
    const b = await createTask(h.svc, h.project.id);
    for (const [t, n] of [[a, 26], [b, 27]] as const) {
      await h.send('pull_request.opened', { taskId: t.id, prNumber: n });
      await h.send('pull_request.merged-staging', { taskId: t.id, prNumber: n });
    }
    expect((await h.send('pull_request.merged-main')).status).to.equal('processed');
    expect((await h.task(a.id)).state).to.equal('production');
    expect((await h.task(b.id)).state).to.equal('production');
  });

  it('a task PR merged straight into the default branch goes to production', async () => {
    const t = await h.prTask(28);
    await h.send('pull_request.merged-staging', { taskId: t.id, prNumber: 28, mutate: (p) => (p.pull_request.base.ref = p.pull_request.base.label = 'main') });
    expect((await h.task(t.id)).state).to.equal('production');
  });

  it('closed without merge tears the preview down and sends the task back to in_progress', async () => {
    const t = await h.prTask(29, 'ready_to_test');
    expect((await h.send('pull_request.closed', { taskId: t.id, prNumber: 29 })).status).to.equal('processed');
    expect((await h.task(t.id)).state).to.equal('in_progress');
    expect(await h.deployJobs()).to.include(`preview-teardown:${t.id}`);
  });

  it('PRs of no task and other actions are ignored', async () => {
    expect((await h.send('pull_request.opened', { prNumber: 60, mutate: (p) => { p.pull_request.head.ref = p.pull_request.head.label = 'feature/x'; p.pull_request.body = 'No task here.'; } })).status).to.equal('ignored');
    expect((await h.send('pull_request.labeled')).status).to.equal('ignored');
  });
});
