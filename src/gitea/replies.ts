import type { Logger } from '../log.js';
import type { Project } from '../projects/service.js';

/** The part of the Gitea client that comments; handlers and jobs depend on this, not the whole client. */
export interface CommentApi {
  createComment(owner: string, repo: string, index: number, body: string): Promise<{ id: number }>;
  editComment(owner: string, repo: string, commentId: number, body: string): Promise<{ id: number }>;
}

/** Marks aiworker's own comments, so they are never taken for commands or answers. */
export const BOT_MARKER = '<!-- aiworker -->';

export function isOwnComment(body: string, author: string | undefined, botLogin: string | null): boolean {
  return body.includes(BOT_MARKER) || (!!botLogin && !!author && author.toLowerCase() === botLogin.toLowerCase());
}

/** Posts aiworker's comments; without Gitea configured it logs what it would have said. */
export class Replier {
  constructor(private readonly deps: { api: CommentApi | null; log: Logger }) {}

  async post(project: Project, index: number, body: string): Promise<number | null> {
    if (!this.deps.api) {
      this.deps.log.info({ repo: project.repo, index, body }, 'Gitea not configured: comment not posted');
      return null;
    }
    const comment = await this.deps.api.createComment(project.owner, project.repoName, index, `${body}\n\n${BOT_MARKER}`);
    return comment.id;
  }

  /** Edits an earlier comment of ours, or posts a new one when there is none (or it was deleted). */
  async upsert(project: Project, index: number, commentId: number | null, body: string): Promise<number | null> {
    if (!this.deps.api) return this.post(project, index, body);
    if (commentId) {
      try {
        const edited = await this.deps.api.editComment(project.owner, project.repoName, commentId, `${body}\n\n${BOT_MARKER}`);
        return edited.id ?? commentId;
      } catch (err) {
        if ((err as { status?: number }).status !== 404) throw err;
      }
    }
    return this.post(project, index, body);
  }
}
