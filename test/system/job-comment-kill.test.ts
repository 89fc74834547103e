import { expect } from 'chai';
import type { Knex } from 'knex';
import { createDb } from '../../src/db/connect.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import { giteaPull } from '../support/gitea-shapes.js';
import { ServiceProcess, startWebAndWorker, stopAll, withOutputOf } from '../support/processes.js';
import { dropTestState, eventually, uniqueName } from '../support/service.js';

const MYSQL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const STAGING_SHA = '5a'.repeat(20);
const MAIN_SHA = 'a1'.repeat(20);
/** Gitea's answer to a merge with conflicts: its ErrMergeConflicts struct, which has no `message`. */
const CONFLICT_409 = {
  Style: 'merge',
  StdOut: 'Auto-merging src/login.ts\nCONFLICT (content): Merge conflict in src/login.ts\nAutomatic merge failed; fix conflicts and then commit the result.\n',
  StdErr: '',
  Err: {},
};

/**
 * Exactly one comment per merge conflict and per refused promotion, whichever moment the worker
 * dies at: the merge job's worker is SIGKILLed while Gitea takes its comment (before Gitea stores
 * it, or after), and the job runs again on a fresh worker, which BullMQ counts as a stall, not a retry.
 */
describe('system: conflict and promotion comments once while the worker posting them is killed', function () {
  this.timeout(300_000);
  const name = uniqueName();
  const procs: ServiceProcess[] = [];
  let worker: ServiceProcess;
  let gitea: GiteaServer;
  let db: Knex;
  let env: Record<string, string>;
  let project: { id: number };
  let kills = 0;
  let nextPr = 30;

  const api = (method: string, path: string, body?: unknown) => procs[0]!.api(method, path, body);

  /** The worker dies holding the job; a fresh one takes its place (and the job, once its lock lapses). */
  async function killWorker(): Promise<void> {
    kills++;
    await worker.kill();
    worker = await ServiceProcess.start('worker', env);
    procs.push(worker);
  }

  /** Kills the worker while Gitea takes the next comment: `before` it stores it, or `after`. */
  function killWhilePosting(when: 'before' | 'after'): void {
    gitea.interrupt = killWorker;
    gitea.interruptComments = () => {
      gitea.interruptComments = null;
      return when;
    };
  }

  before(async () => {
    gitea = await startGiteaServer();
    const started = await startWebAndWorker(name, gitea.env(), 'merge');
    ({ env, worker } = started);
    procs.push(started.web, worker);
    db = createDb(`${MYSQL}/aiworker_test_${name}`);
    gitea.branches.set('staging', STAGING_SHA);
    gitea.branches.set('main', MAIN_SHA);
    gitea.refuseMerges = { status: 409, body: CONFLICT_409 };
    const created = await api('POST', '/api/projects', { name: 'Web app', repo: 'acme/webapp' });
    expect(created.status).to.equal(201);
    project = created.body;
  });
  after(async () => {
    gitea.interruptComments = null;
    await stopAll(procs);
    await db?.destroy();
    await dropTestState(name);
    await gitea?.close();
  });

  /** An approved task whose open PR into staging Gitea will refuse to merge. */
  async function approvedTask(): Promise<{ id: number; pr: number; headSha: string }> {
    const task = (await api('POST', '/api/tasks', { projectId: project.id, title: 'Add login' })).body;
    const pr = nextPr++;
    const headSha = pr.toString(16).padStart(40, 'c');
    const branch = `task-${task.id}-add-login`;
    await db('tasks').where({ id: task.id }).update({ pr_number: pr, head_sha: headSha, branch });
    gitea.pulls.set(pr, giteaPull(gitea.url, { number: pr, head: branch, headSha, base: 'staging', baseSha: STAGING_SHA }));
    for (const state of ['in_progress', 'approved']) expect((await api('PATCH', `/api/tasks/${task.id}`, { state })).status).to.equal(200);
    return { id: task.id, pr, headSha };
  }

  async function mergeRun(jobId: string) {
    return eventually(async () => {
      const row = await db('merge_runs').where({ job_id: jobId }).first();
      return row && ['succeeded', 'conflicts', 'nothing_to_do', 'failed'].includes(row.status) ? row : null;
    }, 120_000, `merge run ${jobId} to end`);
  }

  for (const when of ['before', 'after'] as const) {
    it(`a train whose worker dies ${when} Gitea stores the conflict comment: one comment, by whichever run lives`, async () =>
      withOutputOf(procs, async () => {
        const t = await approvedTask();
        const killed = kills;
        killWhilePosting(when);
        const res = await api('POST', '/api/merge', { taskIds: [t.id] });
        expect(res.status).to.equal(202);
        const run = await mergeRun(res.body.jobId);

        expect(kills - killed, 'the worker was killed mid-post').to.equal(1);
        expect(run.status).to.equal('conflicts');
        const mine = gitea.comments.filter((c) => c.body.includes(`<!-- aiworker:merge-conflict=task-${t.id}:${t.headSha} -->`));
        expect(mine, 'one conflict comment').to.have.length(1);
        expect(mine[0]!.index).to.equal(t.pr);
        expect(mine[0]!.body).to.include('Could not merge this pull request into `staging`');
        expect((await db('tasks').where({ id: t.id }).first()).state).to.equal('in_progress');
      }));
  }

  it('a promotion whose worker dies after Gitea stored its comment posts no second one', async () =>
    withOutputOf(procs, async () => {
      gitea.pulls.set(90, giteaPull(gitea.url, { number: 90, head: 'staging', headSha: STAGING_SHA, base: 'main', baseSha: MAIN_SHA }));
      const killed = kills;
      killWhilePosting('after');
      const res = await api('POST', `/api/projects/${project.id}/promote`);
      expect(res.status).to.equal(202);
      const run = await mergeRun(res.body.jobId);

      expect(kills - killed, 'the worker was killed mid-post').to.equal(1);
      expect(run.status).to.equal('conflicts');
      expect(gitea.mergeCalls.filter((n) => n === 90), 'the promotion ran twice').to.have.length(2);
      const mine = gitea.comments.filter((c) => c.body.includes(`<!-- aiworker:promotion=${STAGING_SHA} -->`));
      expect(mine, 'one promotion comment').to.have.length(1);
      expect(mine[0]!.index).to.equal(90);
    }));
});
