import { expect } from 'chai';
import { createKubeCluster } from '../../src/k8s/cluster.js';
import { giteaDelivery } from '../support/gitea-delivery.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-api-server.js';
import { createProject, createTask, eventually, startTestService, type TestService } from '../support/service.js';

const IMAGE = 'registry.example.com/acme/webapp';
/** Head commit of the pull_request.opened fixture. */
const OPENED_SHA = 'c9de6274405f2cf52adabba61b36257fff6809af';
const PUSHES = 5;
const pushSha = (i: number) => `${String(i + 1).padStart(2, '0')}`.padEnd(40, 'b');

describe('a burst of pushes to a pull request (preview deploys)', function () {
  this.timeout(60_000);
  let kube: KubeApiServer;
  let gitea: GiteaServer;
  let svc: TestService;

  before(async () => {
    kube = await startKubeApiServer();
    gitea = await startGiteaServer();
    // Default preview settings: nothing here shortens or lengthens how previews are queued.
    svc = await startTestService({ ...gitea.env(), PREVIEW_DOMAIN: 'preview.example.com' }, { cluster: createKubeCluster({ kubeConfig: kube.kubeConfig() }) });
  });
  after(async () => {
    kube?.release();
    await svc?.cleanup();
    await gitea?.close();
    await kube?.close();
  });

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
