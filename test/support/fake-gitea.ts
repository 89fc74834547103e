import nock from 'nock';
import { GiteaHookStore } from './gitea-hooks.js';
import { giteaBranch, giteaCommit } from './gitea-shapes.js';

export const GITEA_URL = 'https://gitea.test';

export interface RecordedComment {
  index: number;
  body: string;
  id: number;
}

export interface FakeGitea {
  comments: RecordedComment[];
  edits: Array<{ id: number; body: string }>;
  permissionAsks: string[];
  setPermission(login: string, permission: string): void;
  /** The repository's webhooks, kept and answered as Gitea does. */
  hooks: GiteaHookStore;
  /**
   * Decides, for each comment posted, whether its poster never learns how it went: `before` Gitea
   * stores it (500, nothing posted) or `after` (stored, but the connection drops before the answer),
   * which is what a poster dying mid-post leaves behind.
   */
  interruptComments: ((index: number) => 'before' | 'after' | null) | null;
  /** Pull requests by number, as `GET …/pulls/{index}` answers them (swagger PullRequest); unknown ones are 404. */
  pulls: Map<number, object>;
  /** Branch heads by name, as `GET …/branches/{branch}` answers them (swagger Branch); unknown ones are 404. */
  branches: Map<string, string>;
  scope: nock.Scope;
  reset(): void;
}

const user = (id: number, login: string) => ({
  id,
  login,
  login_name: '',
  full_name: '',
  email: `${login}@noreply.gitea.test`,
  avatar_url: '',
  html_url: `${GITEA_URL}/${login}`,
  language: '',
  is_admin: false,
  username: login,
});

/** swagger Comment, as aiworker's bot account wrote it. */
const commentReply = (repo: string, c: RecordedComment) => ({
  id: c.id,
  html_url: `${GITEA_URL}/${repo}/pulls/${c.index}#issuecomment-${c.id}`,
  pull_request_url: `${GITEA_URL}/${repo}/pulls/${c.index}`,
  issue_url: '',
  user: user(99, 'aiworker-bot'),
  original_author: '',
  original_author_id: 0,
  body: c.body,
  assets: [],
  created_at: new Date().toISOString(),
  updated_at: new Date().toISOString(),
});

/**
 * The parts of Gitea's API that handlers call, answered with Gitea's own response shapes
 * (swagger.v1.json: Comment, RepoCollaboratorPermission, ServerVersion, User) and recorded.
 */
export function fakeGitea(repo = 'acme/webapp'): FakeGitea {
  const permissions = new Map<string, string>();
  const state: FakeGitea = {
    comments: [],
    edits: [],
    permissionAsks: [],
    setPermission: (login, permission) => permissions.set(login, permission),
    interruptComments: null,
    pulls: new Map(),
    branches: new Map(),
    scope: nock(GITEA_URL),
    hooks: new GiteaHookStore(GITEA_URL),
    reset() {
      state.hooks.reset();
      state.comments.length = 0;
      state.edits.length = 0;
      state.permissionAsks.length = 0;
      state.interruptComments = null;
      state.pulls.clear();
      state.branches.clear();
    },
  };
  let nextId = 1000;
  state.scope
    .persist()
    .get('/api/v1/version')
    .reply(200, { version: '1.25.4' })
    .get('/api/v1/user')
    .reply(200, user(99, 'aiworker-bot'))
    .get(new RegExp(`^/api/v1/repos/${repo}/collaborators/([^/]+)/permission$`))
    .reply((uri) => {
      const login = decodeURIComponent(/collaborators\/([^/]+)\/permission/.exec(uri)![1]);
      state.permissionAsks.push(login);
      const permission = permissions.get(login);
      if (!permission) return [404, { message: 'user does not exist', url: `${GITEA_URL}/api/swagger` }];
      return [200, { permission, role_name: permission, user: user(2, login) }];
    })
    .post(new RegExp(`^/api/v1/repos/${repo}/issues/(\\d+)/comments$`))
    .reply(async (uri, body) => {
      const index = Number(/issues\/(\d+)\/comments/.exec(uri)![1]);
      const interrupted = state.interruptComments?.(index) ?? null;
      if (interrupted === 'before') return [500, { message: 'internal server error (test)', url: `${GITEA_URL}/api/swagger` }];
      const id = nextId++;
      const text = (body as { body: string }).body;
      const comment = { index, body: text, id };
      state.comments.push(comment);
      // nock drops the connection when the reply fails.
      if (interrupted === 'after') throw new Error('connection lost after Gitea stored the comment (test)');
      return [201, commentReply(repo, comment)];
    })
    .get(new RegExp(`^/api/v1/repos/${repo}/issues/(\\d+)/comments(\\?.*)?$`))
    .reply((uri) => {
      // Gitea answers this list whole, oldest first, whatever page is asked for.
      const index = Number(/issues\/(\d+)\/comments/.exec(uri)![1]);
      const mine = state.comments.filter((c) => c.index === index).map((c) => commentReply(repo, c));
      return [200, mine, { 'X-Total-Count': String(mine.length) }];
    })
    .get(new RegExp(`^/api/v1/repos/${repo}/branches/.+$`))
    .reply((uri) => {
      const name = decodeURIComponent(uri.split('/branches/')[1]!);
      const sha = state.branches.get(name);
      if (!sha) return [404, { message: 'branch does not exist', url: `${GITEA_URL}/api/swagger` }];
      const author = { name: 'agent1', email: 'agent1@example.com', username: 'agent1' };
      return [200, giteaBranch(name, giteaCommit({ id: sha, message: 'Work\n', url: `${GITEA_URL}/${repo}/commit/${sha}`, author }))];
    })
    .get(new RegExp(`^/api/v1/repos/${repo}/pulls/(\\d+)$`))
    .reply((uri) => {
      const pull = state.pulls.get(Number(uri.split('/').pop()));
      return pull ? [200, pull] : [404, { message: 'pull request does not exist', url: `${GITEA_URL}/api/swagger` }];
    })
    // No reviews: a review's line comments are fetched into nothing (test/support/gitea-server.ts serves reviews).
    .get(new RegExp(`^/api/v1/repos/${repo}/pulls/(\\d+)/reviews(\\?.*)?$`))
    .reply(200, [], { 'X-Total-Count': '0' })
    .patch(new RegExp(`^/api/v1/repos/${repo}/issues/comments/(\\d+)$`))
    .reply((uri, body) => {
      const id = Number(uri.split('/').pop());
      state.edits.push({ id, body: (body as { body: string }).body });
      return [200, { id, body: (body as { body: string }).body, user: user(99, 'aiworker-bot'), created_at: new Date().toISOString(), updated_at: new Date().toISOString() }];
    })
    .post(new RegExp(`^/api/v1/repos/${repo}/statuses/[0-9a-f]+$`))
    .reply(201, (_uri, body) => ({ id: 1, status: (body as { state: string }).state, context: (body as { context: string }).context, description: '', target_url: '', url: '', created_at: new Date().toISOString(), updated_at: new Date().toISOString() }));
  const hooksPath = new RegExp(`^/api/v1/repos/${repo}/hooks(/\\d+)?(\\?.*)?$`);
  for (const method of ['GET', 'POST', 'PATCH', 'DELETE']) {
    state.scope.intercept(hooksPath, method).reply((uri, body) => state.hooks.answer(method, uri, body) as [number, nock.Body]).persist();
  }
  return state;
}
