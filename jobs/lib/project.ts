import { UnrecoverableError } from 'bullmq';
import { AppError } from '../../src/errors.js';
import type { Project } from '../../src/projects/service.js';
import type { JobDeps } from '../types.js';

/** The job's project; one that no longer exists fails the job for good, since no retry can bring it back. */
export async function loadProject(deps: Pick<JobDeps, 'projects'>, projectId: number): Promise<Project> {
  try {
    return await deps.projects.get(projectId);
  } catch (err) {
    if (err instanceof AppError && err.status === 404) throw new UnrecoverableError(`project ${projectId} does not exist`);
    throw err;
  }
}
