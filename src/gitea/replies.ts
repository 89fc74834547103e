import type { Logger } from '../log.js';
import type { Project } from '../projects/service.js';

/** The part of the Gitea client that comments; handlers and jobs depend on this, not the whole client. */
export interface CommentApi {
  createComment(owner: string, repo: string, index: number, body: string): Promise<{ id: number }>;
  editComment(owner: string, repo: string, commentId: number, body: string): Promise<{ id: number }>;
  listComments(owner: string, repo: string, index: number): Promise<Array<{ id: number; body: string }>>;
}

/** Marks aiworker's own comments, so they are never taken for commands or answers. */
export const BOT_MARKER = '<!-- aiworker -->';

/**
 * A hidden line naming what a comment answers (`delivery=<id>:<n>`, `preview=task-<id>`). Posting
 * is not idempotent: a worker that dies after Gitea took a comment but before recording it leaves
 * no trace but this mark, which the run taking over looks for before posting again.
 */
export const replyMark = (key: string): string => `<!-- aiworker:${key} -->`;

export function isOwnComment(body: string, author: string | undefined, botLogin: string | null): boolean {
  return body.includes(BOT_MARKER) || (!!botLogin && !!author && author.toLowerCase() === botLogin.toLowerCase());
}

const withMarks = (body: string, mark?: string) => `${body}\n\n${BOT_MARKER}${mark ? `\n${mark}` : ''}`;

/** Posts aiworker's comments; without Gitea configured it logs what it would have said. */
export class Replier {
  constructor(private readonly deps: { api: CommentApi | null; log: Logger }) {}

  async post(project: Project, index: number, body: string, mark?: string): Promise<number | null> {
    if (!this.deps.api) {
      this.deps.log.info({ repo: project.repo, index, body }, 'Gitea not configured: comment not posted');
      return null;
    }
    const comment = await this.deps.api.createComment(project.owner, project.repoName, index, withMarks(body, mark));
    return comment.id;
  }

  /** The comment on this issue or PR that carries `mark`, or null. */
  async findMarkedComment(project: Project, index: number, mark: string): Promise<{ id: number; body: string } | null> {
    if (!this.deps.api) return null;
    const comments = await this.deps.api.listComments(project.owner, project.repoName, index);
    return comments.find((c) => c.body.includes(mark)) ?? null;
  }

  /** The id of the comment on this issue or PR that carries `mark`, or null. */
  async findMarked(project: Project, index: number, mark: string): Promise<number | null> {
    return (await this.findMarkedComment(project, index, mark))?.id ?? null;
  }

  /**
   * Posts a marked comment unless one with that mark is already there. `mayExist`: an earlier run
   * may have posted it (it recorded the reply, or owns the mark, and did not live to note the id).
   */
  async postOnce(project: Project, index: number, body: string, mark: string, mayExist: boolean): Promise<number | null> {
    const found = mayExist ? await this.findMarked(project, index, mark) : null;
    if (found !== null) {
      this.deps.log.info({ repo: project.repo, index, commentId: found }, 'comment already posted by an interrupted run; not posted again');
      return found;
    }
    return this.post(project, index, body, mark);
  }

  /** Edits an earlier comment of ours, or posts a new one when there is none (or it was deleted). */
  async upsert(project: Project, index: number, commentId: number | null, body: string, mark?: string): Promise<number | null> {
    if (!this.deps.api) return this.post(project, index, body, mark);
    const marked = withMarks(body, mark);
    if (commentId === null && mark) commentId = await this.findMarked(project, index, mark);
    if (commentId) {
      try {
        const edited = await this.deps.api.editComment(project.owner, project.repoName, commentId, marked);
        return edited.id ?? commentId;
      } catch (err) {
        if ((err as { status?: number }).status !== 404) throw err;
      }
    }
    return this.post(project, index, body, mark);
  }
}
