import type { ReviewLineComment } from './feedback.js';
import type { TaskState } from './states.js';

export interface TaskRow {
  id: number;
  project_id: number;
  title: string;
  description: string | null;
  state: TaskState;
  branch: string | null;
  pr_number: number | null;
  pr_url: string | null;
  head_sha: string | null;
  issue_number: number | null;
  preview_url: string | null;
  preview_comment_id: number | string | null;
  /** Gitea's `updated_at` of the newest pull request delivery applied (see src/tasks/heads.ts). */
  pr_updated_at: Date | null;
  assigned_agent_id: number | null;
  approved_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** The task as REST, MCP and the feed snapshot show it (SPEC §7). */
export interface Task {
  id: number;
  projectId: number;
  title: string;
  description: string | null;
  state: TaskState;
  branch: string | null;
  prNumber: number | null;
  prUrl: string | null;
  headSha: string | null;
  issueNumber: number | null;
  previewUrl: string | null;
  assignedAgentId: number | null;
  approvedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * A task as the feed's snapshot and `getTask` show it: the REST task plus what the board's card
 * shows (this file has no server imports: the board's page compiles against it too).
 */
export interface BoardTask extends Task {
  /** When the task entered its current state (how long it has been in its column). */
  stateSince: string | null;
  /** The agent's open question, while there is one. */
  question: string | null;
}

export interface Question {
  id: number;
  question: string;
  askedByAgentId: number | null;
  askedAt: string;
  answer: string | null;
  answeredBy: string | null;
  answeredAt: string | null;
}

export interface Feedback {
  id: number;
  kind: string;
  author: string | null;
  body: string;
  /** The review's line comments; [] until fetched from Gitea (or when it has none). */
  comments: ReviewLineComment[];
  /** The head commit the feedback was given at, when known. */
  headSha: string | null;
  createdAt: string;
}

export interface TaskDetail extends Task {
  questions: Question[];
  feedback: Feedback[];
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    projectId: row.project_id,
    title: row.title,
    description: row.description,
    state: row.state,
    branch: row.branch,
    prNumber: row.pr_number,
    prUrl: row.pr_url,
    headSha: row.head_sha,
    issueNumber: row.issue_number,
    previewUrl: row.preview_url,
    assignedAgentId: row.assigned_agent_id,
    approvedAt: iso(row.approved_at),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

export function toQuestion(row: {
  id: number;
  question: string;
  agent_id: number | null;
  asked_at: Date;
  answer: string | null;
  answered_by: string | null;
  answered_at: Date | null;
}): Question {
  return {
    id: row.id,
    question: row.question,
    askedByAgentId: row.agent_id,
    askedAt: iso(row.asked_at)!,
    answer: row.answer,
    answeredBy: row.answered_by,
    answeredAt: iso(row.answered_at),
  };
}

export function toFeedback(row: {
  id: number;
  kind: string;
  author: string | null;
  body: string;
  head_sha: string | null;
  comments: string | null;
  created_at: Date;
}): Feedback {
  const comments = row.comments ? (JSON.parse(row.comments) as ReviewLineComment[]) : [];
  return { id: row.id, kind: row.kind, author: row.author, body: row.body, comments, headSha: row.head_sha, createdAt: iso(row.created_at)! };
}

/** Task branches are `task-<id>-<slug>` (SPEC §2). */
export function taskIdFromBranch(branch: string | null | undefined): number | null {
  const m = /^(?:refs\/heads\/)?task-(\d+)(?:-|$)/.exec(branch ?? '');
  return m ? Number(m[1]) : null;
}

/** A PR body line `Task: <id>` links the PR to a task too. */
export function taskIdFromBody(body: string | null | undefined): number | null {
  const m = /^\s*Task:\s*#?(\d+)\s*$/im.exec(body ?? '');
  return m ? Number(m[1]) : null;
}

export function branchName(taskId: number, slug: string): string {
  const clean = slug
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50)
    .replace(/-+$/g, '');
  return `task-${taskId}-${clean || 'work'}`;
}
