import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import assert from 'node:assert/strict';
import nock from 'nock';
import { GiteaClient, GiteaError, type GiteaClientOptions } from '../../src/gitea/client.js';
import { giteaBranch, giteaCommit, giteaPull, giteaRepository, giteaUser } from '../support/gitea-shapes.js';

const BASE = 'https://gitea.example.com';
const TOKEN = 'f3c9a1d2e4b5deadbeef0123456789abcdef0123';
const SHA = '7b4e4d5b0c7d3f2a1e9f8c6b5a4d3c2b1a0f9e8d';
const REPO = '/api/v1/repos/acme/webapp';

interface LogEntry {
  level: 'warn' | 'debug';
  obj: object;
  msg: string;
}

let logs: LogEntry[];

function makeClient(opts: Partial<GiteaClientOptions> = {}): GiteaClient {
  return new GiteaClient({
    baseUrl: BASE,
    token: TOKEN,
    retryBaseMs: 1,
    timeoutMs: 2000,
    logger: {
      warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
      debug: (obj, msg) => logs.push({ level: 'debug', obj, msg }),
    },
    ...opts,
  });
}

/** Every request must carry the token header and ask for JSON; a mismatch leaves the interceptor unmatched. */
function gitea(opts: { json?: boolean } = {}) {
  return nock(BASE, {
    reqheaders: {
      authorization: `token ${TOKEN}`,
      accept: 'application/json',
      ...(opts.json ? { 'content-type': 'application/json' } : {}),
    },
    badheaders: opts.json ? [] : ['content-type'],
  });
}

async function rejection(p: Promise<unknown>): Promise<GiteaError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof GiteaError, `expected a GiteaError, got ${String(err)}`);
    return err as GiteaError;
  }
  throw new Error('expected the call to fail');
}

const apiError = (message: string) => ({ message, url: `${BASE}/api/swagger` });

const user = (login: string, id = 3) => giteaUser(BASE, login, id);

const repository = () => giteaRepository(BASE);

const branch = (name: string) =>
  giteaBranch(
    name,
    giteaCommit({
      id: SHA,
      message: 'Add login form\n',
      url: `${BASE}/acme/webapp/commit/${SHA}`,
      author: { name: 'Agent One', email: 'agent1@example.com', username: 'agent1' },
    }),
  );

const pull = (number: number, head = 'task-12-add-login', base = 'staging') =>
  giteaPull(BASE, { number, head, headSha: SHA, base, baseSha: '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567', body: 'Task: 12' });

const comment = (id: number, body: string) => ({
  id,
  html_url: `${BASE}/acme/webapp/pulls/3#issuecomment-${id}`,
  pull_request_url: `${BASE}/acme/webapp/pulls/3`,
  issue_url: '',
  user: user('aiworker-bot', 9),
  original_author: '',
  original_author_id: 0,
  body,
  assets: [],
  created_at: '2026-02-21T12:10:00Z',
  updated_at: '2026-02-21T12:10:00Z',
});

const label = (id: number, name: string) => ({
  id,
  name,
  exclusive: false,
  is_archived: false,
  color: '00aabb',
  description: '',
  url: `${BASE}/api/v1/repos/acme/webapp/labels/${id}`,
});

describe('GiteaClient', () => {
  before(() => {
    nock.disableNetConnect();
  });
  beforeEach(() => {
    logs = [];
  });
  afterEach(() => {
    nock.cleanAll();
    // Whatever the test did, nothing it logged may carry the token.
    assert.ok(!JSON.stringify(logs).includes(TOKEN), 'the token was logged');
  });
  after(() => {
    nock.enableNetConnect();
  });

  describe('endpoints', () => {
    it('getVersion reads GET /version', async () => {
      const scope = gitea().get('/api/v1/version').reply(200, { version: '1.25.4' });
      assert.equal(await makeClient().getVersion(), '1.25.4');
      scope.done();
    });

    it('appends /api/v1 to a base URL with a sub-path and a trailing slash', async () => {
      const scope = gitea().get('/git/api/v1/version').reply(200, { version: '1.26.0' });
      assert.equal(await makeClient({ baseUrl: `${BASE}/git/` }).getVersion(), '1.26.0');
      scope.done();
    });

    it('getCurrentUser reads GET /user', async () => {
      const scope = gitea().get('/api/v1/user').reply(200, user('aiworker-bot', 9));
      const me = await makeClient().getCurrentUser();
      assert.equal(me.login, 'aiworker-bot');
      assert.equal(me.id, 9);
      scope.done();
    });

    it('getRepo reads GET /repos/{owner}/{repo}, encoding the segments', async () => {
      const scope = gitea().get('/api/v1/repos/ac%20me/web%3Fapp').reply(200, repository());
      const repo = await makeClient().getRepo('ac me', 'web?app');
      assert.equal(repo.default_branch, 'main');
      assert.equal(repo.full_name, 'acme/webapp');
      scope.done();
    });

    it('getBranch keeps slashes of the branch name literal and encodes the rest', async () => {
      const scope = gitea()
        .get(`${REPO}/branches/task-12/login%23form`)
        .reply(200, branch('task-12/login#form'));
      const b = await makeClient().getBranch('acme', 'webapp', 'task-12/login#form');
      assert.equal(b?.name, 'task-12/login#form');
      assert.equal(b?.commit.id, SHA);
      scope.done();
    });

    it('getBranch returns null on 404', async () => {
      const scope = gitea()
        .get(`${REPO}/branches/staging`)
        .reply(404, { errors: ['branch does not exist [name: staging]'], message: 'The target couldn\'t be found.', url: BASE });
      assert.equal(await makeClient().getBranch('acme', 'webapp', 'staging'), null);
      scope.done();
    });

    it('createBranch POSTs new_branch_name and old_ref_name', async () => {
      const scope = gitea({ json: true })
        .post(`${REPO}/branches`, { new_branch_name: 'staging', old_ref_name: 'main' })
        .reply(201, branch('staging'));
      const b = await makeClient().createBranch('acme', 'webapp', 'staging', 'main');
      assert.equal(b.name, 'staging');
      scope.done();
    });

    it('createBranch without a source ref sends only new_branch_name', async () => {
      const scope = gitea({ json: true })
        .post(`${REPO}/branches`, { new_branch_name: 'staging' })
        .reply(201, branch('staging'));
      await makeClient().createBranch('acme', 'webapp', 'staging');
      scope.done();
    });

    it('createBranch on an existing branch fails with a non-retryable 409', async () => {
      let calls = 0;
      gitea({ json: true })
        .post(`${REPO}/branches`)
        .times(3)
        .reply(() => {
          calls++;
          return [409, apiError('The branch already exists.')];
        });
      const err = await rejection(makeClient().createBranch('acme', 'webapp', 'staging', 'main'));
      assert.equal(err.status, 409);
      assert.equal(err.retryable, false);
      assert.equal(err.giteaMessage, 'The branch already exists.');
      assert.equal(calls, 1);
    });

    it('ensureBranch returns an existing branch without creating it', async () => {
      const scope = gitea().get(`${REPO}/branches/staging`).reply(200, branch('staging'));
      const b = await makeClient().ensureBranch('acme', 'webapp', 'staging', 'main');
      assert.equal(b.name, 'staging');
      scope.done();
    });

    it('ensureBranch creates a missing branch from the given ref', async () => {
      const reads = gitea().get(`${REPO}/branches/staging`).reply(404, apiError('not found'));
      const writes = gitea({ json: true })
        .post(`${REPO}/branches`, { new_branch_name: 'staging', old_ref_name: 'main' })
        .reply(201, branch('staging'));
      assert.equal((await makeClient().ensureBranch('acme', 'webapp', 'staging', 'main')).name, 'staging');
      reads.done();
      writes.done();
    });

    it('ensureBranch reads the branch again when creating it loses a race (409)', async () => {
      const reads = gitea()
        .get(`${REPO}/branches/staging`)
        .reply(404, apiError('not found'))
        .get(`${REPO}/branches/staging`)
        .reply(200, branch('staging'));
      const writes = gitea({ json: true }).post(`${REPO}/branches`).reply(409, apiError('The branch already exists.'));
      assert.equal((await makeClient().ensureBranch('acme', 'webapp', 'staging', 'main')).name, 'staging');
      reads.done();
      writes.done();
    });

    it('getPull reads GET /pulls/{index}', async () => {
      const scope = gitea().get(`${REPO}/pulls/7`).reply(200, pull(7));
      const pr = await makeClient().getPull('acme', 'webapp', 7);
      assert.equal(pr.number, 7);
      assert.equal(pr.head.sha, SHA);
      assert.equal(pr.base.ref, 'staging');
      assert.equal(pr.html_url, `${BASE}/acme/webapp/pulls/7`);
      scope.done();
    });

    it('findPull reads GET /pulls/{base}/{head}: base is one encoded segment, head keeps its slashes', async () => {
      const scope = gitea()
        .get(`${REPO}/pulls/release%2F1.0/task-12/login`)
        .reply(200, pull(8, 'task-12/login', 'release/1.0'));
      const pr = await makeClient().findPull('acme', 'webapp', 'release/1.0', 'task-12/login');
      assert.equal(pr?.number, 8);
      scope.done();
    });

    it('findPull returns null on 404', async () => {
      const scope = gitea().get(`${REPO}/pulls/staging/task-13-x`).reply(404, apiError('not found'));
      assert.equal(await makeClient().findPull('acme', 'webapp', 'staging', 'task-13-x'), null);
      scope.done();
    });

    it('mergedPullOf reads GET /commits/{sha}/pull, and returns null on 404', async () => {
      const sha = 'c'.repeat(40);
      const scope = gitea()
        .get(`${REPO}/commits/${sha}/pull`)
        .reply(200, pull(9, 'task-14-x', 'staging'))
        .get(`${REPO}/commits/${'d'.repeat(40)}/pull`)
        .reply(404, apiError('not found'));
      assert.equal((await makeClient().mergedPullOf('acme', 'webapp', sha))?.number, 9);
      assert.equal(await makeClient().mergedPullOf('acme', 'webapp', 'd'.repeat(40)), null);
      scope.done();
    });

    it('listPulls passes state, limit and page as query parameters', async () => {
      const scope = gitea()
        .get(`${REPO}/pulls`)
        .query({ state: 'open', limit: '50', page: '2' })
        .reply(200, [pull(3), pull(4)], { 'X-Total-Count': '52' });
      const prs = await makeClient().listPulls('acme', 'webapp', { state: 'open', limit: 50, page: 2 });
      assert.deepEqual(prs.map((p) => p.number), [3, 4]);
      scope.done();
    });

    it('listPulls without options sends no query string', async () => {
      const scope = gitea().get(`${REPO}/pulls`).reply(200, []);
      assert.deepEqual(await makeClient().listPulls('acme', 'webapp', {}), []);
      scope.done();
    });

    it('createPull POSTs head, base, title and body', async () => {
      const scope = gitea({ json: true })
        .post(`${REPO}/pulls`, { head: 'task-12-add-login', base: 'staging', title: 'Add login form', body: 'Task: 12' })
        .reply(201, pull(3));
      const pr = await makeClient().createPull('acme', 'webapp', {
        head: 'task-12-add-login',
        base: 'staging',
        title: 'Add login form',
        body: 'Task: 12',
      });
      assert.equal(pr.number, 3);
      assert.equal(pr.head.ref, 'task-12-add-login');
      scope.done();
    });

    it('createPull reports the 409 for an existing PR with Gitea\'s message', async () => {
      const msg = 'pull request already exists for these targets [id: 43, issue_id: 51, head_repo_id: 12, base_repo_id: 12, head_branch: task-12-add-login, base_branch: staging]';
      gitea({ json: true }).post(`${REPO}/pulls`).reply(409, apiError(msg));
      const err = await rejection(
        makeClient().createPull('acme', 'webapp', { head: 'task-12-add-login', base: 'staging', title: 'x' }),
      );
      assert.equal(err.status, 409);
      assert.equal(err.giteaMessage, msg);
      assert.equal(err.message, `Gitea POST /repos/acme/webapp/pulls failed: 409 Conflict (${msg})`);
    });

    it('mergePull POSTs exactly the merge form keys and accepts the empty 200', async () => {
      const scope = gitea({ json: true })
        .post(`${REPO}/pulls/3/merge`, {
          Do: 'squash',
          MergeTitleField: 'Add login form (#3)',
          MergeMessageField: 'Task: 12',
          head_commit_id: SHA,
          delete_branch_after_merge: true,
        })
        .reply(200);
      const result = await makeClient().mergePull('acme', 'webapp', 3, {
        style: 'squash',
        headCommitId: SHA,
        title: 'Add login form (#3)',
        message: 'Task: 12',
        deleteBranchAfterMerge: true,
      });
      assert.equal(result, undefined);
      scope.done();
    });

    it('mergePull leaves out the options it was not given', async () => {
      const scope = gitea({ json: true }).post(`${REPO}/pulls/3/merge`, { Do: 'fast-forward-only' }).reply(200);
      await makeClient().mergePull('acme', 'webapp', 3, { style: 'fast-forward-only' });
      scope.done();
    });

    it('isMerged is true on 204 and false on 404', async () => {
      const scope = gitea()
        .get(`${REPO}/pulls/3/merge`)
        .reply(204)
        .get(`${REPO}/pulls/4/merge`)
        .reply(404);
      const client = makeClient();
      assert.equal(await client.isMerged('acme', 'webapp', 3), true);
      assert.equal(await client.isMerged('acme', 'webapp', 4), false);
      scope.done();
    });

    it('createComment POSTs the body to the issues endpoint with the PR number', async () => {
      const scope = gitea({ json: true })
        .post(`${REPO}/issues/3/comments`, { body: 'Preview is ready: https://pr-3.preview.example.com' })
        .reply(201, comment(101, 'Preview is ready: https://pr-3.preview.example.com'));
      const c = await makeClient().createComment('acme', 'webapp', 3, 'Preview is ready: https://pr-3.preview.example.com');
      assert.equal(c.id, 101);
      assert.equal(c.user.login, 'aiworker-bot');
      scope.done();
    });

    it('editComment PATCHes /issues/comments/{id}', async () => {
      const scope = gitea({ json: true })
        .patch(`${REPO}/issues/comments/101`, { body: 'Preview updated' })
        .reply(200, comment(101, 'Preview updated'));
      const c = await makeClient().editComment('acme', 'webapp', 101, 'Preview updated');
      assert.equal(c.body, 'Preview updated');
      scope.done();
    });

    it('setCommitStatus sends `state` and exposes the response\'s `status` under both names', async () => {
      const scope = gitea({ json: true })
        .post(`${REPO}/statuses/${SHA}`, {
          state: 'success',
          context: 'aiworker/preview',
          description: 'Preview deployed',
          target_url: 'https://pr-3.preview.example.com',
        })
        .reply(201, {
          id: 55,
          status: 'success',
          target_url: 'https://pr-3.preview.example.com',
          description: 'Preview deployed',
          url: `${BASE}/api/v1/repos/acme/webapp/statuses/${SHA}`,
          context: 'aiworker/preview',
          creator: user('aiworker-bot', 9),
          created_at: '2026-02-21T12:20:00Z',
          updated_at: '2026-02-21T12:20:00Z',
        });
      const s = await makeClient().setCommitStatus('acme', 'webapp', SHA, {
        state: 'success',
        context: 'aiworker/preview',
        description: 'Preview deployed',
        targetUrl: 'https://pr-3.preview.example.com',
      });
      assert.equal(s.state, 'success');
      assert.equal(s.status, 'success');
      assert.equal(s.id, 55);
      scope.done();
    });

    it('setCommitStatus takes the state from the response, not from the request', async () => {
      const scope = gitea({ json: true })
        .post(`${REPO}/statuses/${SHA}`, { state: 'pending', context: 'aiworker/preview' })
        .reply(201, { id: 56, status: 'warning', context: 'aiworker/preview', description: '', target_url: '' });
      const s = await makeClient().setCommitStatus('acme', 'webapp', SHA, { state: 'pending', context: 'aiworker/preview' });
      assert.equal(s.state, 'warning');
      assert.equal(s.status, 'warning');
      scope.done();
    });

    it('getPermission returns .permission', async () => {
      const scope = gitea()
        .get(`${REPO}/collaborators/bob/permission`)
        .reply(200, { permission: 'write', role_name: 'write', user: user('bob', 5) });
      assert.equal(await makeClient().getPermission('acme', 'webapp', 'bob'), 'write');
      scope.done();
    });

    it('getPermission is none for an unknown user (404)', async () => {
      const scope = gitea().get(`${REPO}/collaborators/ghost/permission`).reply(404, apiError('user does not exist'));
      assert.equal(await makeClient().getPermission('acme', 'webapp', 'ghost'), 'none');
      scope.done();
    });

    it('getPermission fails closed on a value it does not know', async () => {
      const scope = gitea()
        .get(`${REPO}/collaborators/bob/permission`)
        .reply(200, { permission: 'superuser', role_name: 'superuser', user: user('bob', 5) });
      assert.equal(await makeClient().getPermission('acme', 'webapp', 'bob'), 'none');
      assert.equal(logs.filter((l) => l.level === 'warn').length, 1);
      scope.done();
    });

    it('getPermission explains a 403: the bot must be a repo admin', async () => {
      gitea()
        .get(`${REPO}/collaborators/bob/permission`)
        .reply(403, apiError('user should be an owner or a collaborator with admin write of a repository'));
      const err = await rejection(makeClient().getPermission('acme', 'webapp', 'bob'));
      assert.equal(err.status, 403);
      assert.equal(err.retryable, false);
      assert.match(err.message, /^Gitea GET \/repos\/acme\/webapp\/collaborators\/bob\/permission failed: 403 Forbidden \(/);
      assert.ok(err.message.includes("the bot's Gitea account must be an admin of acme/webapp"));
    });

    it('addLabels POSTs label names and ids', async () => {
      const scope = gitea({ json: true })
        .post(`${REPO}/issues/3/labels`, { labels: ['aiworker', 7] })
        .reply(200, [label(4, 'aiworker'), label(7, 'preview')]);
      const labels = await makeClient().addLabels('acme', 'webapp', 3, ['aiworker', 7]);
      assert.deepEqual(labels.map((l) => l.name), ['aiworker', 'preview']);
      scope.done();
    });
  });

  describe('retries and errors', () => {
    it('retries a 503 and then succeeds', async () => {
      const scope = gitea()
        .get(REPO)
        .reply(503, apiError('service unavailable'))
        .get(REPO)
        .reply(200, repository());
      assert.equal((await makeClient().getRepo('acme', 'webapp')).name, 'webapp');
      scope.done();
      const warns = logs.filter((l) => l.level === 'warn');
      assert.equal(warns.length, 1);
      const { method, path, status, attempt } = warns[0]!.obj as Record<string, unknown>;
      assert.deepEqual({ method, path, status, attempt }, { method: 'GET', path: '/repos/acme/webapp', status: 503, attempt: 1 });
    });

    it('does not repeat a comment Gitea may have created: a 502 or a timeout fails at once', async () => {
      const scope = gitea({ json: true }).post(`${REPO}/issues/3/comments`).reply(502, 'Bad Gateway');
      const err = await rejection(makeClient().createComment('acme', 'webapp', 3, 'Preview is ready'));
      assert.equal(err.status, 502);
      assert.equal(err.attempts, 1);
      scope.done();
      const timeout = gitea({ json: true }).post(`${REPO}/issues/3/comments`).delay(200).reply(201, comment(5, 'late'));
      const late = await rejection(makeClient({ timeoutMs: 50 }).createComment('acme', 'webapp', 3, 'late'));
      assert.equal(late.status, null);
      assert.equal(late.attempts, 1);
      timeout.done();
    });

    it('retries a comment refused with 429, which Gitea answers before acting', async () => {
      const scope = gitea({ json: true })
        .post(`${REPO}/issues/3/comments`)
        .reply(429, apiError('rate limited'))
        .post(`${REPO}/issues/3/comments`)
        .reply(201, comment(102, 'Preview is ready'));
      assert.equal((await makeClient().createComment('acme', 'webapp', 3, 'Preview is ready')).id, 102);
      scope.done();
    });

    // Every POST the client makes, and how often a 502 (Gitea may have acted) lets it be sent.
    const posts: Array<[name: string, path: string, call: (c: GiteaClient) => Promise<unknown>, attempts: number]> = [
      ['createComment', `${REPO}/issues/3/comments`, (c) => c.createComment('acme', 'webapp', 3, 'hi'), 1],
      ['createHook', `${REPO}/hooks`, (c) => c.createHook('acme', 'webapp', { type: 'gitea', config: { url: 'https://a.example.com/h', content_type: 'json', secret: 's' }, events: [], active: true, branch_filter: '*' }), 1],
      ['createBranch (a repeat meets 409)', `${REPO}/branches`, (c) => c.createBranch('acme', 'webapp', 'staging', 'main'), 3],
      ['createPull (a repeat meets 409)', `${REPO}/pulls`, (c) => c.createPull('acme', 'webapp', { head: 'h', base: 'staging', title: 't' }), 3],
      ['mergePull (a repeat meets 405)', `${REPO}/pulls/3/merge`, (c) => c.mergePull('acme', 'webapp', 3, { style: 'merge' }), 3],
      ['setCommitStatus (the latest of a context counts)', `${REPO}/statuses/${SHA}`, (c) => c.setCommitStatus('acme', 'webapp', SHA, { state: 'pending', context: 'x' }), 3],
      ['addLabels (a set)', `${REPO}/issues/3/labels`, (c) => c.addLabels('acme', 'webapp', 3, ['aiworker']), 3],
    ];
    it('lists every POST the client makes in the table above', () => {
      const source = readFileSync(new URL('../../src/gitea/client.ts', import.meta.url), 'utf8');
      assert.equal(source.match(/'POST'/g)?.length, posts.length);
    });
    for (const [name, path, call, attempts] of posts) {
      it(`${name}: a 502 is sent ${attempts === 1 ? 'once, never repeated' : `again (${attempts} attempts with 2 retries)`}`, async () => {
        let calls = 0;
        gitea({ json: true })
          .post(path)
          .times(5)
          .reply(() => {
            calls++;
            return [502, 'Bad Gateway'];
          });
        const err = await rejection(call(makeClient({ retries: 2 })));
        assert.equal(err.status, 502);
        assert.equal(calls, attempts);
      });
    }

    it('retries a 429', async () => {
      const scope = gitea()
        .get('/api/v1/version')
        .reply(429, 'Too Many Requests')
        .get('/api/v1/version')
        .reply(200, { version: '1.25.4' });
      assert.equal(await makeClient().getVersion(), '1.25.4');
      scope.done();
    });

    it('waits as long as a Retry-After asks before retrying', async () => {
      const scope = gitea()
        .get('/api/v1/version')
        .reply(429, apiError('rate limited'), { 'Retry-After': '1' })
        .get('/api/v1/version')
        .reply(200, { version: '1.25.4' });
      const started = Date.now();
      assert.equal(await makeClient().getVersion(), '1.25.4');
      assert.ok(Date.now() - started >= 1000, 'retried before the Retry-After delay');
      scope.done();
    });

    it('retries mergePull on 405 "Please try again later" and then succeeds', async () => {
      const scope = gitea({ json: true })
        .post(`${REPO}/pulls/3/merge`, { Do: 'merge', head_commit_id: SHA })
        .reply(405, apiError('Please try again later'))
        .post(`${REPO}/pulls/3/merge`, { Do: 'merge', head_commit_id: SHA })
        .reply(200);
      await makeClient().mergePull('acme', 'webapp', 3, { style: 'merge', headCommitId: SHA });
      scope.done();
    });

    it('does not retry mergePull on any other 405', async () => {
      let calls = 0;
      gitea({ json: true })
        .post(`${REPO}/pulls/3/merge`)
        .times(3)
        .reply(() => {
          calls++;
          return [405, apiError('Work in progress PRs cannot be merged')];
        });
      const err = await rejection(makeClient().mergePull('acme', 'webapp', 3, { style: 'merge' }));
      assert.equal(calls, 1);
      assert.equal(err.status, 405);
      assert.equal(err.retryable, false);
      assert.equal(err.giteaMessage, 'Work in progress PRs cannot be merged');
    });

    it('reports a merge conflict (409) once, with Gitea\'s message', async () => {
      let calls = 0;
      const msg = 'merge PullRequest: merge conflict on src/login.ts';
      gitea({ json: true })
        .post(`${REPO}/pulls/3/merge`)
        .times(3)
        .reply(() => {
          calls++;
          return [409, apiError(msg)];
        });
      const err = await rejection(makeClient().mergePull('acme', 'webapp', 3, { style: 'merge', headCommitId: SHA }));
      assert.equal(calls, 1);
      const { status, method, path, giteaMessage, retryable } = err;
      assert.deepEqual(
        { status, method, path, giteaMessage, retryable },
        { status: 409, method: 'POST', path: '/repos/acme/webapp/pulls/3/merge', giteaMessage: msg, retryable: false },
      );
      assert.equal(err.message, `Gitea POST /repos/acme/webapp/pulls/3/merge failed: 409 Conflict (${msg})`);
    });

    it('never retries other 4xx', async () => {
      let calls = 0;
      gitea()
        .get(REPO)
        .times(3)
        .reply(() => {
          calls++;
          return [422, apiError('invalid')];
        });
      const err = await rejection(makeClient().getRepo('acme', 'webapp'));
      assert.equal(calls, 1);
      assert.equal(err.status, 422);
    });

    it('gives up after the configured retries and says how many attempts it made', async () => {
      let calls = 0;
      gitea()
        .get(REPO)
        .times(10)
        .reply(() => {
          calls++;
          return [502, '<html><body><h1>502 Bad Gateway</h1></body></html>'];
        });
      const err = await rejection(makeClient({ retries: 2 }).getRepo('acme', 'webapp'));
      assert.equal(calls, 3);
      assert.equal(err.status, 502);
      assert.equal(err.retryable, true);
      assert.equal(err.attempts, 3);
      assert.equal(err.giteaMessage, '<html><body><h1>502 Bad Gateway</h1></body></html>');
      assert.match(err.message, /failed: 502 Bad Gateway \(.*\) after 3 attempts$/);
    });

    it('uses 4 retries by default', async () => {
      let calls = 0;
      gitea()
        .get('/api/v1/version')
        .times(10)
        .reply(() => {
          calls++;
          return [500, apiError('internal')];
        });
      await rejection(makeClient().getVersion());
      assert.equal(calls, 5);
    });

    it('retries a request that times out', async () => {
      const scope = gitea()
        .get(`${REPO}/pulls/7`)
        .delay(1000)
        .reply(200, pull(7))
        .get(`${REPO}/pulls/7`)
        .reply(200, pull(7));
      const pr = await makeClient({ timeoutMs: 100 }).getPull('acme', 'webapp', 7);
      assert.equal(pr.number, 7);
      scope.done();
      assert.equal(logs.filter((l) => l.level === 'warn').length, 1);
    });

    it('reports a timeout with no status once retries run out', async () => {
      gitea().get(`${REPO}/pulls/7`).times(2).delay(1000).reply(200, pull(7));
      const err = await rejection(makeClient({ timeoutMs: 50, retries: 1 }).getPull('acme', 'webapp', 7));
      assert.equal(err.status, null);
      assert.equal(err.retryable, true);
      assert.equal(err.message, 'Gitea GET /repos/acme/webapp/pulls/7 failed: timed out after 50ms after 2 attempts');
    });

    it('retries a network error', async () => {
      const scope = gitea()
        .get('/api/v1/user')
        .replyWithError({ code: 'ECONNRESET', message: 'socket hang up' })
        .get('/api/v1/user')
        .reply(200, user('aiworker-bot', 9));
      assert.equal((await makeClient().getCurrentUser()).login, 'aiworker-bot');
      scope.done();
    });

    it('fails on a success response that is not JSON', async () => {
      gitea().get('/api/v1/version').reply(200, '<html>login</html>');
      const err = await rejection(makeClient().getVersion());
      assert.equal(err.message, 'Gitea GET /version failed: invalid JSON in 200 response');
      assert.equal(err.retryable, false);
    });

    it('keeps the token out of error messages, logs and the inspected client', async () => {
      gitea()
        .get(REPO)
        .times(5)
        .reply(503, apiError(`proxy rejected Authorization: token ${TOKEN}`));
      const client = makeClient();
      const err = await rejection(client.getRepo('acme', 'webapp'));
      assert.equal(err.giteaMessage, 'proxy rejected Authorization: token [redacted]');
      assert.ok(!err.message.includes(TOKEN));
      assert.ok(!inspect(err, { depth: 5 }).includes(TOKEN));
      assert.ok(!inspect(client, { depth: 5, showHidden: true }).includes(TOKEN));
      assert.equal(logs.filter((l) => l.level === 'warn').length, 4);
    });

    it('rejects an unusable base URL when constructed', () => {
      assert.throws(() => new GiteaClient({ baseUrl: 'gitea.example.com', token: TOKEN }), TypeError);
    });
  });
});
