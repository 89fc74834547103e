import { isGiteaStatus, type GiteaClient } from './client.js';
import { giteaTime } from './time.js';
import type { Project } from '../projects/service.js';

/** An open pull request's head as Gitea reports it now, or why there is none: the PR is gone, merged or closed. */
export type PullHead = { sha: string; updatedAt: Date | null } | { gone: 'no longer exists' | 'is merged' | 'is closed' };

/**
 * Asks Gitea for the pull request's current head (`GET …/pulls/{index}`): what converging code
 * acts on instead of the head a delivery carried. A 404 is an answer (the PR is gone); any other
 * failure is thrown for the caller to retry or fall back.
 */
export async function openPullHead(gitea: Pick<GiteaClient, 'getPull'>, project: Project, prNumber: number): Promise<PullHead> {
  let pull;
  try {
    pull = await gitea.getPull(project.owner, project.repoName, prNumber);
  } catch (err) {
    if (isGiteaStatus(err, 404)) return { gone: 'no longer exists' };
    throw err;
  }
  if (pull.state !== 'open') return { gone: pull.merged ? 'is merged' : 'is closed' };
  return { sha: pull.head.sha, updatedAt: giteaTime(pull.updated_at) };
}
