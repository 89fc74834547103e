/**
 * Response shapes of the Gitea REST API (swagger.v1.json definitions), limited to the fields the
 * bot reads. Gitea serialises Go structs without omitempty, so plain fields are always present;
 * fields backed by Go pointers are nullable.
 */

export type Permission = 'none' | 'read' | 'write' | 'admin' | 'owner';
export type MergeStyle = 'merge' | 'rebase' | 'rebase-merge' | 'squash' | 'fast-forward-only';
export type CommitState = 'pending' | 'success' | 'error' | 'failure' | 'warning';

/** definitions.User */
export interface GiteaUser {
  id: number;
  login: string;
  full_name: string;
  email: string;
  avatar_url: string;
  html_url: string;
  is_admin: boolean;
}

/** definitions.Permission (the caller's own rights, embedded in Repository) */
export interface GiteaRepoPermissions {
  admin: boolean;
  push: boolean;
  pull: boolean;
}

/** definitions.Repository */
export interface GiteaRepository {
  id: number;
  owner: GiteaUser;
  name: string;
  full_name: string;
  description: string;
  private: boolean;
  fork: boolean;
  mirror: boolean;
  archived: boolean;
  empty: boolean;
  html_url: string;
  clone_url: string;
  ssh_url: string;
  default_branch: string;
  default_merge_style: string;
  has_pull_requests: boolean;
  allow_merge_commits: boolean;
  allow_rebase: boolean;
  allow_rebase_explicit: boolean;
  allow_squash_merge: boolean;
  allow_fast_forward_only_merge: boolean;
  default_delete_branch_after_merge: boolean;
  /** absent when the request is anonymous */
  permissions?: GiteaRepoPermissions;
}

/** definitions.PayloadCommit, as embedded in Branch */
export interface GiteaBranchCommit {
  id: string;
  message: string;
  url: string;
  timestamp: string;
}

/** definitions.Branch */
export interface GiteaBranch {
  name: string;
  commit: GiteaBranchCommit;
  protected: boolean;
  required_approvals: number;
  enable_status_check: boolean;
  status_check_contexts: string[];
  user_can_push: boolean;
  user_can_merge: boolean;
  effective_branch_protection_name: string;
}

/** definitions.PRBranchInfo */
export interface GiteaPRBranchInfo {
  label: string;
  ref: string;
  sha: string;
  repo_id: number;
  /** null when the head repository (a fork) was deleted */
  repo: GiteaRepository | null;
}

/** definitions.Label */
export interface GiteaLabel {
  id: number;
  name: string;
  color: string;
  description: string;
  exclusive: boolean;
  is_archived: boolean;
  url: string;
}

/** definitions.PullRequest; `number` is the {index} used in every per-PR path */
export interface GiteaPullRequest {
  id: number;
  number: number;
  url: string;
  html_url: string;
  diff_url: string;
  patch_url: string;
  user: GiteaUser;
  title: string;
  body: string;
  labels: GiteaLabel[];
  state: 'open' | 'closed';
  draft: boolean;
  is_locked: boolean;
  comments: number;
  head: GiteaPRBranchInfo;
  base: GiteaPRBranchInfo;
  merge_base: string;
  mergeable: boolean;
  merged: boolean;
  merged_at: string | null;
  merged_by: GiteaUser | null;
  merge_commit_sha: string | null;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
}

/** definitions.Comment */
export interface GiteaComment {
  id: number;
  html_url: string;
  pull_request_url: string;
  issue_url: string;
  user: GiteaUser;
  body: string;
  created_at: string;
  updated_at: string;
}

/**
 * definitions.CommitStatus. Gitea names the state `status` in this response while requests,
 * combined statuses and webhooks call it `state`; the client fills in `state` so callers can
 * use one name everywhere.
 */
export interface GiteaCommitStatus {
  id: number;
  state: CommitState | 'skipped';
  status: CommitState | 'skipped';
  context: string;
  description: string;
  target_url: string;
  url: string;
  creator: GiteaUser;
  created_at: string;
  updated_at: string;
}

/** definitions.PullReview; `state` is APPROVED, PENDING, COMMENT, REQUEST_CHANGES or REQUEST_REVIEW */
export interface GiteaPullReview {
  id: number;
  /** null for a review by a team */
  user: GiteaUser | null;
  state: string;
  body: string;
  commit_id: string;
  stale: boolean;
  official: boolean;
  dismissed: boolean;
  comments_count: number;
  submitted_at: string;
  updated_at: string;
  html_url: string;
  pull_request_url: string;
}

/**
 * definitions.PullReviewComment. `position` is the line in the new file (0 for a comment on a
 * removed line), `original_position` the line in the old one.
 */
export interface GiteaPullReviewComment {
  id: number;
  pull_request_review_id: number;
  path: string;
  position: number;
  original_position: number;
  body: string;
  diff_hunk: string;
  commit_id: string;
  original_commit_id: string;
  user: GiteaUser;
  html_url: string;
  created_at: string;
  updated_at: string;
}

/** definitions.RepoCollaboratorPermission */
export interface GiteaRepoCollaboratorPermission {
  permission: string;
  role_name: string;
  user: GiteaUser;
}

/** definitions.ServerVersion */
export interface GiteaServerVersion {
  version: string;
}

/** Gitea's error body (APIError) */
export interface GiteaApiError {
  message?: string;
  url?: string;
}

/** definitions.Hook; `config` carries url, content_type and http_method, never the secret. */
export interface GiteaHook {
  id: number;
  type: string;
  branch_filter: string;
  config: Record<string, string>;
  events: string[];
  active: boolean;
  authorization_header: string;
  created_at: string;
  updated_at: string;
}

/** definitions.CreateHookOption, as aiworker sends it (EditHookOption is the same minus `type`). */
export interface GiteaHookOption {
  type: 'gitea';
  config: { url: string; content_type: 'json'; secret: string };
  events: string[];
  active: boolean;
  branch_filter: string;
}
