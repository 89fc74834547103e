import type {
  CommitState,
  GiteaBranch,
  GiteaComment,
  GiteaCommitStatus,
  GiteaHook,
  GiteaHookOption,
  GiteaLabel,
  GiteaPullRequest,
  GiteaPullReview,
  GiteaPullReviewComment,
  GiteaRepoCollaboratorPermission,
  GiteaRepository,
  GiteaServerVersion,
  GiteaUser,
  MergeStyle,
  Permission,
} from './types.js';

export type * from './types.js';
export { GiteaError, isGiteaStatus, type GiteaClientOptions, type GiteaLogger } from './transport.js';
import { GiteaTransport, isGiteaStatus, type GiteaClientOptions } from './transport.js';

const PERMISSIONS: ReadonlySet<string> = new Set<Permission>(['none', 'read', 'write', 'admin', 'owner']);
const HOOK_HINTS = (owner: string, repo: string): Partial<Record<number, string>> => ({
  403: `the bot's Gitea account must be an admin of ${owner}/${repo} (or an owner of its organisation) to manage its webhooks, with a token scoped write:repository`,
  404: `Gitea knows no repository ${owner}/${repo} that the bot can see`,
});

const seg = encodeURIComponent;

/**
 * Branch names in Gitea's wildcard routes (`/branches/*`, the head of `/pulls/{base}/*`) keep
 * their slashes literal: Gitea takes the rest of the path as the name, and literal slashes get
 * through reverse proxies that reject or decode `%2F`.
 */
const refPath = (ref: string) => ref.split('/').map(encodeURIComponent).join('/');

const repoPath = (owner: string, repo: string) => `/repos/${seg(owner)}/${seg(repo)}`;

export class GiteaClient {
  readonly #http: GiteaTransport;

  constructor(opts: GiteaClientOptions) {
    this.#http = new GiteaTransport(opts);
  }

  async getVersion(): Promise<string> {
    return (await this.#http.json<GiteaServerVersion>('GET', '/version')).version;
  }

  getCurrentUser(): Promise<GiteaUser> {
    return this.#http.json('GET', '/user');
  }

  getRepo(owner: string, repo: string): Promise<GiteaRepository> {
    return this.#http.json('GET', repoPath(owner, repo));
  }

  getBranch(owner: string, repo: string, branch: string): Promise<GiteaBranch | null> {
    return nullOn404(this.#http.json<GiteaBranch>('GET', `${repoPath(owner, repo)}/branches/${refPath(branch)}`));
  }

  /** `fromRef` is a branch, tag or sha; Gitea uses the default branch without it. 409 if it exists. */
  createBranch(owner: string, repo: string, newBranch: string, fromRef?: string): Promise<GiteaBranch> {
    return this.#http.json('POST', `${repoPath(owner, repo)}/branches`, {
      body: { new_branch_name: newBranch, old_ref_name: fromRef },
      repeatSafe: 'Gitea refuses a second one: 409, the branch exists',
    });
  }

  async ensureBranch(owner: string, repo: string, branch: string, fromRef: string): Promise<GiteaBranch> {
    const existing = await this.getBranch(owner, repo, branch);
    if (existing) return existing;
    try {
      return await this.createBranch(owner, repo, branch, fromRef);
    } catch (err) {
      // Someone else (or our own retried POST) created it in between.
      if (!isGiteaStatus(err, 409)) throw err;
      const raced = await this.getBranch(owner, repo, branch);
      if (raced) return raced;
      throw err;
    }
  }

  getPull(owner: string, repo: string, index: number): Promise<GiteaPullRequest> {
    return this.#http.json('GET', `${repoPath(owner, repo)}/pulls/${index}`);
  }

  /** The merged PR whose merge made commit `sha` (`GET …/commits/{sha}/pull`), or null. */
  mergedPullOf(owner: string, repo: string, sha: string): Promise<GiteaPullRequest | null> {
    return nullOn404(this.#http.json<GiteaPullRequest>('GET', `${repoPath(owner, repo)}/commits/${seg(sha)}/pull`));
  }

  /** The open PR from `head` into `base` (Gitea 1.22+); `head` may be `owner:branch` for a fork. */
  findPull(owner: string, repo: string, base: string, head: string): Promise<GiteaPullRequest | null> {
    return nullOn404(this.#http.json<GiteaPullRequest>('GET', `${repoPath(owner, repo)}/pulls/${seg(base)}/${refPath(head)}`));
  }

  listPulls(
    owner: string,
    repo: string,
    q: { state?: 'open' | 'closed' | 'all'; limit?: number; page?: number } = {},
  ): Promise<GiteaPullRequest[]> {
    const query = new URLSearchParams();
    if (q.state !== undefined) query.set('state', q.state);
    if (q.limit !== undefined) query.set('limit', String(q.limit));
    if (q.page !== undefined) query.set('page', String(q.page));
    const qs = query.toString();
    return this.#http.json('GET', `${repoPath(owner, repo)}/pulls${qs ? `?${qs}` : ''}`);
  }

  /** 409 when an open PR from head to base already exists. */
  createPull(
    owner: string,
    repo: string,
    o: { head: string; base: string; title: string; body?: string },
  ): Promise<GiteaPullRequest> {
    return this.#http.json('POST', `${repoPath(owner, repo)}/pulls`, {
      body: { head: o.head, base: o.base, title: o.title, body: o.body },
      repeatSafe: 'Gitea refuses a second one: 409, an open PR from head to base exists',
    });
  }

  /**
   * Pass `headCommitId` (the sha that was checked) so Gitea refuses with 409 if the head moved.
   * A retry after a lost response can meet 405 because the first attempt merged: check isMerged.
   */
  async mergePull(
    owner: string,
    repo: string,
    index: number,
    o: { style: MergeStyle; headCommitId?: string; title?: string; message?: string; deleteBranchAfterMerge?: boolean },
  ): Promise<void> {
    // These keys are Gitea's form field names, which have no JSON tags: hence the casing.
    await this.#http.call('POST', `${repoPath(owner, repo)}/pulls/${index}/merge`, {
      body: {
        Do: o.style,
        MergeTitleField: o.title,
        MergeMessageField: o.message,
        head_commit_id: o.headCommitId,
        delete_branch_after_merge: o.deleteBranchAfterMerge,
      },
      repeatSafe: 'Gitea refuses to merge twice: 405, the pull request is merged',
    });
  }

  async isMerged(owner: string, repo: string, index: number): Promise<boolean> {
    try {
      await this.#http.call('GET', `${repoPath(owner, repo)}/pulls/${index}/merge`);
      return true;
    } catch (err) {
      if (isGiteaStatus(err, 404)) return false;
      throw err;
    }
  }

  /** The reviews of a PR, oldest first, every page. */
  listReviews(owner: string, repo: string, index: number): Promise<GiteaPullReview[]> {
    return this.#http.allPages<GiteaPullReview>(`${repoPath(owner, repo)}/pulls/${index}/reviews`);
  }

  /** The line comments of one review (404 when the review is gone). */
  getReviewComments(owner: string, repo: string, index: number, reviewId: number): Promise<GiteaPullReviewComment[]> {
    return this.#http.json('GET', `${repoPath(owner, repo)}/pulls/${index}/reviews/${reviewId}/comments`);
  }

  /**
   * Every comment on an issue or PR, oldest first. Gitea answers this list whole (its handler reads
   * no page); a server that pages it is followed page by page until X-Total-Count is reached.
   */
  listComments(owner: string, repo: string, index: number): Promise<GiteaComment[]> {
    return this.#http.allPages<GiteaComment>(`${repoPath(owner, repo)}/issues/${index}/comments`);
  }

  /** PRs are issues here: `index` is the PR number. */
  createComment(owner: string, repo: string, index: number, body: string): Promise<GiteaComment> {
    return this.#http.json('POST', `${repoPath(owner, repo)}/issues/${index}/comments`, { body: { body } });
  }

  editComment(owner: string, repo: string, commentId: number, body: string): Promise<GiteaComment> {
    return this.#http.json('PATCH', `${repoPath(owner, repo)}/issues/comments/${commentId}`, { body: { body } });
  }

  async setCommitStatus(
    owner: string,
    repo: string,
    sha: string,
    o: { state: CommitState; context: string; description?: string; targetUrl?: string },
  ): Promise<GiteaCommitStatus> {
    const raw = await this.#http.json<Omit<GiteaCommitStatus, 'state' | 'status'> & Partial<Pick<GiteaCommitStatus, 'state' | 'status'>>>(
      'POST',
      `${repoPath(owner, repo)}/statuses/${seg(sha)}`,
      {
        body: { state: o.state, context: o.context, description: o.description, target_url: o.targetUrl },
        repeatSafe: "a commit's status is the latest of its context: the same one twice reads as once",
      },
    );
    // The response calls it `status`; expose both names with the same value.
    const state = raw.status ?? raw.state ?? o.state;
    return { ...raw, state, status: state };
  }

  /** The user's access to the repo. Unknown users get 'none'; the bot must be a repo admin to ask. */
  async getPermission(owner: string, repo: string, username: string): Promise<Permission> {
    let reply: GiteaRepoCollaboratorPermission;
    try {
      reply = await this.#http.json('GET', `${repoPath(owner, repo)}/collaborators/${seg(username)}/permission`, {
        hints: {
          403: `the bot's Gitea account must be an admin of ${owner}/${repo} (or an owner of the organisation, or a site admin) to read other users' permissions`,
        },
      });
    } catch (err) {
      if (isGiteaStatus(err, 404)) return 'none';
      throw err;
    }
    if (PERMISSIONS.has(reply.permission)) return reply.permission as Permission;
    // Fail closed: a value this code does not know must not grant anything.
    this.#http.logger?.warn({ owner, repo, username, permission: reply.permission }, 'unknown Gitea permission, treated as none');
    return 'none';
  }

  /** Labels by id or by name; Gitea accepts either. */
  addLabels(owner: string, repo: string, index: number, labels: Array<string | number>): Promise<GiteaLabel[]> {
    return this.#http.json('POST', `${repoPath(owner, repo)}/issues/${index}/labels`, { body: { labels }, repeatSafe: 'labels already set stay set' });
  }

  /** Every webhook of the repository, page by page (Gitea caps a page at its MAX_RESPONSE_ITEMS). */
  async listHooks(owner: string, repo: string): Promise<GiteaHook[]> {
    const hooks: GiteaHook[] = [];
    for (let page = 1; ; page++) {
      const batch = await this.#http.json<GiteaHook[]>('GET', `${repoPath(owner, repo)}/hooks?page=${page}&limit=50`, { hints: HOOK_HINTS(owner, repo) });
      hooks.push(...batch);
      if (batch.length < 50) return hooks;
    }
  }

  createHook(owner: string, repo: string, hook: GiteaHookOption): Promise<GiteaHook> {
    return this.#http.json('POST', `${repoPath(owner, repo)}/hooks`, { body: hook, hints: HOOK_HINTS(owner, repo) });
  }

  /** Gitea's PATCH rebuilds the hook's events and branch filter from the body: send the full set. */
  editHook(owner: string, repo: string, id: number, hook: Omit<GiteaHookOption, 'type'>): Promise<GiteaHook> {
    return this.#http.json('PATCH', `${repoPath(owner, repo)}/hooks/${id}`, { body: hook, hints: HOOK_HINTS(owner, repo) });
  }

  async deleteHook(owner: string, repo: string, id: number): Promise<void> {
    await this.#http.call('DELETE', `${repoPath(owner, repo)}/hooks/${id}`, { hints: HOOK_HINTS(owner, repo) });
  }
}

async function nullOn404<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (isGiteaStatus(err, 404)) return null;
    throw err;
  }
}
