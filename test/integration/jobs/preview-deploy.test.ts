import { expect } from 'chai';
import { giteaDelivery } from '../../support/gitea-delivery.js';
import type { GiteaServer } from '../../support/gitea-server.js';
import type { KubeApiServer } from '../../support/kube-api-server.js';
import { loopbackStack } from '../../support/loopback-stack.js';
import { createProject, createTask, eventually, type TestService } from '../../support/service.js';
import { kubeStatus, resourceList } from '../../support/kube-shapes.js';
import { setTaskColumns } from '../../support/task-rows.js';
import { applied, applyAndRollout, availableDeployment, deploymentRefused, discovery, DOMAIN, IMAGE, kube, OPENED_SHA, paths, PR, previewService, SYNC_SHA } from '../../support/previews.js';

describe('preview-deploy: webhook → queue → job → Kubernetes and Gitea APIs (jobs/preview-deploy.ts)', function () {
  this.timeout(60_000);
  const h = previewService();

  it('PR opened: deploys the head, task → ready_to_test, one comment; a new head redeploys and edits that comment', async () => {
    const { svc: s, project, task } = await h.start(h.kubeCluster());
    const sent: any[] = [];
    discovery();
    applyAndRollout(task.id, sent);

    await h.send(s, 'pull_request.opened', { taskId: task.id });
    const url = `https://task-${task.id}.${DOMAIN}`;
    await eventually(async () => (await h.getTask(s, task.id)).state === 'ready_to_test', 15_000, 'ready_to_test');
    await h.reported({ statuses: 2, commentCalls: 1 }, 'the Gitea calls after the rollout');
    h.expectAllCallsMade();
    expect(h.statuses()).to.deep.equal([[OPENED_SHA, 'pending'], [OPENED_SHA, 'success']]);

    const ready = await h.getTask(s, task.id);
    expect(ready).to.include({ state: 'ready_to_test', previewUrl: url, headSha: OPENED_SHA, prNumber: PR });
    // What was applied: the project's image at the PR head, in the task's namespace, at the task's host.
    expect(sent.map((r) => `${r.body.kind}/${r.body.metadata.name}`)).to.deep.equal([
      `Namespace/preview-task-${task.id}`,
      'Deployment/preview',
      'Service/preview',
      'Ingress/preview',
    ]);
    expect(sent[1].body.spec.template.spec.containers[0].image).to.equal(`${IMAGE}:${OPENED_SHA}`);
    expect(sent[3].body.spec.rules[0].host).to.equal(`task-${task.id}.${DOMAIN}`);
    expect(h.gitea.statuses.map((st) => st.state)).to.deep.equal(['pending', 'success']);
    expect(h.gitea.statuses[1].targetUrl).to.equal(url);
    expect(h.gitea.comments).to.have.length(1);
    expect(h.gitea.comments[0].body).to.contain(url).and.to.contain(OPENED_SHA.slice(0, 7)).and.to.contain('<!-- aiworker -->');

    const events = await h.taskEvents(s, task.id);
    expect(events.map((e) => e.type).slice(-4)).to.deep.equal(['deploy:started', 'task:status_changed', 'task:ready_to_test', 'deploy:completed']);
    expect(events.at(-3)).to.include({ from: 'in_progress', to: 'ready_to_test', actor: 'aiworker' });
    const first = await h.deployments(s, `taskId=${task.id}`);
    expect(first.total).to.equal(1);
    expect(first.deployments[0]).to.include({ environment: 'preview', kind: 'preview', status: 'succeeded', url, commitSha: OPENED_SHA, dryRun: false, error: null, projectId: project.id });
    expect(first.deployments[0].taskIds).to.deep.equal([task.id]);

    // New commits: the task waits in in_progress for their preview, then the same comment is edited.
    applyAndRollout(task.id, sent);
    h.gitea.openPull(PR, SYNC_SHA);
    await h.send(s, 'pull_request.synchronized', { taskId: task.id });
    await h.reported({ statuses: 4, commentCalls: 2 }, 'the redeploy');
    h.expectAllCallsMade();
    expect(h.statuses().slice(2)).to.deep.equal([[SYNC_SHA, 'pending'], [SYNC_SHA, 'success']]);

    const redeployed = await h.getTask(s, task.id);
    expect(redeployed).to.include({ state: 'ready_to_test', previewUrl: url, headSha: SYNC_SHA });
    expect(sent[5].body.spec.template.spec.containers[0].image).to.equal(`${IMAGE}:${SYNC_SHA}`);
    expect(h.commentCalls()).to.deep.equal(['POST', 'PATCH']);
    expect(h.gitea.edits.map((e) => e.id)).to.deep.equal([h.gitea.comments[0].id]);
    expect(h.gitea.edits[0].body).to.contain(SYNC_SHA.slice(0, 7)).and.to.contain(url);
    const moves = (await h.taskEvents(s, task.id)).filter((e) => e.type === 'task:status_changed').map((e) => `${e.from}->${e.to}`);
    expect(moves.slice(-3)).to.deep.equal(['in_progress->ready_to_test', 'ready_to_test->in_progress', 'in_progress->ready_to_test']);
    const both = await h.deployments(s, `taskId=${task.id}&environment=preview`);
    expect(both.deployments.map((d: any) => [d.commitSha, d.status])).to.deep.equal([
      [SYNC_SHA, 'succeeded'],
      [OPENED_SHA, 'succeeded'],
    ]);
  });

  it('a task waiting for an answer keeps its state; its preview URL is still set and posted', async () => {
    const { svc: s, task } = await h.start(h.kubeCluster());
    await s.tasks.ask(task.id, null, 'Which OAuth provider?', 'agent');
    await h.openAndDeploy(s, task.id);
    h.expectAllCallsMade();

    const after = await eventually(async () => {
      const t = await h.getTask(s, task.id);
      return t.previewUrl ? t : null;
    });
    expect(after).to.include({ state: 'needs_input', previewUrl: `https://task-${task.id}.${DOMAIN}` });
    expect((await h.taskEvents(s, task.id)).map((e) => e.type)).not.to.include('task:ready_to_test');
  });

  it('retries 503s from the API server with backoff and still deploys', async () => {
    const { svc: s, task } = await h.start(h.kubeCluster());
    const unavailable = kubeStatus(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    const scope = kube().get('/api/v1').reply(200, resourceList('v1', [['namespaces', 'Namespace', false], ['services', 'Service', true]]));
    scope.patch(paths(task.id).namespace).times(3).reply(503, unavailable);
    scope
      .get('/apis/apps/v1')
      .reply(200, resourceList('apps/v1', [['deployments', 'Deployment', true]]))
      .get('/apis/networking.k8s.io/v1')
      .reply(200, resourceList('networking.k8s.io/v1', [['ingresses', 'Ingress', true]]));
    applyAndRollout(task.id, [], scope);

    await h.promptRetries(s, async () => {
      await h.send(s, 'pull_request.opened', { taskId: task.id });
      await eventually(async () => (await h.getTask(s, task.id)).state === 'ready_to_test', 30_000, 'ready_to_test after retries');
      await h.reported({ statuses: 2, commentCalls: 1 }, 'the Gitea calls');
    });
    h.expectAllCallsMade();
    // One pending status for the whole deploy: retries continue it rather than starting over.
    expect(h.statuses()).to.deep.equal([[OPENED_SHA, 'pending'], [OPENED_SHA, 'success']]);

    const [job] = await h.finishedDeployJobs(s, 1);
    expect(await job.getState()).to.equal('completed');
    expect(job.attemptsMade, "three failed attempts and the one that succeeded").to.equal(4);
    const { deployments: rows } = await h.deployments(s, `taskId=${task.id}`);
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ status: 'succeeded', error: null });
    const types = (await h.taskEvents(s, task.id)).map((e) => e.type);
    expect(types.filter((t) => t === 'deploy:started')).to.have.length(1);
    expect(types.filter((t) => t === 'deploy:completed')).to.have.length(1);
  });

  it('an invalid manifest (422) fails once: failure status, one comment saying why, task unchanged', async () => {
    const { svc: s, task } = await h.start(h.kubeCluster());
    const message = 'Deployment.apps "preview" is invalid: spec.template.spec.containers[0].image: Invalid value: "registry.example.com/acme/webapp:c9de627": must be pulled';
    deploymentRefused(task.id, message);

    const job = await h.deployOpened(s, task.id, { statuses: 2, commentCalls: 1 }, 'the failure reports');
    expect(h.statuses()).to.deep.equal([[OPENED_SHA, 'pending'], [OPENED_SHA, 'failure']]);

    expect(await job.getState()).to.equal('failed');
    expect(job.attemptsMade, 'an invalid manifest is not retried').to.equal(1);
    expect(job.failedReason).to.contain('HTTP 422 Invalid');
    expect(h.gitea.statuses[1].description).to.match(/^preview failed: apply Deployment preview-task-\d+\/preview failed: HTTP 422 Invalid/);
    expect(h.gitea.comments).to.have.length(1);
    expect(h.gitea.comments[0].body).to.contain('failed').and.to.contain(message).and.to.contain('`/retry`');
    expect(await h.getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
    const { deployments: rows } = await h.deployments(s, `taskId=${task.id}`);
    expect(rows[0]).to.include({ status: 'failed', url: null });
    expect(rows[0].error).to.contain(message);
    expect(rows[0].finishedAt).to.be.a('string');
    const events = await h.taskEvents(s, task.id);
    expect(events.map((e) => e.type).slice(-2)).to.deep.equal(['deploy:started', 'deploy:completed']);
    expect(events.at(-1).reason).to.contain('HTTP 422');
  });

  it('a 503 on every attempt fails for good on the last one', async () => {
    const { svc: s, task } = await h.start(h.kubeCluster());
    kube()
      .get('/api/v1')
      .reply(200, resourceList('v1', [['namespaces', 'Namespace', false]]))
      .patch(paths(task.id).namespace)
      .times(5)
      .reply(503, kubeStatus(503, 'ServiceUnavailable', 'etcdserver: leader changed'));

    const job = await h.promptRetries(s, async () => {
      await h.send(s, 'pull_request.opened', { taskId: task.id });
      const failed = await eventually(async () => (await s.queues.get('deploy').getFailed())[0], 30_000, 'the deploy to fail');
      await h.reported({ statuses: 2, commentCalls: 1 }, 'the failure reports');
      return failed;
    });
    h.expectAllCallsMade();
    expect(h.statuses()).to.deep.equal([[OPENED_SHA, 'pending'], [OPENED_SHA, 'failure']]);

    expect(job.attemptsMade).to.equal(5);
    expect(h.gitea.comments).to.have.length(1);
    expect(h.gitea.comments[0].body).to.contain('leader changed');
    expect(await h.getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
    const { deployments: rows } = await h.deployments(s, `taskId=${task.id}`);
    expect(rows).to.have.length(1);
    expect(rows[0].status).to.equal('failed');
    expect(rows[0].error).to.contain('HTTP 503');
  });

  it('/retry after a failure re-runs the same deploy, and the failure comment becomes the preview comment', async () => {
    const { svc: s, task } = await h.start(h.kubeCluster());
    const scope = deploymentRefused(task.id, 'Deployment.apps "preview" is invalid: spec.replicas: Invalid value: -1');
    await h.send(s, 'pull_request.opened', { taskId: task.id });
    await h.finishedDeployJobs(s, 1);
    await h.reported({ statuses: 2, commentCalls: 1 }, 'the failure reports');
    expect(h.statuses()).to.deep.equal([[OPENED_SHA, 'pending'], [OPENED_SHA, 'failure']]);

    // The cluster is fixed; /retry (JobScheduler.retryLastFailed) runs the failed job again.
    scope.get('/apis/networking.k8s.io/v1').reply(200, resourceList('networking.k8s.io/v1', [['ingresses', 'Ingress', true]]));
    applyAndRollout(task.id, [], scope);
    const retried = await s.jobs.retryLastFailed(task.id);
    expect(retried?.name).to.equal('preview-deploy');
    await eventually(async () => (await h.getTask(s, task.id)).state === 'ready_to_test', 15_000, 'ready_to_test after /retry');
    await h.reported({ statuses: 4, commentCalls: 2 }, 'the success reports');
    h.expectAllCallsMade();
    expect(h.statuses().slice(2)).to.deep.equal([[OPENED_SHA, 'pending'], [OPENED_SHA, 'success']]);

    expect(h.commentCalls()).to.deep.equal(['POST', 'PATCH']);
    expect(h.gitea.edits.map((e) => e.id)).to.deep.equal([h.gitea.comments[0].id]);
    expect(h.gitea.edits[0].body).to.contain(`https://task-${task.id}.${DOMAIN}`);
    const { deployments: rows } = await h.deployments(s, `taskId=${task.id}`);
    expect(rows.map((d: any) => [d.status, d.jobId, d.error])).to.deep.equal([['succeeded', retried!.id, null]]);
    const types = (await h.taskEvents(s, task.id)).map((e) => e.type);
    expect(types.slice(-6)).to.deep.equal(['deploy:started', 'deploy:completed', 'deploy:started', 'task:status_changed', 'task:ready_to_test', 'deploy:completed']);
  });

  it('a push during the rollout: the finished preview is stale, so the task waits for the new head', async () => {
    const { svc: s, task } = await h.start(h.kubeCluster());
    const newer = 'f'.repeat(40);
    const p = paths(task.id);
    discovery()
      .patch(p.namespace)
      .reply(200, (_uri, body) => applied(body))
      .patch(p.deployment)
      .reply(200, (_uri, body) => applied(body))
      .patch(p.service)
      .reply(200, (_uri, body) => applied(body))
      .patch(p.ingress)
      .reply(200, (_uri, body) => applied(body))
      .get(p.read)
      .reply(200, async () => {
        // What a push handled while the rollout runs does to the task (handlers/lib/tasks.ts recordHead).
        await setTaskColumns(s.deps, task.id, { head_sha: newer });
        return availableDeployment(task.id);
      });

    const job = await h.deployOpened(s, task.id, { statuses: 2, commentCalls: 0 }, 'the status');
    expect(h.statuses()).to.deep.equal([[OPENED_SHA, 'pending'], [OPENED_SHA, 'success']]);

    expect(job.returnvalue).to.include({ status: 'succeeded', current: false });
    expect(h.gitea.statuses[1].description).to.equal(`preview deployed; superseded by ${newer.slice(0, 7)}`);
    expect(h.gitea.comments).to.deep.equal([]);
    expect(h.commentCalls()).to.deep.equal([]);
    expect(await h.getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null, headSha: newer });
  });

  it('dry-run (no cluster): renders and stores the manifests, says dry-run, and deploys nothing', async () => {
    const { svc: s, project, task } = await h.start(null);

    const job = await h.deployOpened(s, task.id, { statuses: 2, commentCalls: 1 }, 'the dry-run reports');
    expect(h.statuses()).to.deep.equal([[OPENED_SHA, 'pending'], [OPENED_SHA, 'warning']]);

    expect(job.returnvalue).to.include({ status: 'dry-run', url: null });
    expect(h.gitea.statuses.every((st) => st.description.startsWith('dry-run:'))).to.equal(true);
    expect(h.gitea.statuses.map((st) => st.state), 'a dry-run is never success').to.deep.equal(['pending', 'warning']);
    expect(h.gitea.statuses[1].targetUrl ?? '').to.equal('');
    expect(h.gitea.comments[0].body).to.contain('dry-run').and.not.to.contain('https://task-');
    // Nothing pretends to be deployed.
    expect(await h.getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
    expect((await h.taskEvents(s, task.id)).map((e) => e.type)).not.to.include('task:ready_to_test');

    const list = await h.deployments(s, `projectId=${project.id}`);
    expect(list.total).to.equal(1);
    const [listed] = list.deployments;
    expect(listed).to.include({ kind: 'preview', environment: 'preview', dryRun: true, url: null, commitSha: OPENED_SHA, status: 'succeeded' });
    expect(listed).not.to.have.property('manifests');
    const one = await s.api('GET', `/api/deployments/${listed.id}`);
    expect(one.status).to.equal(200);
    expect(one.body.manifests.map((m: any) => `${m.kind}/${m.metadata.name}`)).to.deep.equal([
      `Namespace/preview-task-${task.id}`,
      'Deployment/preview',
      'Service/preview',
      'Ingress/preview',
    ]);
    expect(one.body.manifests[1].spec.template.spec.containers[0].image).to.equal(`${IMAGE}:${OPENED_SHA}`);
    expect((await s.api('GET', '/api/deployments/999999')).status).to.equal(404);
    expect((await s.api('GET', '/api/deployments?environment=qa')).status).to.equal(400);

    // The teardown of a dry-run preview is recorded as a dry-run too.
    const asked = h.gitea.requests.length;
    await h.send(s, 'pull_request.closed', { taskId: task.id });
    const teardown = await eventually(async () => {
      const { deployments: rows } = await h.deployments(s, `taskId=${task.id}`);
      return rows.find((d: any) => d.kind === 'teardown' && d.status === 'succeeded');
    }, 10_000, 'the dry-run teardown record');
    expect(teardown).to.include({ dryRun: true, environment: 'preview' });
    h.expectAllCallsMade();
    expect(h.gitea.requests.slice(asked), 'a teardown asks nothing of Gitea').to.deep.equal([]);
  });

  it('preview settings that cannot be rendered fail at once, without calling the cluster', async () => {
    const { svc: s, task } = await h.start(h.kubeCluster(), { previewImage: IMAGE, previewSettings: { containerPort: 70000 } });
    const job = await h.deployOpened(s, task.id, { statuses: 2, commentCalls: 1 }, 'the failure reports');
    expect(h.statuses()).to.deep.equal([[OPENED_SHA, 'pending'], [OPENED_SHA, 'failure']]);

    expect(await job.getState()).to.equal('failed');
    expect(job.attemptsMade).to.equal(1);
    expect(h.gitea.comments[0].body).to.contain('invalid container port: 70000');
    const { deployments: rows } = await h.deployments(s, `taskId=${task.id}`);
    expect(rows[0]).to.include({ status: 'failed' });
    expect(rows[0].error).to.contain('cannot be rendered');
    expect(await h.getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
  });

  it('a project without previews deploys nothing and calls nobody', async () => {
    const { svc: s, task } = await h.start(h.kubeCluster(), {});
    await h.send(s, 'pull_request.opened', { taskId: task.id });
    const [job] = await h.finishedDeployJobs(s, 1);
    expect(job.returnvalue).to.include({ status: 'skipped' });
    expect(job.returnvalue.note).to.contain('without previews');
    h.expectAllCallsMade();
    expect(h.gitea.requests, 'nothing asked of Gitea').to.deep.equal([]);
    expect((await h.deployments(s, `taskId=${task.id}`)).total).to.equal(0);
    expect(await h.getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
  });
});

const PUSHES = 5;
const pushSha = (i: number) => `${String(i + 1).padStart(2, '0')}`.padEnd(40, 'b');

describe('preview-deploy: a burst of pushes to a pull request (jobs/preview-deploy.ts)', function () {
  this.timeout(60_000);
  // Default preview settings: nothing here shortens or lengthens how previews are queued.
  const stack = loopbackStack();
  let kube: KubeApiServer;
  let gitea: GiteaServer;
  let svc: TestService;
  before(() => ({ kube, gitea, svc } = stack));

  it('deploys the first head at once, then once more for the newest head, never more', async () => {
    const project = await createProject(svc, { previewImage: IMAGE });
    const task = await createTask(svc, project.id);
    expect((await svc.api('PATCH', `/api/tasks/${task.id}`, { state: 'in_progress' })).status).to.equal(200);

    // Kubernetes holds the first deploy's applies: that deploy stays running while the burst arrives.
    kube.hold();
    gitea.openPull(7, OPENED_SHA, `task-${task.id}-add-login`);
    const opened = giteaDelivery('pull_request.opened', { taskId: task.id });
    expect((await svc.deliver(opened)).status).to.equal(202);
    // The first deploy reached the cluster before any later delivery was even sent.
    await eventually(async () => kube.applies().length > 0, 20_000, 'the first deploy to reach the cluster');
    const [first] = (await svc.queues.get('deploy').getJobs(['active'])).filter((j) => j.name === 'preview-deploy');
    expect(first, 'the first deploy is running').to.not.equal(undefined);
    expect(first!.opts.delay ?? 0, 'queued without a delay').to.equal(0);

    for (let i = 0; i < PUSHES; i++) {
      gitea.openPull(7, pushSha(i), `task-${task.id}-add-login`);
      const d = giteaDelivery('pull_request.synchronized', { taskId: task.id, mutate: (p) => (p.pull_request.head.sha = pushSha(i)) });
      expect((await svc.deliver(d)).status).to.equal(202);
      expect(await svc.settled(d.id)).to.equal('processed');
    }
    const newest = pushSha(PUSHES - 1);
    expect((await svc.tasks.get(task.id)).headSha).to.equal(newest);
    kube.release();

    const done = await eventually(async () => {
      const t = await svc.tasks.get(task.id);
      const pending = await svc.queues.get('deploy').getJobs(['waiting', 'delayed', 'active', 'prioritized']);
      return t.state === 'ready_to_test' && pending.length === 0 ? t : null;
    }, 30_000, 'the newest head to be ready to test');
    expect(done.previewUrl).to.equal(`https://task-${task.id}.preview.example.com`);

    // Two deploys: the head of the first event, then the newest head; nothing in between.
    const deploys = (await svc.queues.get('deploy').getJobs(['completed', 'failed'])).filter((j) => j.name === 'preview-deploy');
    expect(deploys.map((j) => j.finishedOn && j.returnvalue?.status)).to.deep.equal(['succeeded', 'succeeded']);
    const rows = await svc.db('deployments').where({ task_id: task.id, kind: 'preview' }).orderBy('id');
    expect(rows.map((r: any) => [r.commit_sha, r.status])).to.deep.equal([
      [OPENED_SHA, 'succeeded'],
      [newest, 'succeeded'],
    ]);
    const images = kube.applies().filter((r) => r.path.includes('/deployments/')).length;
    expect(images, 'one Deployment apply per deploy').to.equal(2);
    // The outbox has nothing left to run: the coalesced requests are the second deploy.
    expect(await svc.db('job_outbox').where({ name: 'preview-deploy', status: 'pending' })).to.deep.equal([]);
  });
});
