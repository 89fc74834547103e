import { GiteaHookStore } from './gitea-hooks.js';
import { giteaBranch, giteaCommit, giteaPull, giteaUser, type GiteaPullFields } from './gitea-shapes.js';

/** The head of every repository's `main` until a test moves it. */
export const MAIN_SHA = 'a1'.repeat(20);

/** A status and a JSON body (undefined: no body, as Gitea's 204 and its merge's 200). */
export type Answer = [status: number, body?: unknown];

/** swagger PullRequest, as `GET …/pulls/{index}` answers it; a test may change any field. */
export type GiteaPullJson = ReturnType<typeof giteaPull>;

let mergeCount = 0;
/** The commit a merge makes: a valid sha unlike any a test makes up. */
const mergeSha = () => (++mergeCount).toString(16).padStart(40, 'e');

/**
 * One repository of the stand-in Gitea: its branch heads, pull requests (opened, found, merged,
 * as Gitea does: a second PR from the same head to the same base is 409, merging a merged one 405,
 * a head that moved 409), reviews and their line comments, and webhooks (gitea-hooks.ts). Answers
 * carry Gitea's response shapes (swagger.v1.json Branch, PullRequest, PullReview); branch and pull
 * request creations and merges are recorded, and `script` makes the next calls of one route answer
 * what a test says (a conflict, a refusal, "try again later").
 */
export class GiteaRepo {
  /** Branch heads by name; `main` is there from the start. */
  readonly branches = new Map<string, string>([['main', MAIN_SHA]]);
  readonly pulls = new Map<number, GiteaPullJson>();
  /** Reviews by PR number (swagger PullReview), and each review's line comments by review id (PullReviewComment). */
  readonly reviews = new Map<number, Array<Record<string, unknown>>>();
  readonly reviewComments = new Map<number, Array<Record<string, unknown>>>();
  readonly hooks: GiteaHookStore;
  /** Every `POST …/pulls/{index}/merge`, in order, with its body. */
  readonly mergeCalls: Array<{ number: number; body: any }> = [];
  readonly createdPulls: any[] = [];
  readonly createdBranches: any[] = [];
  private readonly scripted = new Map<string, Answer[]>();

  constructor(
    readonly fullName: string,
    private readonly baseUrl: string,
  ) {
    this.hooks = new GiteaHookStore(baseUrl);
  }

  /** The next calls of `METHOD /path` (the path after the repository, no query) answer these, in order. */
  script(key: string, ...answers: Answer[]): void {
    this.scripted.set(key, [...(this.scripted.get(key) ?? []), ...answers]);
  }

  /** A scripted answer for this call, if one is left. */
  take(key: string): Answer | null {
    const queue = this.scripted.get(key);
    return queue?.length ? queue.shift()! : null;
  }

  /** A pull request into `staging` (unless `base` says otherwise), opened by agent1. */
  addPull(p: Partial<GiteaPullFields> & Pick<GiteaPullFields, 'number' | 'head' | 'headSha'>): GiteaPullJson {
    const base = p.base ?? 'staging';
    const pull = giteaPull(this.baseUrl, { repo: this.fullName, title: p.head, base, baseSha: this.branches.get(base) ?? MAIN_SHA, mergeBase: MAIN_SHA, ...p });
    this.pulls.set(pull.number, pull);
    return pull;
  }

  /** Records what creates or merges, before any scripted answer replaces Gitea's. */
  record(method: string, rest: string, body: any): void {
    if (method !== 'POST') return;
    const merge = /^\/pulls\/(\d+)\/merge$/.exec(rest);
    if (merge) this.mergeCalls.push({ number: Number(merge[1]), body });
    if (rest === '/pulls') this.createdPulls.push(body);
    if (rest === '/branches') this.createdBranches.push(body);
  }

  /** Gitea's answer to a call on this repository (`rest`: the path after it), or null for a route it does not serve. */
  answer(method: string, rest: string, query: string, body: any): Answer | null {
    if (rest === '/hooks' || rest.startsWith('/hooks/')) return this.hooks.answer(method, `${rest}${query}`, body);
    const branch = /^\/branches\/(.+)$/.exec(rest);
    if (method === 'GET' && branch) return this.branchAnswer(decodeURIComponent(branch[1]!));
    if (method === 'POST' && rest === '/branches') return this.createBranch(body);
    if (method === 'POST' && rest === '/pulls') return this.createPull(body);
    const pull = /^\/pulls\/(\d+)(\/merge)?$/.exec(rest);
    if (pull) {
      const found = this.pulls.get(Number(pull[1]));
      if (!pull[2]) return method === 'GET' ? (found ? [200, found] : this.notFound('pull request does not exist')) : null;
      if (method === 'GET') return found?.merged ? [204] : this.notFound('pull request has not been merged');
      if (method === 'POST') return this.merge(found, body);
      return null;
    }
    const between = /^\/pulls\/([A-Za-z][^/]*)\/(.+)$/.exec(rest);
    if (method === 'GET' && between) {
      const [baseRef, head] = [decodeURIComponent(between[1]!), decodeURIComponent(between[2]!)];
      const open = [...this.pulls.values()].find((p) => p.state === 'open' && p.base.ref === baseRef && p.head.ref === head);
      return open ? [200, open] : this.notFound("The target couldn't be found.");
    }
    const made = /^\/commits\/([0-9a-f]+)\/pull$/.exec(rest);
    if (method === 'GET' && made) {
      const merged = [...this.pulls.values()].find((p) => p.merge_commit_sha === made[1]);
      return merged ? [200, merged] : this.notFound("The target couldn't be found.");
    }
    return null;
  }

  private branchAnswer(name: string): Answer {
    const sha = this.branches.get(name);
    if (!sha) return this.notFound('branch does not exist');
    const author = { name: 'agent1', email: 'agent1@example.com', username: 'agent1' };
    return [200, giteaBranch(name, giteaCommit({ id: sha, message: 'Work\n', url: `${this.baseUrl}/${this.fullName}/commit/${sha}`, author }))];
  }

  private createBranch(body: { new_branch_name: string; old_ref_name?: string }): Answer {
    if (this.branches.has(body.new_branch_name)) return [409, this.error('The branch already exists.')];
    const from = this.branches.get(body.old_ref_name ?? 'main');
    if (!from) return this.notFound(`The old branch does not exist`);
    this.branches.set(body.new_branch_name, from);
    return [201, this.branchAnswer(body.new_branch_name)[1]];
  }

  private createPull(body: { head: string; base: string; title: string; body?: string }): Answer {
    const headSha = this.branches.get(body.head);
    if (!headSha || !this.branches.has(body.base)) return this.notFound("The target couldn't be found.");
    const existing = [...this.pulls.values()].find((p) => p.state === 'open' && p.head.ref === body.head && p.base.ref === body.base);
    if (existing) {
      return [409, this.error(`pull request already exists for these targets [id: ${existing.id}, issue_id: ${existing.id}, head_repo_id: 12, base_repo_id: 12, head_branch: ${body.head}, base_branch: ${body.base}]`)];
    }
    const number = 100 + this.pulls.size;
    return [201, this.addPull({ number, head: body.head, headSha, base: body.base, title: body.title, body: body.body ?? '' })];
  }

  private merge(pull: GiteaPullJson | undefined, body: { head_commit_id?: string }): Answer {
    if (!pull || pull.state !== 'open') return this.notFound("The target couldn't be found.");
    // Gitea's ErrHasMerged: 405 with an empty message.
    if (pull.merged) return [405, this.error('')];
    if (body.head_commit_id && body.head_commit_id !== pull.head.sha) return [409, this.error('head out of date')];
    const sha = mergeSha();
    const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    Object.assign(pull, { merged: true, state: 'closed', merge_commit_sha: sha, merged_at: at, closed_at: at, merged_by: giteaUser(this.baseUrl, 'aiworker-bot', 99) });
    this.branches.set(pull.base.ref, sha);
    return [200];
  }

  private error(message: string) {
    return { message, url: `${this.baseUrl}/api/swagger` };
  }

  private notFound(message: string): Answer {
    return [404, { ...this.error(message), errors: [] }];
  }
}
