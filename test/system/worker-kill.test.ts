import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { createDb } from '../../src/db/connect.js';
import { giteaDelivery } from '../support/gitea-delivery.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-api-server.js';
import { processEnv, ServiceProcess, stopAll, waitForWorkers, withOutputOf } from '../support/processes.js';
import { dropTestState, eventually, REDIS_URL, uniqueName } from '../support/service.js';

const MYSQL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const PR = 7;
/** Head commit of the pull_request.opened fixture. */
const SHA = 'c9de6274405f2cf52adabba61b36257fff6809af';

describe('system: a worker killed mid-job', function () {
  this.timeout(150_000);
  const name = uniqueName();
  const kubeconfig = join(tmpdir(), `aiwtest-kubeconfig-${name}.yaml`);
  const procs: ServiceProcess[] = [];
  let kube: KubeApiServer;
  let gitea: GiteaServer;
  let db: Knex;
  let env: Record<string, string>;

  const api = (method: string, path: string, body?: unknown) => procs[0]!.api(method, path, body);

  before(async () => {
    kube = await startKubeApiServer();
    gitea = await startGiteaServer();
    // A 2 s job lock: a dead worker's job is taken over within seconds instead of a minute.
    env = processEnv(name, { ...gitea.env(), KUBECONFIG: kube.writeKubeconfig(kubeconfig), PREVIEW_DOMAIN: 'preview.example.com', JOB_LOCK_SECONDS: '2' });
    procs.push(await ServiceProcess.start('serve', env));
    procs.push(await ServiceProcess.start('worker', env));
    await waitForWorkers(name, 'deploy', 1);
    db = createDb(`${MYSQL}/aiworker_test_${name}`);
  });
  after(async () => {
    kube?.release();
    await stopAll(procs);
    await db?.destroy();
    await dropTestState(name);
    await gitea?.close();
    await kube?.close();
    rmSync(kubeconfig, { force: true });
  });

  it('runs the preview deploy it held again on another worker, which completes it once', async () => withOutputOf(procs, async () => {
    const project = await api('POST', '/api/projects', { name: 'Web app', repo: 'acme/webapp', previewImage: 'registry.example.com/acme/webapp' });
    expect(project.status).to.equal(201);
    const task = await api('POST', '/api/tasks', { projectId: project.body.id, title: 'Add login' });
    expect(task.status).to.equal(201);
    const taskId: number = task.body.id;

    // Kubernetes takes its time: the first apply stays unanswered, so the deploy is in flight on the first worker.
    kube.hold();
    gitea.openPull(PR, SHA, `task-${taskId}-add-login`);
    const opened = giteaDelivery('pull_request.opened', { taskId, prNumber: PR });
    const res = await fetch(`${procs[0]!.url}/webhooks/gitea`, { method: 'POST', headers: opened.headers, body: opened.body });
    expect(res.status).to.equal(202);
    await eventually(async () => kube.applies().length > 0, 30_000, 'the first apply');
    const first = procs[1]!;

    // A second worker is up, then the first dies holding the job.
    procs.push(await ServiceProcess.start('worker', env));
    await waitForWorkers(name, 'deploy', 2);
    await first.kill();
    kube.release();
    const killedAt = Date.now();

    // Completed once: one job, taken back after the stall, completed; one deployment record.
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue('deploy', { connection, prefix: `aiwtest_${name}:bull` });
    try {
      const deploys = async () => (await queue.getJobs(['completed', 'failed', 'active', 'waiting', 'delayed'])).filter((j) => j.name === 'preview-deploy');
      const job = await eventually(async () => {
        const jobs = await deploys();
        return jobs.length === 1 && jobs[0]!.finishedOn ? jobs[0]! : null;
      }, 90_000, 'the preview deploy to finish');
      expect(await deploys()).to.have.length(1);
      expect(await job.getState(), job.failedReason).to.equal('completed');
      expect(job.stalledCounter, 'taken back from the dead worker once').to.equal(1);
    } finally {
      await queue.close();
      connection.disconnect();
    }
    const tookOverMs = Date.now() - killedAt;
    // The job takes back the preview lock its dead run held, instead of waiting out the 30 s lease.
    expect(tookOverMs, 'taken over within a few job-lock periods').to.be.below(15_000);
    expect((await api('GET', `/api/tasks/${taskId}`)).body.state).to.equal('ready_to_test');
    const deployments = await db('deployments').where({ task_id: taskId, kind: 'preview' });
    expect(deployments.map((d: any) => d.status)).to.deep.equal(['succeeded']);

    // One move to ready_to_test, one deploy started and completed, one PR comment, one success status.
    const events = await db('task_events').where({ task_id: taskId }).select('type', 'to_state');
    expect(events.filter((e: any) => e.to_state === 'ready_to_test')).to.have.length(1);
    expect(events.filter((e: any) => e.type === 'task:ready_to_test')).to.have.length(1);
    expect(events.filter((e: any) => e.type === 'deploy:started')).to.have.length(1);
    expect(events.filter((e: any) => e.type === 'deploy:completed')).to.have.length(1);
    expect(gitea.comments.filter((c) => c.index === PR)).to.have.length(1);
    expect(gitea.comments[0]!.body).to.include(`https://task-${taskId}.preview.example.com`);
    expect(gitea.edits).to.deep.equal([]);
    expect(gitea.statuses.filter((s) => s.sha === SHA && s.state === 'success')).to.have.length(1);
    // The second worker applied everything again (server-side apply is idempotent).
    expect(kube.applies().length).to.be.at.least(5);
    console.log(`      taken over and completed ${tookOverMs} ms after the kill`);
  }));
});
