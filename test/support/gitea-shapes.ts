/**
 * Gitea's REST response shapes (definitions of /work/shared/reference/gitea/swagger.v1.json:
 * User, Repository, PayloadCommit, Branch, PullRequest, PRBranchInfo), built for tests that answer
 * as a Gitea at `baseUrl` would. Fixed values (dates, counters) are plausible constants.
 */

/** swagger PayloadUser: the author or committer of a commit. */
export interface GiteaPayloadUser {
  name: string;
  email: string;
  username: string;
}

/** swagger User. */
export function giteaUser(baseUrl: string, login: string, id = 3) {
  return {
    id,
    login,
    login_name: '',
    source_id: 0,
    full_name: '',
    email: `${login}@noreply.${new URL(baseUrl).host}`,
    avatar_url: `${baseUrl}/avatars/${id}`,
    html_url: `${baseUrl}/${login}`,
    language: '',
    is_admin: false,
    last_login: '2026-02-20T09:00:00Z',
    created: '2025-11-01T10:00:00Z',
    restricted: false,
    active: true,
    prohibit_login: false,
    location: '',
    website: '',
    description: '',
    visibility: 'public',
    followers_count: 0,
    following_count: 0,
    starred_repos_count: 0,
    username: login,
  };
}

/** swagger Repository of `fullName` ("owner/name"), owned by a user with id 2. */
export function giteaRepository(baseUrl: string, fullName = 'acme/webapp', id = 12) {
  const [owner, name] = fullName.split('/') as [string, string];
  return {
    id,
    owner: giteaUser(baseUrl, owner, 2),
    name,
    full_name: fullName,
    description: '',
    empty: false,
    private: true,
    fork: false,
    template: false,
    mirror: false,
    size: 812,
    html_url: `${baseUrl}/${fullName}`,
    url: `${baseUrl}/api/v1/repos/${fullName}`,
    ssh_url: `git@${new URL(baseUrl).host}:${fullName}.git`,
    clone_url: `${baseUrl}/${fullName}.git`,
    default_branch: 'main',
    archived: false,
    has_pull_requests: true,
    allow_merge_commits: true,
    allow_rebase: true,
    allow_rebase_explicit: true,
    allow_squash_merge: true,
    allow_fast_forward_only_merge: true,
    default_merge_style: 'merge',
    default_delete_branch_after_merge: false,
    permissions: { admin: true, push: true, pull: true },
  };
}

/** swagger PayloadCommit (a Branch's `commit`), committed by its author. */
export function giteaCommit(c: { id: string; message: string; url: string; author: GiteaPayloadUser; timestamp?: string }) {
  return {
    id: c.id,
    message: c.message,
    url: c.url,
    author: { ...c.author },
    committer: { ...c.author },
    verification: null,
    timestamp: c.timestamp ?? '2026-02-21T12:00:00Z',
    added: null,
    removed: null,
    modified: null,
  };
}

/** swagger Branch: an unprotected branch whose head is `commit` (a PayloadCommit). */
export function giteaBranch(name: string, commit: object) {
  return {
    name,
    commit,
    protected: false,
    required_approvals: 0,
    enable_status_check: false,
    status_check_contexts: [],
    user_can_push: true,
    user_can_merge: true,
    effective_branch_protection_name: '',
  };
}

export interface GiteaPullFields {
  number: number;
  head: string;
  headSha: string;
  base: string;
  baseSha: string;
  /** Defaults to `baseSha`. */
  mergeBase?: string;
  /** "owner/name" of the repository both branches are in. */
  repo?: string;
  title?: string;
  body?: string;
  state?: 'open' | 'closed';
  mergeable?: boolean;
  /** Who opened it; defaults to the user agent1. */
  user?: object;
  /** Set when the pull request is merged (it is then closed at the same time). */
  merged?: { sha: string; by: object; at: string } | null;
}

/** swagger PullRequest with id 40 + number, head and base (PRBranchInfo) in the same repository. */
export function giteaPull(baseUrl: string, p: GiteaPullFields) {
  const fullName = p.repo ?? 'acme/webapp';
  const repository = giteaRepository(baseUrl, fullName);
  const html = `${baseUrl}/${fullName}/pulls/${p.number}`;
  const merged = p.merged ?? null;
  return {
    id: 40 + p.number,
    url: html,
    number: p.number,
    user: p.user ?? giteaUser(baseUrl, 'agent1'),
    title: p.title ?? 'Add login form',
    body: p.body ?? '',
    labels: [],
    milestone: null,
    assignee: null,
    assignees: null,
    requested_reviewers: [],
    requested_reviewers_teams: [],
    state: p.state ?? 'open',
    draft: false,
    is_locked: false,
    comments: 0,
    review_comments: 0,
    additions: 42,
    deletions: 3,
    changed_files: 4,
    html_url: html,
    diff_url: `${html}.diff`,
    patch_url: `${html}.patch`,
    mergeable: p.mergeable ?? true,
    merged: merged !== null,
    merged_at: merged?.at ?? null,
    merge_commit_sha: merged?.sha ?? null,
    merged_by: merged?.by ?? null,
    allow_maintainer_edit: false,
    base: { label: p.base, ref: p.base, sha: p.baseSha, repo_id: repository.id, repo: repository },
    head: { label: p.head, ref: p.head, sha: p.headSha, repo_id: repository.id, repo: repository },
    merge_base: p.mergeBase ?? p.baseSha,
    due_date: null,
    created_at: '2026-02-21T12:05:00Z',
    updated_at: '2026-02-21T12:06:00Z',
    closed_at: merged?.at ?? null,
    pin_order: 0,
  };
}
