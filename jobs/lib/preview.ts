import type { CommitState } from '../../src/gitea/types.js';
import type { Logger } from '../../src/log.js';
import type { Project } from '../../src/projects/service.js';
import type { JobDeps } from '../types.js';

/** The commit status context of previews on the PR's head commit. */
export const PREVIEW_STATUS_CONTEXT = 'aiworker/preview';
/** Who the task events of preview jobs name. */
export const PREVIEW_ACTOR = 'aiworker';

// Gitea stores longer descriptions, but its UI (like GitHub's 140-character limit) cuts them short.
const MAX_STATUS_DESCRIPTION = 140;

export const shortSha = (sha: string) => sha.slice(0, 7);

/** Sets `aiworker/preview` on a commit. Best effort: a Gitea outage must not undo or repeat a deploy. */
export async function setPreviewStatus(
  deps: Pick<JobDeps, 'gitea'>,
  log: Logger,
  project: Project,
  sha: string,
  status: { state: CommitState; description: string; targetUrl?: string },
): Promise<void> {
  const description =
    status.description.length > MAX_STATUS_DESCRIPTION ? `${status.description.slice(0, MAX_STATUS_DESCRIPTION - 1)}…` : status.description;
  if (!deps.gitea) {
    log.info({ sha, state: status.state, description }, 'Gitea not configured: commit status not set');
    return;
  }
  try {
    await deps.gitea.setCommitStatus(project.owner, project.repoName, sha, {
      state: status.state,
      context: PREVIEW_STATUS_CONTEXT,
      description,
      targetUrl: status.targetUrl,
    });
  } catch (err) {
    log.warn({ err: (err as Error).message, sha, state: status.state }, 'could not set the preview commit status');
  }
}
