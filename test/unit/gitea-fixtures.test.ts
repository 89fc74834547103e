import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { signPayload, verifySignature } from '../../src/gitea/signature.js';
import { giteaDelivery, giteaJson, loadGiteaFixture, TEST_WEBHOOK_SECRET } from '../support/gitea-delivery.js';

const FIXTURES_DIR = new URL('../../fixtures/gitea/', import.meta.url);

// WEBHOOKS.md §3: X-Gitea-Event-Type (unambiguous) -> X-Gitea-Event (coarse).
const EVENT_OF_TYPE: Record<string, string> = {
  push: 'push',
  create: 'create',
  delete: 'delete',
  pull_request: 'pull_request',
  pull_request_sync: 'pull_request',
  pull_request_assign: 'pull_request',
  pull_request_label: 'pull_request',
  pull_request_milestone: 'pull_request',
  pull_request_review_request: 'pull_request',
  pull_request_review_approved: 'pull_request_approved',
  pull_request_review_rejected: 'pull_request_rejected',
  pull_request_review_comment: 'pull_request_comment',
  pull_request_comment: 'issue_comment',
  issue_comment: 'issue_comment',
  issues: 'issues',
  issue_assign: 'issues',
  issue_label: 'issues',
  issue_milestone: 'issues',
  status: 'status',
};

type Kind = 'push' | 'create' | 'pull_request' | 'issue_comment' | 'issues' | 'status';
interface Expectation {
  eventType: string;
  kind: Kind;
  action?: string;
}

// The fixture file names are a contract other tests rely on.
const EXPECTED: Record<string, Expectation> = {
  'push.task-branch': { eventType: 'push', kind: 'push' },
  'push.staging': { eventType: 'push', kind: 'push' },
  'push.main': { eventType: 'push', kind: 'push' },
  'create.task-branch': { eventType: 'create', kind: 'create' },
  'pull_request.opened': { eventType: 'pull_request', kind: 'pull_request', action: 'opened' },
  'pull_request.reopened': { eventType: 'pull_request', kind: 'pull_request', action: 'reopened' },
  'pull_request.synchronized': { eventType: 'pull_request_sync', kind: 'pull_request', action: 'synchronized' },
  'pull_request.closed': { eventType: 'pull_request', kind: 'pull_request', action: 'closed' },
  'pull_request.merged-staging': { eventType: 'pull_request', kind: 'pull_request', action: 'closed' },
  'pull_request.merged-main': { eventType: 'pull_request', kind: 'pull_request', action: 'closed' },
  'pull_request.edited': { eventType: 'pull_request', kind: 'pull_request', action: 'edited' },
  'pull_request.labeled': { eventType: 'pull_request_label', kind: 'pull_request', action: 'label_updated' },
  'pull_request_review_approved': { eventType: 'pull_request_review_approved', kind: 'pull_request', action: 'reviewed' },
  'pull_request_review_rejected': { eventType: 'pull_request_review_rejected', kind: 'pull_request', action: 'reviewed' },
  'pull_request_review_comment': { eventType: 'pull_request_review_comment', kind: 'pull_request', action: 'reviewed' },
  'issue_comment.pr': { eventType: 'pull_request_comment', kind: 'issue_comment', action: 'created' },
  'issue_comment.issue': { eventType: 'issue_comment', kind: 'issue_comment', action: 'created' },
  'issues.labeled': { eventType: 'issue_label', kind: 'issues', action: 'label_updated' },
  'issues.opened': { eventType: 'issues', kind: 'issues', action: 'opened' },
  'issues.assigned': { eventType: 'issue_assign', kind: 'issues', action: 'assigned' },
  'status': { eventType: 'status', kind: 'status' },
};
const NAMES = Object.keys(EXPECTED);

// Required keys per WEBHOOKS.md §5 (and the Go structs it cites).
const USER_KEYS = ['id', 'login', 'username', 'login_name', 'full_name', 'email', 'avatar_url', 'html_url', 'is_admin', 'active', 'restricted', 'visibility', 'created', 'last_login', 'followers_count'];
const REPO_KEYS = ['id', 'owner', 'name', 'full_name', 'default_branch', 'clone_url', 'ssh_url', 'html_url', 'url', 'private', 'fork', 'parent', 'empty', 'archived', 'mirror', 'permissions', 'has_pull_requests', 'allow_merge_commits', 'allow_rebase', 'allow_rebase_explicit', 'allow_squash_merge', 'allow_fast_forward_only_merge', 'default_merge_style', 'default_delete_branch_after_merge', 'object_format_name'];
const COMMIT_KEYS = ['id', 'message', 'url', 'author', 'committer', 'verification', 'timestamp', 'added', 'removed', 'modified'];
const PR_KEYS = ['id', 'number', 'url', 'html_url', 'diff_url', 'patch_url', 'user', 'title', 'body', 'state', 'draft', 'is_locked', 'labels', 'milestone', 'assignee', 'assignees', 'requested_reviewers', 'requested_reviewers_teams', 'comments', 'mergeable', 'merged', 'merged_at', 'merge_commit_sha', 'merged_by', 'allow_maintainer_edit', 'merge_base', 'base', 'head', 'due_date', 'created_at', 'updated_at', 'closed_at', 'pin_order'];
const LABEL_KEYS = ['id', 'name', 'color', 'description', 'exclusive', 'is_archived', 'url'];
const ISSUE_KEYS = ['id', 'number', 'title', 'body', 'user', 'state', 'labels', 'assignees', 'html_url', 'url', 'comments', 'pull_request', 'repository'];
const COMMENT_KEYS = ['id', 'body', 'user', 'html_url', 'pull_request_url', 'issue_url', 'assets', 'original_author', 'created_at', 'updated_at'];
const PAYLOAD_KEYS: Record<Kind, string[]> = {
  push: ['ref', 'before', 'after', 'compare_url', 'commits', 'total_commits', 'head_commit', 'repository', 'pusher', 'sender'],
  create: ['sha', 'ref', 'ref_type', 'repository', 'sender'],
  pull_request: ['action', 'number', 'pull_request', 'requested_reviewer', 'repository', 'sender', 'commit_id', 'review'],
  issue_comment: ['action', 'issue', 'comment', 'repository', 'sender', 'is_pull'],
  issues: ['action', 'number', 'issue', 'repository', 'sender', 'commit_id'],
  status: ['id', 'sha', 'state', 'context', 'description', 'target_url', 'commit', 'repository', 'sender', 'created_at', 'updated_at'],
};
// Keys GitHub sends and Gitea does not; a fixture holding one was copied from the wrong forge.
const GITHUB_ONLY_KEYS = ['node_id', 'installation', 'forced', 'base_ref', 'stargazers_count', 'pushed_at', 'gravatar_id', 'site_admin'];

const SHA1 = /^[0-9a-f]{40}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const APP_URL = 'https://gitea.example.com/';

function expectKeys(obj: any, keys: readonly string[], where: string): void {
  expect(obj, where).to.be.an('object');
  for (const key of keys) expect(Object.hasOwn(obj, key), `${where}.${key} is missing`).to.equal(true);
}

function expectUser(u: any, where: string): void {
  expectKeys(u, USER_KEYS, where);
  expect(u.id, `${where}.id`).to.be.a('number');
  expect(u.username, `${where}.username copies login`).to.equal(u.login);
  expect(u, `${where} has no GitHub user.type`).not.to.have.property('type');
}

function expectRepository(r: any, where: string): void {
  expectKeys(r, REPO_KEYS, where);
  expectUser(r.owner, `${where}.owner`);
  expectKeys(r.permissions, ['admin', 'push', 'pull'], `${where}.permissions`);
  expect(r.full_name, `${where}.full_name`).to.equal(`${r.owner.login}/${r.name}`);
  expect(r.id).to.equal(42);
  expect(r.full_name).to.equal('acme/webapp');
  expect(r.default_branch).to.equal('main');
  expect(r.html_url).to.equal(`${APP_URL}acme/webapp`);
  expect(r.url).to.equal(`${APP_URL}api/v1/repos/acme/webapp`);
}

function expectCommit(c: any, where: string): void {
  expectKeys(c, COMMIT_KEYS, where);
  expect(c.id, `${where}.id`).to.match(SHA1);
  expect(c.url, `${where}.url`).to.equal(`${APP_URL}acme/webapp/commit/${c.id}`);
  for (const who of ['author', 'committer']) expectKeys(c[who], ['name', 'email', 'username'], `${where}.${who}`);
  for (const list of ['added', 'removed', 'modified']) expect(c[list], `${where}.${list}`).to.be.an('array');
}

function expectLabels(labels: any, where: string): void {
  expect(labels, where).to.be.an('array');
  labels.forEach((l: any, i: number) => expectKeys(l, LABEL_KEYS, `${where}[${i}]`));
}

function expectPullRequest(pr: any, where: string): void {
  expectKeys(pr, PR_KEYS, where);
  expectUser(pr.user, `${where}.user`);
  expectLabels(pr.labels, `${where}.labels`);
  expect(pr.id, `${where}.id is the DB id, not the number`).not.to.equal(pr.number);
  expect(pr.html_url).to.equal(`${APP_URL}acme/webapp/pulls/${pr.number}`);
  expect(pr.url, `${where}.url is the web URL in Gitea`).to.equal(pr.html_url);
  expect(pr.state).to.be.oneOf(['open', 'closed']);
  expect(pr.merge_base).to.match(SHA1);
  for (const side of ['base', 'head']) {
    const branch = pr[side];
    expectKeys(branch, ['label', 'ref', 'sha', 'repo_id', 'repo'], `${where}.${side}`);
    expect(branch.sha, `${where}.${side}.sha`).to.match(SHA1);
    expect(branch.repo_id).to.equal(42);
    expectRepository(branch.repo, `${where}.${side}.repo`);
    expect(branch, `${where}.${side} has no GitHub user`).not.to.have.property('user');
  }
  if (pr.merged) {
    expect(pr.state).to.equal('closed');
    expect(pr.merged_at).to.match(RFC3339);
    expect(pr.closed_at).to.match(RFC3339);
    expect(pr.merge_commit_sha).to.match(SHA1);
    expectUser(pr.merged_by, `${where}.merged_by`);
  } else {
    expect([pr.merged_at, pr.merge_commit_sha, pr.merged_by]).to.deep.equal([null, null, null]);
  }
}

function expectIssue(issue: any, where: string): void {
  expectKeys(issue, ISSUE_KEYS, where);
  expectUser(issue.user, `${where}.user`);
  expectLabels(issue.labels, `${where}.labels`);
  expectKeys(issue.repository, ['id', 'name', 'owner', 'full_name'], `${where}.repository`);
  expect(issue.repository.owner, `${where}.repository.owner is a plain string`).to.equal('acme');
  expect(issue.url).to.equal(`${APP_URL}api/v1/repos/acme/webapp/issues/${issue.number}`);
}

function walk(node: any, visit: (key: string, value: any, path: string) => void, path = ''): void {
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    const here = `${path}.${key}`;
    visit(key, value, here);
    walk(value, visit, here);
  }
}

function loadText(name: string): string {
  return readFileSync(new URL(`${name}.json`, FIXTURES_DIR), 'utf8');
}

function verifyDelivery(body: string, headers: Record<string, string>, secrets = [TEST_WEBHOOK_SECRET]): Promise<boolean> {
  return verifySignature(
    Buffer.from(body, 'utf8'),
    { giteaSignature: headers['X-Gitea-Signature'], hubSignature256: headers['X-Hub-Signature-256'] },
    secrets,
  );
}

describe('gitea fixtures', () => {
  it('has exactly the contracted fixture files', () => {
    const files = readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length));
    expect(files.sort()).to.deep.equal([...NAMES].sort());
  });

  for (const name of NAMES) {
    describe(name, () => {
      const expected = EXPECTED[name]!;
      const { headers, payload } = loadGiteaFixture(name);

      it('is pretty-printed JSON with a headers and a payload object', () => {
        const text = loadText(name);
        expect(text).to.equal(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
        expect(Object.keys(JSON.parse(text))).to.deep.equal(['headers', 'payload']);
      });

      it('has the X-Gitea-Event / X-Gitea-Event-Type pair of the WEBHOOKS.md §3 table', () => {
        expect(Object.keys(headers).sort()).to.deep.equal(['X-Gitea-Event', 'X-Gitea-Event-Type', 'X-Gitea-Hook-Installation-Target-Type']);
        expect(headers['X-Gitea-Event-Type']).to.equal(expected.eventType);
        expect(headers['X-Gitea-Event']).to.equal(EVENT_OF_TYPE[expected.eventType]);
        expect(headers['X-Gitea-Hook-Installation-Target-Type']).to.equal('repository');
      });

      it(`has the Gitea keys of a ${expected.kind} payload`, () => {
        expectKeys(payload, PAYLOAD_KEYS[expected.kind], 'payload');
        expectUser(payload.sender, 'payload.sender');
        expectRepository(payload.repository, 'payload.repository');
        if (expected.action !== undefined) expect(payload.action).to.equal(expected.action);
      });

      it('holds no GitHub-only keys or action names', () => {
        walk(payload, (key, _value, path) => expect(GITHUB_ONLY_KEYS, `${path} is GitHub's`).not.to.include(key));
        expect(payload.action ?? '').not.to.be.oneOf(['synchronize', 'merged', 'submitted']);
      });

      it('uses RFC 3339 times and 40-hex shas', () => {
        walk(payload, (key, value, path) => {
          if (typeof value !== 'string') return;
          if (/(_at|^created|^timestamp|^last_login|^mirror_updated|^due_date|^due_on)$/.test(key)) expect(value, path).to.match(RFC3339);
          if (/^(sha|before|after|merge_base|merge_commit_sha)$/.test(key)) expect(value, path).to.match(SHA1);
        });
      });

      if (expected.kind === 'push') {
        it('is a branch push with consistent commits', () => {
          expect(payload.ref).to.match(/^refs\/heads\//);
          expect(payload.before).to.match(SHA1).and.not.equal('0'.repeat(40));
          expect(payload.after).to.match(SHA1);
          expect(payload.compare_url).to.equal(`${APP_URL}acme/webapp/compare/${payload.before}...${payload.after}`);
          payload.commits.forEach((c: any, i: number) => expectCommit(c, `payload.commits[${i}]`));
          expectCommit(payload.head_commit, 'payload.head_commit');
          expect(payload.head_commit.id).to.equal(payload.after);
          expect(payload.commits[0].id, 'commits are newest first').to.equal(payload.after);
          expect(payload.total_commits).to.be.at.least(payload.commits.length);
          expectUser(payload.pusher, 'payload.pusher');
          expect(payload.pusher.id).to.equal(payload.sender.id);
          expect(payload, 'GitHub-only push flags').not.to.have.any.keys('created', 'deleted');
        });
      }

      if (expected.kind === 'create') {
        it('carries the short ref name', () => {
          expect(payload.ref).to.equal('task-1-add-login');
          expect(payload.ref_type).to.equal('branch');
          expect(payload.sha).to.match(SHA1);
        });
      }

      if (expected.kind === 'pull_request') {
        it('is a PullRequestPayload with the event semantics of §3', () => {
          expectPullRequest(payload.pull_request, 'payload.pull_request');
          expect(payload.number).to.equal(payload.pull_request.number);
          expect(payload.commit_id).to.equal('');
          expect(Object.hasOwn(payload, 'changes'), 'changes only on edited').to.equal(expected.action === 'edited');
          expect(payload).not.to.have.property('before');
          expect(payload).not.to.have.property('after');
          if (expected.action === 'reviewed') {
            expect(payload.review).to.deep.equal({ type: expected.eventType, content: payload.review.content });
            expect(payload.review.content).to.be.a('string');
            expectUser(payload.requested_reviewer, 'payload.requested_reviewer');
            expect(payload.requested_reviewer.id, 'requested_reviewer is the reviewer').to.equal(payload.sender.id);
            expect(payload.sender.login).not.to.equal(payload.pull_request.user.login);
          } else {
            expect(payload.review).to.equal(null);
          }
        });

        if (name === 'pull_request.merged-main') {
          it('is the merged staging -> main promotion PR', () => {
            expect(payload.pull_request.head.ref).to.equal('staging');
            expect(payload.pull_request.base.ref).to.equal('main');
            expect(payload.pull_request.merged).to.equal(true);
          });
        } else {
          it('is PR #7 from task-1-add-login into staging', () => {
            expect(payload.number).to.equal(7);
            expect(payload.pull_request.head.ref).to.equal('task-1-add-login');
            expect(payload.pull_request.head.label).to.equal('task-1-add-login');
            expect(payload.pull_request.base.ref).to.equal('staging');
            expect(payload.pull_request.body).to.match(/\bTask: 1\b/);
          });
        }
      }

      if (name === 'pull_request.closed') {
        it('is closed without a merge', () => {
          expect(payload.pull_request.state).to.equal('closed');
          expect(payload.pull_request.merged).to.equal(false);
          expect(payload.pull_request.closed_at).to.match(RFC3339);
        });
      }
      if (name === 'pull_request.merged-staging') {
        it('is merged, which Gitea reports as action closed', () => {
          expect(payload.pull_request.merged).to.equal(true);
          expect(payload.pull_request.base.sha, 'base now points at the merge commit').to.equal(payload.pull_request.merge_commit_sha);
        });
      }
      if (name === 'pull_request.edited') {
        it('carries the old value in changes', () => {
          expect(payload.changes.body.from).to.be.a('string').and.not.equal(payload.pull_request.body);
        });
      }

      if (expected.kind === 'issue_comment') {
        it('is an IssueCommentPayload whose is_pull matches the event type', () => {
          const isPull = expected.eventType === 'pull_request_comment';
          expect(payload.is_pull).to.equal(isPull);
          expectIssue(payload.issue, 'payload.issue');
          expectKeys(payload.comment, COMMENT_KEYS, 'payload.comment');
          expectUser(payload.comment.user, 'payload.comment.user');
          expect(payload.comment.html_url).to.equal(`${payload.issue.html_url}#issuecomment-${payload.comment.id}`);
          if (isPull) {
            expectPullRequest(payload.pull_request, 'payload.pull_request');
            expect(payload.pull_request.number).to.equal(payload.issue.number);
            expectKeys(payload.issue.pull_request, ['merged', 'merged_at', 'draft', 'html_url'], 'payload.issue.pull_request');
            expect(payload.comment.pull_request_url).to.equal(payload.pull_request.html_url);
            expect(payload.comment.issue_url).to.equal('');
          } else {
            expect(payload).not.to.have.property('pull_request');
            expect(payload.issue.pull_request).to.equal(null);
            expect(payload.comment.pull_request_url).to.equal('');
            expect(payload.comment.issue_url).to.equal(payload.issue.html_url);
          }
        });
      }

      if (expected.kind === 'issues') {
        it('is an IssuePayload of a plain issue that asks for aiworker (its label, or assigned to the bot)', () => {
          expectIssue(payload.issue, 'payload.issue');
          expect(payload.number).to.equal(payload.issue.number);
          expect(payload.issue.pull_request).to.equal(null);
          if (expected.action === 'assigned') {
            expect(payload.issue.assignees.map((a: any) => a.login)).to.deep.equal(['aiworker-bot']);
            expectUser(payload.issue.assignee, 'payload.issue.assignee');
            expect(payload.issue.labels.map((l: any) => l.name)).not.to.include('aiworker');
          } else {
            expect(payload.issue.labels.map((l: any) => l.name)).to.include('aiworker');
          }
        });
      }

      if (expected.kind === 'status') {
        it('is a CommitStatusPayload for the commit it names', () => {
          expect(payload.state).to.be.oneOf(['pending', 'success', 'error', 'failure', 'warning', 'skipped']);
          expectCommit(payload.commit, 'payload.commit');
          expect(payload.commit.id).to.equal(payload.sha);
        });
      }

      it('builds a delivery whose body verifies and parses back to the fixture payload', async () => {
        const d = giteaDelivery(name);
        expect(d.body).to.equal(giteaJson(payload));
        expect(JSON.parse(d.body)).to.deep.equal(payload);
        expect(d.payload).to.deep.equal(payload);
        expect(d.body.endsWith('\n')).to.equal(false);
        expect(d.body).not.to.match(/[<>&]/);
        expect(await verifyDelivery(d.body, d.headers)).to.equal(true);
        expect(await verifyDelivery(d.body, d.headers, ['some-other-secret'])).to.equal(false);
        expect(d.headers['X-Gitea-Event']).to.equal(headers['X-Gitea-Event']);
        expect(d.headers['X-Gitea-Event-Type']).to.equal(headers['X-Gitea-Event-Type']);
      });

      it('builds a form delivery whose decoded payload field verifies and the form body does not', async () => {
        const d = giteaDelivery(name, { form: true });
        expect(d.headers['Content-Type']).to.equal('application/x-www-form-urlencoded');
        expect(d.body.startsWith('payload=')).to.equal(true);
        const field = new URLSearchParams(d.body).get('payload');
        expect(field).to.equal(giteaJson(payload));
        expect(await verifyDelivery(field!, d.headers)).to.equal(true);
        expect(await verifyDelivery(d.body, d.headers)).to.equal(false);
      });
    });
  }
});

describe('giteaDelivery', () => {
  it('serialises like Go json.MarshalIndent: the WEBHOOKS.md §2 worked example', () => {
    const body = giteaJson({ action: 'opened', number: 7 });
    expect(body).to.equal('{\n  "action": "opened",\n  "number": 7\n}');
    expect(signPayload(body, 'gitea-bot-secret')).to.equal('d0e45b2bbf3a28c3769c402af44463ab29cb0ddae28923c0a677649452fba5d6');
  });

  it("escapes <, >, &, U+2028 and U+2029 as Go's encoder does, and keeps empty containers compact", () => {
    expect(giteaJson({ a: '<b>&</b>\u2028\u2029', e: [], o: {}, n: null, t: 'tab\there\u0001' })).to.equal(
      '{\n  "a": "\\u003cb\\u003e\\u0026\\u003c/b\\u003e\\u2028\\u2029",\n  "e": [],\n  "o": {},\n  "n": null,\n  "t": "tab\\there\\u0001"\n}',
    );
    const d = giteaDelivery('pull_request.opened');
    expect(d.body).to.include('"body": "Adds a `\\u003cform\\u003e` for email \\u0026 password login');
  });

  it('sets the full Gitea header set with one delivery id and matching signatures', () => {
    const d = giteaDelivery('pull_request.synchronized', { id: '3b1e7c52-6f0e-4c1a-9d43-2a8f5e0b7c11' });
    const sha256 = createHmac('sha256', TEST_WEBHOOK_SECRET).update(d.body).digest('hex');
    const sha1 = createHmac('sha1', TEST_WEBHOOK_SECRET).update(d.body).digest('hex');
    expect(d.id).to.equal('3b1e7c52-6f0e-4c1a-9d43-2a8f5e0b7c11');
    expect(d.headers).to.deep.equal({
      'Content-Type': 'application/json',
      'X-Gitea-Delivery': d.id,
      'X-Gitea-Event': 'pull_request',
      'X-Gitea-Event-Type': 'pull_request_sync',
      'X-Gitea-Signature': sha256,
      'X-Gogs-Delivery': d.id,
      'X-Gogs-Event': 'pull_request',
      'X-Gogs-Event-Type': 'pull_request_sync',
      'X-Gogs-Signature': sha256,
      'X-Hub-Signature': `sha1=${sha1}`,
      'X-Hub-Signature-256': `sha256=${sha256}`,
      'X-GitHub-Delivery': d.id,
      'X-GitHub-Event': 'pull_request',
      'X-GitHub-Event-Type': 'pull_request_sync',
      'X-Gitea-Hook-Installation-Target-Type': 'repository',
      'X-GitHub-Hook-Installation-Target-Type': 'repository',
    });
  });

  it('makes a fresh UUID v4 per delivery', () => {
    const a = giteaDelivery('push.main');
    const b = giteaDelivery('push.main');
    const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(a.id).to.match(uuidV4);
    expect(b.id).to.match(uuidV4).and.not.equal(a.id);
    expect(a.body).to.equal(b.body);
  });

  it('signs with opts.secret, and sends empty signatures for a hook without a secret', async () => {
    const custom = giteaDelivery('push.main', { secret: 'rotated-secret' });
    expect(await verifyDelivery(custom.body, custom.headers, ['rotated-secret'])).to.equal(true);
    expect(await verifyDelivery(custom.body, custom.headers)).to.equal(false);

    const unsigned = giteaDelivery('push.main', { secret: '' });
    expect(unsigned.headers['X-Gitea-Signature']).to.equal('');
    expect(unsigned.headers['X-Hub-Signature']).to.equal('sha1=');
    expect(unsigned.headers['X-Hub-Signature-256']).to.equal('sha256=');
    expect(await verifyDelivery(unsigned.body, unsigned.headers)).to.equal(false);
  });

  it('form-encodes like Go url.Values.Encode', () => {
    const d = giteaDelivery('pull_request.opened', { form: true, mutate: (p) => (p.pull_request.title = "a b*(c)!'~") });
    expect(d.body).to.include('a+b%2A%28c%29%21%27~');
    expect(d.body).to.match(/^payload=[A-Za-z0-9\-_.~%+]+$/);
  });

  it('lets mutate change a deep copy, and signs the mutated body', async () => {
    const d = giteaDelivery('issue_comment.pr', { mutate: (p) => (p.comment.body = '@aiworker <retry> & rebase') });
    expect(d.payload.comment.body).to.equal('@aiworker <retry> & rebase');
    expect(JSON.parse(d.body).comment.body).to.equal('@aiworker <retry> & rebase');
    expect(d.body).to.include('\\u003cretry\\u003e \\u0026 rebase');
    expect(await verifyDelivery(d.body, d.headers)).to.equal(true);
    expect(loadGiteaFixture('issue_comment.pr').payload.comment.body).not.to.equal('@aiworker <retry> & rebase');
  });

  it('rewrites the task branch and "Task: 1" for taskId', () => {
    const pr = giteaDelivery('pull_request.opened', { taskId: 42 });
    expect(pr.payload.pull_request.head.ref).to.equal('task-42-add-login');
    expect(pr.payload.pull_request.head.label).to.equal('task-42-add-login');
    expect(pr.payload.pull_request.body).to.match(/\bTask: 42$/);
    expect(pr.body).not.to.include('task-1-add-login');

    expect(giteaDelivery('push.task-branch', { taskId: 42 }).payload.ref).to.equal('refs/heads/task-42-add-login');
    expect(giteaDelivery('create.task-branch', { taskId: 42 }).payload.ref).to.equal('task-42-add-login');
    const comment = giteaDelivery('issue_comment.pr', { taskId: 42 }).payload;
    expect(comment.issue.body).to.match(/\bTask: 42$/);
    expect(comment.pull_request.head.ref).to.equal('task-42-add-login');
    const edited = giteaDelivery('pull_request.edited', { taskId: 42 }).payload;
    expect(edited.changes.body.from).to.match(/\bTask: 42$/);
  });

  it('rewrites the PR number and its URLs for prNumber', () => {
    const pr = giteaDelivery('pull_request_review_approved', { prNumber: 12 }).payload;
    expect(pr.number).to.equal(12);
    expect(pr.pull_request.number).to.equal(12);
    expect(pr.pull_request.html_url).to.equal('https://gitea.example.com/acme/webapp/pulls/12');
    expect(pr.pull_request.diff_url).to.equal('https://gitea.example.com/acme/webapp/pulls/12.diff');
    expect(pr.pull_request.id, 'the DB id stays').to.equal(118);

    const comment = giteaDelivery('issue_comment.pr', { prNumber: 12 });
    expect(comment.payload.issue.number).to.equal(12);
    expect(comment.payload.pull_request.number).to.equal(12);
    expect(comment.payload.issue.url).to.equal('https://gitea.example.com/api/v1/repos/acme/webapp/issues/12');
    expect(comment.payload.comment.html_url).to.equal('https://gitea.example.com/acme/webapp/pulls/12#issuecomment-1544');
    expect(comment.body).not.to.match(/\/(pulls|issues)\/7(?![0-9])/);

    const promotion = giteaDelivery('pull_request.merged-main', { prNumber: 15 }).payload;
    expect(promotion.number).to.equal(15);
    expect(promotion.pull_request.patch_url).to.equal('https://gitea.example.com/acme/webapp/pulls/15.patch');

    expect(() => giteaDelivery('push.task-branch', { prNumber: 12 })).to.throw(/not about a pull request/);
    expect(() => giteaDelivery('issue_comment.issue', { prNumber: 12 })).to.throw(/not about a pull request/);
  });

  it('applies taskId and prNumber before mutate', () => {
    let seen: unknown;
    giteaDelivery('pull_request.opened', { taskId: 5, prNumber: 6, mutate: (p) => (seen = [p.number, p.pull_request.head.ref]) });
    expect(seen).to.deep.equal([6, 'task-5-add-login']);
  });
});
