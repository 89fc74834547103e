import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { lockKeys } from '../../../src/queue/lock.js';
import { MergeRunStore } from '../../../src/merges/runs.js';
import { argoSync, CONFLICT_409, mergeService, TRY_LATER } from '../../support/merges.js';
import type { Answer } from '../../support/gitea-repo.js';
import { createTask, eventually, moveTask } from '../../support/service.js';

describe('staging-merge: the merge train (jobs/staging-merge.ts)', function () {
  this.timeout(60_000);
  const h = mergeService();

  describe('POST /api/merge refusals: nothing reaches the job', () => {
    it('names missing tasks (404), mixed projects (400) and tasks that are not approved (409)', async () => {
      const a = await h.project();
      const b = await h.project();
      const approved = await h.approvedTask(a.project.id, a.fake, 1);
      const inProgress = await createTask(h.svc, a.project.id, 'not yet');
      await h.svc.api('PATCH', `/api/tasks/${inProgress.id}`, { state: 'in_progress' });
      const backlog = await createTask(h.svc, a.project.id, 'not started');
      const other = await h.approvedTask(b.project.id, b.fake, 2);

      const missing = await h.svc.api('POST', '/api/merge', { taskIds: [approved.id, 999998, 999999] });
      expect(missing.status).to.equal(404);
      expect(missing.body.error.code).to.equal('not_found');
      expect(missing.body.error.message).to.equal('tasks 999998, 999999 not found');

      const mixed = await h.svc.api('POST', '/api/merge', { taskIds: [approved.id, other.id] });
      expect(mixed.status).to.equal(400);
      expect(mixed.body.error.message).to.match(/one project/);

      const refused = await h.svc.api('POST', '/api/merge', { taskIds: [approved.id, inProgress.id, backlog.id] });
      expect(refused.status).to.equal(409);
      expect(refused.body.error).to.include({ code: 'conflict' });
      expect(refused.body.error.message).to.equal(
        `only approved tasks can be merged into staging: task ${inProgress.id} is in_progress, task ${backlog.id} is backlog`,
      );

      for (const body of [{}, { taskIds: [] }, { taskIds: ['1'] }]) {
        expect((await h.svc.api('POST', '/api/merge', body)).status, JSON.stringify(body)).to.equal(400);
      }
      expect((await h.svc.api('POST', '/api/projects/999999/promote')).status).to.equal(404);
      expect((await h.svc.api('GET', '/api/projects/999999/merges')).status).to.equal(404);
      // Nothing reached the merge queue or Gitea.
      const jobs = await h.svc.queues.get('merge').getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
      expect(jobs.filter((j) => j.data.projectId === a.project.id || j.data.projectId === b.project.id)).to.deep.equal([]);
      expect(a.fake.mergeCalls).to.deep.equal([]);
    });
  });

  describe('the job', () => {
    it('creates staging from main, merges in approval order with the approved head, and leaves the task states to Gitea', async () => {
      const { project: p, fake } = await h.project({ mergeStyle: 'squash' });
      const [t1, t2, t3] = await h.approvedTasks(p.id, fake, 11, 12, 13);
      // Re-approve t1 last: approval order is t2, t3, t1.
      await moveTask(h.svc, t1.id, 'in_progress', 'approved');

      const { jobId, result } = await h.train([t1.id, t2.id, t3.id]);

      expect(fake.createdBranches).to.deep.equal([{ new_branch_name: 'staging', old_ref_name: 'main' }]);
      expect(fake.mergeCalls).to.deep.equal([
        { number: 12, body: { Do: 'squash', head_commit_id: t2.headSha } },
        { number: 13, body: { Do: 'squash', head_commit_id: t3.headSha } },
        { number: 11, body: { Do: 'squash', head_commit_id: t1.headSha } },
      ]);
      expect(result).to.deep.include({
        status: 'succeeded',
        merged: [
          { taskId: t2.id, prNumber: 12 },
          { taskId: t3.id, prNumber: 13 },
          { taskId: t1.id, prNumber: 11 },
        ],
        conflicts: [],
        skipped: [],
        revision: fake.branches.get('staging'),
        // No Argo CD application: no sync.
        syncJobId: null,
      });
      // Webhooks are the truth: until Gitea's merged deliveries arrive, the tasks stay approved.
      for (const t of [t1, t2, t3]) expect(await h.stateOf(t.id)).to.equal('approved');

      const history = await h.svc.api('GET', `/api/projects/${p.id}/merges?limit=10`);
      expect(history.status).to.equal(200);
      expect(history.body.total).to.equal(1);
      expect(history.body.merges[0]).to.deep.include({
        kind: 'staging',
        jobId,
        status: 'succeeded',
        requestedBy: 'api',
        taskIds: [t1.id, t2.id, t3.id],
        revision: fake.branches.get('staging'),
        error: null,
      });
      expect(history.body.merges[0].merged.map((m: any) => m.prNumber)).to.deep.equal([12, 13, 11]);
      expect(history.body.merges[0].finishedAt).to.be.a('string');
    });

    it('a conflict in the middle sends that task back with a comment; the others still merge', async () => {
      const { project: p, fake } = await h.project();
      const [t1, t2, t3] = await h.approvedTasks(p.id, fake, 21, 22, 23);
      fake.script('POST /pulls/22/merge', [409, CONFLICT_409]);

      const { result } = await h.train([t1.id, t2.id, t3.id]);

      expect(fake.mergeCalls.map((c) => c.number)).to.deep.equal([21, 22, 23]);
      expect(fake.pulls.get(21)!.merged && fake.pulls.get(23)!.merged).to.equal(true);
      expect(fake.pulls.get(22)!.merged).to.equal(false);
      const reason = 'its changes conflict with `staging` in `src/login.ts`';
      expect(result.status).to.equal('conflicts');
      expect(result.merged).to.deep.equal([
        { taskId: t1.id, prNumber: 21 },
        { taskId: t3.id, prNumber: 23 },
      ]);
      expect(result.conflicts).to.deep.equal([{ taskId: t2.id, prNumber: 22, reason }]);

      expect(await h.stateOf(t2.id)).to.equal('in_progress');
      expect(await h.stateOf(t1.id)).to.equal('approved');
      expect(await h.stateOf(t3.id)).to.equal('approved');
      const events = (await h.svc.api('GET', `/api/tasks/${t2.id}/events`)).body.events;
      expect(events.at(-1)).to.include({ from: 'approved', to: 'in_progress', actor: 'aiworker', reason: `merge into staging failed: ${reason}` });
      const detail = (await h.svc.api('GET', `/api/tasks/${t2.id}`)).body;
      expect(detail.feedback.map((f: any) => [f.kind, f.body])).to.deep.equal([['merge_conflict', reason]]);
      expect(h.gitea.comments).to.have.length(1);
      expect(h.gitea.comments[0].index).to.equal(22);
      expect(h.gitea.comments[0].body).to.contain(`Could not merge this pull request into \`staging\`: ${reason}.`);
      expect(h.gitea.comments[0].body).to.contain(`Task ${t2.id} is back in progress`);
      expect(h.gitea.comments[0].body).to.contain('<!-- aiworker -->');
    });

    it('retries a 405 "Please try again later", and treats a PR still unmergeable after that as a conflict', async () => {
      const { project: p, fake } = await h.project();
      const [slow, stuck] = await h.approvedTasks(p.id, fake, 31, 32);
      fake.script('POST /pulls/31/merge', [405, TRY_LATER]);
      // The client's first attempt and its 4 retries all hear "try again later"; Gitea then reports mergeable: false.
      fake.script('POST /pulls/32/merge', ...Array.from({ length: 5 }, (): Answer => [405, TRY_LATER]));
      fake.pulls.get(32)!.mergeable = false;

      const { result } = await h.train([slow.id, stuck.id]);

      expect(fake.mergeCalls.map((c) => c.number)).to.deep.equal([31, 31, 32, 32, 32, 32, 32]);
      expect(result.merged).to.deep.equal([{ taskId: slow.id, prNumber: 31 }]);
      expect(result.conflicts).to.deep.equal([
        { taskId: stuck.id, prNumber: 32, reason: 'Gitea reports that it cannot be merged into `staging` (conflicting changes)' },
      ]);
      expect(await h.stateOf(stuck.id)).to.equal('in_progress');
      expect(h.gitea.comments.map((c) => c.index)).to.deep.equal([32]);
    });

    it('never merges twice: a retried job and a second train skip what Gitea already merged', async () => {
      const { project: p, fake } = await h.project();
      const [first, second] = await h.approvedTasks(p.id, fake, 41, 42);
      // The first attempt merges #41, then fails reading #42 (403 is not retried by the client): BullMQ retries the job.
      fake.script('GET /pulls/42', [403, { message: 'token does not have at least one of required scope(s): [read:repository]', url: '' }]);

      const { jobId, result } = await h.train([first.id, second.id]);

      const job = await h.svc.queues.get('merge').getJob(jobId);
      expect(job!.attemptsMade).to.equal(2);
      expect(fake.mergeCalls.map((c) => c.number)).to.deep.equal([41, 42]);
      expect(result.merged).to.deep.equal([{ taskId: second.id, prNumber: 42 }]);
      expect(result.skipped).to.deep.equal([{ taskId: first.id, prNumber: 41, reason: 'already merged' }]);

      // Gitea's deliveries have not arrived yet, so the tasks are still approved: a new train skips them too.
      const again = await h.train([first.id, second.id]);
      expect(fake.mergeCalls).to.have.length(2);
      expect(again.result.status).to.equal('succeeded');
      expect(again.result.skipped.map((s: any) => s.reason)).to.deep.equal(['already merged', 'already merged']);
    });

    it('a run after one that sent tasks back posts each conflict comment once: the missing one now, the one Gitea took not again', async () => {
      const { project: p, fake } = await h.project();
      const [unsaid, taken, last] = await h.approvedTasks(p.id, fake, 81, 82, 83);
      fake.script('POST /pulls/81/merge', [409, CONFLICT_409]);
      fake.script('POST /pulls/82/merge', [409, CONFLICT_409]);
      // The first attempt's comment on #81 never reaches Gitea; Gitea takes the one on #82, but its
      // answer is lost: both are what a worker dying mid-post leaves. Then the attempt fails on #83.
      const interrupted = new Set<number>();
      h.gitea.interruptComments = (index) => {
        if (interrupted.has(index)) return null;
        interrupted.add(index);
        return index === 81 ? 'before' : index === 82 ? 'after' : null;
      };
      fake.script('GET /pulls/83', [403, { message: 'token does not have at least one of required scope(s): [read:repository]', url: '' }]);

      const { jobId, result } = await h.train([unsaid.id, taken.id, last.id]);

      expect((await h.svc.queues.get('merge').getJob(jobId))!.attemptsMade, 'ran twice').to.equal(2);
      const reason = 'its changes conflict with `staging` in `src/login.ts`';
      expect(result.conflicts).to.deep.equal([
        { taskId: unsaid.id, prNumber: 81, reason },
        { taskId: taken.id, prNumber: 82, reason },
      ]);
      expect(result.merged).to.deep.equal([{ taskId: last.id, prNumber: 83 }]);
      expect(h.gitea.comments.map((c) => c.index)).to.have.members([81, 82]);
      expect(h.gitea.comments).to.have.length(2);
      for (const t of [unsaid, taken]) {
        const mine = h.gitea.comments.filter((c) => c.body.includes(`<!-- aiworker:merge-conflict=task-${t.id}:${t.headSha} -->`));
        expect(mine, `the conflict comment of task ${t.id}`).to.have.length(1);
        expect(await h.stateOf(t.id)).to.equal('in_progress');
        const detail = (await h.svc.api('GET', `/api/tasks/${t.id}`)).body;
        expect(detail.feedback.map((f: any) => [f.kind, f.headSha])).to.deep.equal([['merge_conflict', t.headSha]]);
      }
    });

    it('skips tasks that left approved after the request, with the reason', async () => {
      const { project: p, fake } = await h.project();
      const t = await h.approvedTask(p.id, fake, 51);
      // Holding the lock keeps the job waiting while the task changes.
      await h.svc.redis.set(lockKeys.merge(h.svc.config.redisPrefix, p.id), 'someone-else', 'PX', 30_000);
      const res = await h.svc.api('POST', '/api/merge', { taskIds: [t.id] });
      expect(res.status).to.equal(202);
      await moveTask(h.svc, t.id, 'in_progress');
      await h.svc.redis.del(lockKeys.merge(h.svc.config.redisPrefix, p.id));
      const { job } = await h.finished('merge', res.body.jobId);
      expect(job.returnvalue.status).to.equal('nothing_to_do');
      expect(job.returnvalue.skipped).to.deep.equal([{ taskId: t.id, prNumber: 51, reason: 'is in_progress, not approved' }]);
      expect(fake.mergeCalls).to.deep.equal([]);
    });

    it('runs one train per project at a time: a second one waits for the lock', async () => {
      const { project: p, fake } = await h.project();
      const t = await h.approvedTask(p.id, fake, 61);
      const key = lockKeys.merge(h.svc.config.redisPrefix, p.id);
      await h.svc.redis.set(key, 'another-train', 'PX', 30_000);

      const res = await h.svc.api('POST', '/api/merge', { taskIds: [t.id] });
      await sleep(1200);
      const job = await h.svc.queues.get('merge').getJob(res.body.jobId);
      // It looks at the lock every half second: caught between two looks, it is delayed, never done.
      await eventually(async () => (await job!.getState()) === 'delayed' || null, 5000, 'the train waiting (delayed)');
      expect(fake.mergeCalls).to.deep.equal([]);
      expect((await new MergeRunStore(h.svc.db).get(res.body.jobId))!.status).to.equal('queued');

      await h.svc.redis.del(key);
      const { state } = await h.finished('merge', res.body.jobId);
      expect(state).to.equal('completed');
      expect(fake.mergeCalls.map((c) => c.number)).to.deep.equal([61]);
      expect(await h.svc.redis.exists(key)).to.equal(0);
    });
  });

  describe('end to end', () => {
    it('POST /api/merge → merges → Gitea\'s merged deliveries move the tasks to staging → the staging sync', async () => {
      const { project: p, fake } = await h.project({ argocdApplication: 'webapp-staging' }, 'acme/webapp');
      const [t1, t2] = await h.approvedTasks(p.id, fake, 7, 8);
      const argo = argoSync('webapp-staging', { phase: 'Succeeded', message: 'successfully synced' }, (r) => r === fake.branches.get('staging'));

      const { result } = await h.train([t2.id, t1.id]);
      expect(result.merged.map((m: any) => m.taskId)).to.deep.equal([t1.id, t2.id]);
      expect(result.syncJobId).to.be.a('string');

      // What Gitea sends after each merge.
      await h.deliver('pull_request.merged-staging', { taskId: t1.id, prNumber: 7 });
      await h.deliver('pull_request.merged-staging', { taskId: t2.id, prNumber: 8 });
      expect(await h.stateOf(t1.id)).to.equal('staging');
      expect(await h.stateOf(t2.id)).to.equal('staging');

      const sync = await h.finished('deploy', result.syncJobId);
      expect(sync.state, sync.job.failedReason).to.equal('completed');
      expect(sync.job.data).to.deep.equal({ projectId: p.id, environment: 'staging', revision: fake.branches.get('staging'), taskIds: [t1.id, t2.id] });
      expect(argo.patch.isDone()).to.equal(true);
      expect(await h.deployEvents(p.id)).to.deep.equal([
        { type: 'deploy:started', environment: 'staging', taskIds: [t1.id, t2.id] },
        { type: 'deploy:completed', environment: 'staging', url: 'https://webapp-staging.example.com/', status: 'succeeded' },
      ]);
      // The push Gitea sends for the merge queues the same sync (same revision): it is the same job, not a second deploy.
      await h.svc.jobs.syncEnvironment(p.id, 'staging', fake.branches.get('staging')!);
      await sleep(300);
      const syncs = (await h.svc.queues.get('deploy').getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).filter(
        (j) => j.name === 'environment-sync' && j.data.projectId === p.id,
      );
      expect(syncs.map((j) => j.id)).to.deep.equal([result.syncJobId]);
      expect(await h.svc.db('deployments').where({ project_id: p.id, kind: 'sync' })).to.have.length(1);
    });
  });
});
