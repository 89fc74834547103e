import { expect } from 'chai';
import nock from 'nock';
import { createProject, createTask, moveTask, startTestService, type TestService } from '../support/service.js';
import type { TaskState } from '../../src/tasks/states.js';
import { giteaDelivery, loadGiteaFixture, type DeliveryOptions } from '../support/gitea-delivery.js';
import { giteaPull } from '../support/gitea-shapes.js';
import { fakeGitea, GITEA_URL, type FakeGitea } from '../support/fake-gitea.js';

describe('webhook handlers', function () {
  let svc: TestService;
  let gitea: FakeGitea;
  let project: any;

  before(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    gitea = fakeGitea();
    gitea.setPermission('alice', 'write');
    gitea.setPermission('bob', 'write');
    gitea.setPermission('mallory', 'read');
    svc = await startTestService({ GITEA_URL, GITEA_TOKEN: 'gitea-token', GITEA_BOT_LOGIN: 'aiworker-bot', PERMISSION_CACHE_SECONDS: '0' });
    project = await createProject(svc, { argocdApplication: 'webapp-staging', argocdProductionApplication: 'webapp-prod' });
  });
  after(async () => {
    await svc?.cleanup();
    nock.cleanAll();
    nock.enableNetConnect();
  });
  beforeEach(() => gitea.reset());

  /** Delivers a fixture and waits until a worker has handled it. */
  async function send(name: string, opts: DeliveryOptions = {}): Promise<{ status: string; id: string }> {
    const d = giteaDelivery(name, opts);
    const res = await svc.deliver(d);
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return { status: await svc.settled(d.id), id: d.id };
  }
  const task = async (id: number) => (await svc.api('GET', `/api/tasks/${id}`)).body;
  const setState = async (id: number, ...states: string[]) => {
    await moveTask(svc, id, ...(states as TaskState[]));
  };
  const comment = (body: string, login = 'alice') => (p: any) => {
    p.comment.body = body;
    p.comment.user.login = login;
    p.sender.login = login;
  };
  const deployJobs = async () => (await svc.queues.get('deploy').getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).map((j) => `${j.name}:${j.data.taskId ?? j.data.environment}`);

  describe('branches and pushes', () => {
    it('create of a task branch links it and starts the task', async () => {
      const t = await createTask(svc, project.id);
      expect((await send('create.task-branch', { taskId: t.id })).status).to.equal('processed');
      const after = await task(t.id);
      expect(after.state).to.equal('in_progress');
      expect(after.branch).to.equal(`task-${t.id}-add-login`);
      const events = (await svc.api('GET', `/api/tasks/${t.id}/events`)).body.events;
      expect(events.at(-1)).to.include({ from: 'backlog', to: 'in_progress', reason: 'first push to the task branch' });
    });

    it('a push after approval makes the approval stale; the same head again changes nothing', async () => {
      const t = await createTask(svc, project.id);
      await send('push.task-branch', { taskId: t.id });
      await setState(t.id, 'approved');
      const head = (await task(t.id)).headSha;
      await send('push.task-branch', { taskId: t.id, mutate: (p) => (p.after = head) });
      expect((await task(t.id)).state).to.equal('approved');
      await send('push.task-branch', { taskId: t.id, mutate: (p) => ((p.before = head), (p.after = 'f'.repeat(40))) });
      const after = await task(t.id);
      expect(after.state).to.equal('in_progress');
      expect(after.headSha).to.equal('f'.repeat(40));
    });

    it('pushes to other branches are ignored; pushes to staging and main queue their sync', async () => {
      expect((await send('push.task-branch', { mutate: (p) => (p.ref = 'refs/heads/feature/x') })).status).to.equal('ignored');
      expect((await send('push.task-branch', { taskId: 999999 })).status).to.equal('ignored');
      await send('push.staging');
      await send('push.main');
      const jobs = await deployJobs();
      expect(jobs).to.include('environment-sync:staging');
      expect(jobs).to.include('environment-sync:production');
    });

    it("a push made by aiworker's own merge leaves the sync to that merge, which names its tasks", async () => {
      const after = 'b'.repeat(40);
      const syncOf = async () =>
        (await svc.queues.get('deploy').getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).filter((j) => j.name === 'environment-sync' && j.data.revision === after);
      const bySelf = (p: any) => {
        p.after = after;
        p.pusher.login = p.sender.login = 'aiworker-bot';
      };
      const delivered = await send('push.staging', { mutate: bySelf });
      expect(delivered.status).to.equal('processed');
      expect(await syncOf()).to.have.length(0);
      // The same push by a person queues the sync as before.
      await send('push.staging', { mutate: (p: any) => (p.after = after) });
      expect(await syncOf()).to.have.length(1);
    });
  });

  describe('pull requests', () => {
    it('opened links the PR and queues one preview deploy', async () => {
      const t = await createTask(svc, project.id);
      await setState(t.id, 'in_progress');
      expect((await send('pull_request.opened', { taskId: t.id, prNumber: 21 })).status).to.equal('processed');
      const after = await task(t.id);
      expect(after).to.include({ prNumber: 21, state: 'in_progress', branch: `task-${t.id}-add-login` });
      expect(after.prUrl).to.equal(`https://gitea.example.com/acme/webapp/pulls/21`);
      expect(await deployJobs()).to.include(`preview-deploy:${t.id}`);
    });

    it('links a PR through a "Task: <id>" body line', async () => {
      const t = await createTask(svc, project.id);
      await send('pull_request.opened', {
        prNumber: 22,
        mutate: (p) => {
          p.pull_request.head.ref = p.pull_request.head.label = 'feature/login';
          p.pull_request.body = `Adds login.\n\nTask: ${t.id}\n`;
        },
      });
      expect((await task(t.id)).prNumber).to.equal(22);
    });

    it('a synchronized that arrives before its opened still ends linked at the latest head', async () => {
      const t = await createTask(svc, project.id);
      const late = 'a'.repeat(40);
      await send('pull_request.synchronized', { taskId: t.id, prNumber: 23, mutate: (p) => (p.pull_request.head.sha = late) });
      await send('pull_request.opened', { taskId: t.id, prNumber: 23, mutate: (p) => (p.pull_request.head.sha = 'b'.repeat(40)) });
      await send('pull_request.synchronized', { taskId: t.id, prNumber: 23, mutate: (p) => (p.pull_request.head.sha = late) });
      const after = await task(t.id);
      expect(after).to.include({ prNumber: 23, state: 'in_progress', headSha: late });
    });

    it('new commits on a ready_to_test PR take it back to in_progress', async () => {
      const t = await createTask(svc, project.id);
      await send('pull_request.opened', { taskId: t.id, prNumber: 24 });
      await setState(t.id, 'ready_to_test');
      await send('pull_request.synchronized', { taskId: t.id, prNumber: 24, mutate: (p) => (p.pull_request.head.sha = 'c'.repeat(40)) });
      expect((await task(t.id)).state).to.equal('in_progress');
    });

    it('merged into staging moves the task to staging and tears the preview down', async () => {
      const t = await createTask(svc, project.id);
      await send('pull_request.opened', { taskId: t.id, prNumber: 25 });
      await setState(t.id, 'approved');
      expect((await send('pull_request.merged-staging', { taskId: t.id, prNumber: 25 })).status).to.equal('processed');
      expect((await task(t.id)).state).to.equal('staging');
      expect(await deployJobs()).to.include(`preview-teardown:${t.id}`);
      // Gitea's fact applies once; a replay converges.
      const replay = await send('pull_request.merged-staging', { taskId: t.id, prNumber: 25 });
      expect(replay.status).to.equal('processed');
      const events = (await svc.api('GET', `/api/tasks/${t.id}/events`)).body.events.filter((e: any) => e.to === 'staging');
      expect(events).to.have.length(1);
    });

    it('a promotion merged into main moves every staging task to production', async () => {
      const a = await createTask(svc, project.id);
      const b = await createTask(svc, project.id);
      for (const [t, n] of [[a, 26], [b, 27]] as const) {
        await send('pull_request.opened', { taskId: t.id, prNumber: n });
        await send('pull_request.merged-staging', { taskId: t.id, prNumber: n });
      }
      expect((await send('pull_request.merged-main')).status).to.equal('processed');
      expect((await task(a.id)).state).to.equal('production');
      expect((await task(b.id)).state).to.equal('production');
    });

    it('a task PR merged straight into the default branch goes to production', async () => {
      const t = await createTask(svc, project.id);
      await send('pull_request.opened', { taskId: t.id, prNumber: 28 });
      await send('pull_request.merged-staging', { taskId: t.id, prNumber: 28, mutate: (p) => (p.pull_request.base.ref = p.pull_request.base.label = 'main') });
      expect((await task(t.id)).state).to.equal('production');
    });

    it('closed without merge tears the preview down and sends the task back to in_progress', async () => {
      const t = await createTask(svc, project.id);
      await send('pull_request.opened', { taskId: t.id, prNumber: 29 });
      await setState(t.id, 'ready_to_test');
      expect((await send('pull_request.closed', { taskId: t.id, prNumber: 29 })).status).to.equal('processed');
      expect((await task(t.id)).state).to.equal('in_progress');
      expect(await deployJobs()).to.include(`preview-teardown:${t.id}`);
    });

    it('PRs of no task and other actions are ignored', async () => {
      expect((await send('pull_request.opened', { prNumber: 60, mutate: (p) => { p.pull_request.head.ref = p.pull_request.head.label = 'feature/x'; p.pull_request.body = 'No task here.'; } })).status).to.equal('ignored');
      expect((await send('pull_request.labeled')).status).to.equal('ignored');
    });
  });

  describe('reviews', () => {
    it('an approving review by a writer approves the task and keeps the review as feedback', async () => {
      const t = await createTask(svc, project.id);
      await send('pull_request.opened', { taskId: t.id, prNumber: 30 });
      await setState(t.id, 'ready_to_test');
      expect((await send('pull_request_review_approved', { taskId: t.id, prNumber: 30 })).status).to.equal('processed');
      const after = await task(t.id);
      expect(after.state).to.equal('approved');
      expect(after.feedback.map((f: any) => [f.kind, f.author, f.body])).to.deep.equal([['approved', 'bob', 'LGTM, thanks!']]);
    });

    it("an approval by someone without write access changes nothing and says so once", async () => {
      const t = await createTask(svc, project.id);
      await send('pull_request.opened', { taskId: t.id, prNumber: 31 });
      const res = await send('pull_request_review_approved', { taskId: t.id, prNumber: 31, mutate: (p) => (p.sender.login = 'mallory') });
      expect(res.status).to.equal('ignored');
      expect((await task(t.id)).state).to.equal('in_progress');
      expect(gitea.comments).to.have.length(1);
      expect(gitea.comments[0].body).to.match(/only people with write access/);
    });

    it('an approval the state machine refuses is answered on the PR once and changes nothing', async () => {
      const t = await createTask(svc, project.id);
      await send('pull_request.opened', { taskId: t.id, prNumber: 33 });
      await setState(t.id, 'needs_input');
      const review = await send('pull_request_review_approved', { taskId: t.id, prNumber: 33 });
      expect(review.status).to.equal('ignored');
      const after = await task(t.id);
      expect(after.state).to.equal('needs_input');
      expect(after.feedback).to.deep.equal([]);
      expect(gitea.comments).to.have.length(1);
      expect(gitea.comments[0].body).to.match(/task \d+ was not approved: .*needs_input/);
      // Handled again (a replay): nothing more is posted.
      expect((await svc.api('POST', `/api/webhooks/deliveries/${review.id}/replay`)).status).to.equal(202);
      await svc.settled(review.id);
      expect(gitea.comments).to.have.length(1);
    });

    it('a review requesting changes sends the task back with the review text', async () => {
      const t = await createTask(svc, project.id);
      await send('pull_request.opened', { taskId: t.id, prNumber: 32 });
      await setState(t.id, 'approved');
      expect((await send('pull_request_review_rejected', { taskId: t.id, prNumber: 32 })).status).to.equal('processed');
      const after = await task(t.id);
      expect(after.state).to.equal('in_progress');
      expect(after.feedback[0].kind).to.equal('changes_requested');
      expect(after.feedback[0].body).to.be.a('string').and.not.empty;
    });
  });

  describe('comment commands', () => {
    /** The PR as Gitea's API answers it (what /approve reads), at the head of the opened fixture. */
    const openPull = (taskId: number, n: number) =>
      gitea.pulls.set(n, giteaPull(GITEA_URL, { number: n, head: `task-${taskId}-add-login`, headSha: loadGiteaFixture('pull_request.opened').payload.pull_request.head.sha, base: 'staging', baseSha: 'a'.repeat(40) }));
    async function prTask(n: number, ...states: string[]) {
      const t = await createTask(svc, project.id);
      await send('pull_request.opened', { taskId: t.id, prNumber: n });
      openPull(t.id, n);
      await setState(t.id, ...states);
      return t;
    }

    it('/approve by a writer approves, with exactly one reply', async () => {
      const t = await prTask(40, 'ready_to_test');
      expect((await send('issue_comment.pr', { taskId: t.id, prNumber: 40, mutate: comment('/approve') })).status).to.equal('processed');
      expect((await task(t.id)).state).to.equal('approved');
      expect(gitea.comments.map((c) => c.index)).to.deep.equal([40]);
      expect(gitea.comments[0].body).to.match(/approved by @alice/);
    });

    it('/approve by a reader is politely refused and changes nothing', async () => {
      const t = await prTask(41, 'ready_to_test');
      await send('issue_comment.pr', { taskId: t.id, prNumber: 41, mutate: comment('/approve', 'mallory') });
      expect((await task(t.id)).state).to.equal('ready_to_test');
      expect(gitea.comments).to.have.length(1);
      expect(gitea.comments[0].body).to.match(/needs write access/);
      expect(gitea.permissionAsks).to.include('mallory');
    });

    for (const [label, body] of [
      ['a quote', '> /approve\nI agree with the above'],
      ['a fenced code block', 'Try this:\n```\n/approve\n```'],
      ['an indented code block', 'Example:\n\n    /approve'],
      ['the middle of a line', 'please /approve this'],
    ]) {
      it(`ignores /approve inside ${label}`, async () => {
        const t = await prTask(42, 'ready_to_test');
        expect((await send('issue_comment.pr', { taskId: t.id, prNumber: 42, mutate: comment(body) })).status).to.equal('ignored');
        expect((await task(t.id)).state).to.equal('ready_to_test');
        expect(gitea.comments).to.have.length(0);
      });
    }

    it('/reject <reason> sends the task back with the reason as feedback; without a reason it shows usage', async () => {
      const t = await prTask(43, 'ready_to_test');
      await send('issue_comment.pr', { taskId: t.id, prNumber: 43, mutate: comment('/reject') });
      expect((await task(t.id)).state).to.equal('ready_to_test');
      expect(gitea.comments[0].body).to.match(/Usage: `\/reject <reason>`/);
      await send('issue_comment.pr', { taskId: t.id, prNumber: 43, mutate: comment('/reject the button is misaligned') });
      const after = await task(t.id);
      expect(after.state).to.equal('in_progress');
      expect(after.feedback.map((f: any) => f.body)).to.include('the button is misaligned');
      expect(gitea.comments).to.have.length(2);
    });

    it('a refused transition is answered with the reason', async () => {
      const t = await createTask(svc, project.id);
      await send('pull_request.opened', { taskId: t.id, prNumber: 44 });
      openPull(t.id, 44);
      await setState(t.id, 'in_progress', 'needs_input');
      await send('issue_comment.pr', { taskId: t.id, prNumber: 44, mutate: comment('/approve') });
      expect((await task(t.id)).state).to.equal('needs_input');
      expect(gitea.comments[0].body).to.match(/refused.*needs_input/);
      // /reject sends back only what was ready to test or approved: not a task waiting for an answer.
      await send('issue_comment.pr', { taskId: t.id, prNumber: 44, mutate: comment('/reject not like this') });
      expect((await task(t.id)).state).to.equal('needs_input');
      expect(gitea.comments[1].body).to.match(/`\/reject` refused: task \d+ is needs_input/);
    });

    it('/help lists every command, generated from the registry', async () => {
      const t = await prTask(45);
      await send('issue_comment.pr', { taskId: t.id, prNumber: 45, mutate: comment('/help', 'mallory') });
      expect(gitea.comments).to.have.length(1);
      for (const usage of ['/approve', '/reject <reason>', '/preview', '/stage', '/answer <text>', '/cancel', '/retry', '/help']) {
        expect(gitea.comments[0].body).to.include(`\`${usage}\``);
      }
    });

    it('answers an open question by /answer and by a plain reply', async () => {
      const t = await prTask(46);
      await svc.tasks.ask(t.id, null, 'Which colour?', 'agent');
      await send('issue_comment.pr', { taskId: t.id, prNumber: 46, mutate: comment('/answer blue') });
      let after = await task(t.id);
      expect(after.state).to.equal('in_progress');
      expect(after.questions[0]).to.include({ answer: 'blue', answeredBy: 'alice' });
      await svc.tasks.ask(t.id, null, 'Which shade?', 'agent');
      await send('issue_comment.pr', { taskId: t.id, prNumber: 46, mutate: comment('> Which shade?\nNavy, please.') });
      after = await task(t.id);
      expect(after.state).to.equal('in_progress');
      expect(after.questions[1]).to.include({ answer: 'Navy, please.' });
      // Both ways of answering get the same reply.
      const thanks = `Thanks @alice, your answer was passed to the agent working on task ${t.id}.`;
      expect(gitea.comments.map((c) => c.body.split('\n')[0])).to.deep.equal([thanks, thanks]);
    });

    it('a reply from someone without write access is answered politely and answers nothing; a replay posts nothing more', async () => {
      const t = await prTask(49);
      await svc.tasks.ask(t.id, null, 'Which colour?', 'agent');
      const delivered = await send('issue_comment.pr', { taskId: t.id, prNumber: 49, mutate: comment('Red!', 'mallory') });
      expect(delivered.status).to.equal('processed');
      const after = await task(t.id);
      expect(after.state).to.equal('needs_input');
      expect(after.questions[0].answer).to.equal(null);
      expect(gitea.comments).to.have.length(1);
      expect(gitea.comments[0].body).to.match(/Sorry @mallory, only people with write access .* can answer the question of task \d+/);
      expect(gitea.permissionAsks).to.include('mallory');
      expect((await svc.api('POST', `/api/webhooks/deliveries/${delivered.id}/replay`)).status).to.equal(202);
      await svc.settled(delivered.id);
      expect(gitea.comments).to.have.length(1);
      expect((await task(t.id)).state).to.equal('needs_input');
    });

    it('/cancel cancels and tears the preview down; /preview queues a redeploy; /stage refuses an unapproved task', async () => {
      const t = await prTask(47);
      await send('issue_comment.pr', { taskId: t.id, prNumber: 47, mutate: comment('/preview\n/stage') });
      expect(gitea.comments.map((c) => c.body)).to.satisfy((b: string[]) => /Preview redeploy/.test(b[0]) && /only approved tasks/.test(b[1]));
      await send('issue_comment.pr', { taskId: t.id, prNumber: 47, mutate: comment('/cancel') });
      expect((await task(t.id)).state).to.equal('cancelled');
      expect(await deployJobs()).to.include(`preview-teardown:${t.id}`);
    });

    it('/retry says when there is nothing to retry', async () => {
      const t = await prTask(48);
      await send('issue_comment.pr', { taskId: t.id, prNumber: 48, mutate: comment('/retry') });
      expect(gitea.comments[0].body).to.match(/no failed job/);
    });

    it("never reacts to its own comments", async () => {
      const t = await prTask(49, 'ready_to_test');
      expect((await send('issue_comment.pr', { taskId: t.id, prNumber: 49, mutate: comment('/approve', 'aiworker-bot') })).status).to.equal('ignored');
      expect((await send('issue_comment.pr', { taskId: t.id, prNumber: 49, mutate: comment('/approve\n\n<!-- aiworker -->') })).status).to.equal('ignored');
      expect((await task(t.id)).state).to.equal('ready_to_test');
      expect(gitea.comments).to.have.length(0);
    });

    it("runs commands written in a review's summary", async () => {
      const t = await prTask(50, 'ready_to_test');
      const res = await send('pull_request_review_comment', {
        taskId: t.id,
        prNumber: 50,
        mutate: (p) => {
          p.review.content = 'Looks good.\n/approve';
          p.sender.login = 'alice';
        },
      });
      expect(res.status).to.equal('processed');
      expect((await task(t.id)).state).to.equal('approved');
      expect(gitea.comments.map((c) => c.index)).to.deep.equal([50]);
      // A review without commands is still feedback for the agent (its line comments are fetched from Gitea).
      expect((await send('pull_request_review_comment', { taskId: t.id, prNumber: 50 })).status).to.equal('processed');
      expect(gitea.comments.map((c) => c.index)).to.deep.equal([50]);
    });

    it('works on a task issue too', async () => {
      const created = await send('issues.labeled', { mutate: (p) => (p.issue.number = 90) });
      expect(created.status).to.equal('processed');
      const [row] = await svc.db('tasks').where({ issue_number: 90 });
      gitea.reset();
      await setState(row.id, 'in_progress');
      await send('issue_comment.issue', { mutate: (p) => { p.issue.number = 90; comment('/cancel')(p); } });
      expect((await task(row.id)).state).to.equal('cancelled');
      expect(gitea.comments.map((c) => c.index)).to.deep.equal([90]);
    });
  });

  describe('issues', () => {
    it('an issue labelled aiworker becomes a backlog task, once', async () => {
      const first = await send('issues.labeled', { mutate: (p) => (p.issue.number = 91) });
      expect(first.status).to.equal('processed');
      const again = await send('issues.labeled', { mutate: (p) => (p.issue.number = 91) });
      expect(again.status).to.equal('ignored');
      const rows = await svc.db('tasks').where({ issue_number: 91 });
      expect(rows).to.have.length(1);
      expect(rows[0].state).to.equal('backlog');
      expect(gitea.comments).to.have.length(1);
      expect(gitea.comments[0].body).to.include(`task ${rows[0].id}`);
      expect((await send('issues.opened')).status).to.equal('processed');
      expect((await send('issues.labeled', { mutate: (p) => { p.issue.number = 92; p.issue.labels = [{ id: 1, name: 'bug' }]; } })).status).to.equal('ignored');
    });
  });
});
