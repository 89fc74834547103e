import { expect } from 'chai';
import { CONFLICT_409, MAIN_SHA, mergeService, nextSha } from '../../support/merges.js';

describe('promotion: staging to the default branch (jobs/promotion.ts)', function () {
  this.timeout(60_000);
  const h = mergeService();

  it('opens the PR from staging to main, merges it, and the merged delivery moves the staged tasks to production', async () => {
    const { project: p, fake } = await h.project();
    fake.branches.set('staging', nextSha());
    const staged = await h.approvedTask(p.id, fake, 71);
    await h.svc.tasks.transition(staged.id, 'staging', { source: 'gitea', actor: 'test' });

    const res = await h.svc.api('POST', `/api/projects/${p.id}/promote`);
    expect(res.status).to.equal(202);
    const stagingHead = fake.branches.get('staging');
    const { state, job } = await h.finished('merge', res.body.jobId);
    expect(state, job.failedReason).to.equal('completed');

    expect(fake.createdPulls).to.have.length(1);
    expect(fake.createdPulls[0]).to.include({ head: 'staging', base: 'main', title: 'Promote staging to main' });
    expect(fake.createdPulls[0].body).to.contain(`- task ${staged.id}: Task for #71 (#71)`);
    // A `Task: <id>` line would link the promotion PR to a single task.
    expect(fake.createdPulls[0].body).not.to.match(/^\s*Task:/m);
    const prNumber = job.returnvalue.prNumber;
    expect(fake.mergeCalls).to.deep.equal([{ number: prNumber, body: { Do: 'merge', head_commit_id: stagingHead } }]);
    expect(job.returnvalue).to.deep.include({
      status: 'succeeded',
      merged: [{ prNumber, taskIds: [staged.id] }],
      revision: fake.branches.get('main'),
      taskIds: [staged.id],
      syncJobId: null,
    });
    expect(await h.stateOf(staged.id)).to.equal('staging');

    await h.deliver('pull_request.merged-staging', {
      prNumber,
      mutate: (pl) => {
        pl.repository.full_name = fake.fullName;
        pl.pull_request.head.ref = pl.pull_request.head.label = 'staging';
        pl.pull_request.base.ref = pl.pull_request.base.label = 'main';
        pl.pull_request.body = fake.createdPulls[0].body;
      },
    });
    expect(await h.stateOf(staged.id)).to.equal('production');
    const history = (await h.svc.api('GET', `/api/projects/${p.id}/merges`)).body;
    expect(history.merges[0]).to.deep.include({ kind: 'promotion', status: 'succeeded', taskIds: [staged.id] });
  });

  it('a promotion Gitea refuses is said once on its PR, even when the run that said it did not learn so', async () => {
    const { project: p, fake } = await h.project();
    const stagingHead = nextSha();
    fake.branches.set('staging', stagingHead);
    fake.addPull({ number: 95, head: 'staging', headSha: stagingHead, base: 'main' });
    // Both attempts hear the conflict; Gitea takes the first attempt's comment but its answer is lost, so that attempt fails.
    fake.script('POST /pulls/95/merge', [409, CONFLICT_409], [409, CONFLICT_409]);
    let interrupted = false;
    h.gitea.interruptComments = () => (interrupted ? null : ((interrupted = true), 'after'));

    const res = await h.svc.api('POST', `/api/projects/${p.id}/promote`);
    const { state, job } = await h.finished('merge', res.body.jobId);

    expect(state, job.failedReason).to.equal('completed');
    expect(job.attemptsMade, 'ran twice').to.equal(2);
    expect(fake.mergeCalls.map((c) => c.number)).to.deep.equal([95, 95]);
    expect(job.returnvalue).to.deep.include({ status: 'conflicts', prNumber: 95 });
    expect(h.gitea.comments).to.have.length(1);
    expect(h.gitea.comments[0]).to.include({ index: 95 });
    expect(h.gitea.comments[0]!.body).to.include('Could not promote `staging` to `main`').and.include(`<!-- aiworker:promotion=${stagingHead} -->`);
  });

  it('finishes with "nothing to promote" when staging has nothing main lacks', async () => {
    const { project: p, fake } = await h.project();
    fake.branches.set('staging', MAIN_SHA);
    const same = await h.svc.api('POST', `/api/projects/${p.id}/promote`);
    const first = await h.finished('merge', same.body.jobId);
    expect(first.state).to.equal('completed');
    expect(first.job.returnvalue).to.deep.include({ status: 'nothing_to_do', prNumber: null, note: 'nothing to promote: staging and main are at the same commit' });

    // After an earlier promotion main has a merge commit staging lacks, yet staging adds nothing: Gitea's PR shows it.
    fake.branches.set('main', nextSha());
    fake.addPull({ number: 90, head: 'staging', headSha: MAIN_SHA, base: 'main', mergeBase: MAIN_SHA });
    const contained = await h.svc.api('POST', `/api/projects/${p.id}/promote`);
    const second = await h.finished('merge', contained.body.jobId);
    expect(second.job.returnvalue).to.deep.include({ status: 'nothing_to_do', prNumber: 90 });
    expect(second.job.returnvalue.note).to.match(/main already contains staging/);
    expect(fake.createdPulls).to.deep.equal([]);
    expect(fake.mergeCalls).to.deep.equal([]);
  });
});
