import { unitOfWork, type UnitOfWorkDeps } from '../tasks/unit-of-work.js';
import type { Deployment, DeploymentChanges, DeploymentStore, NewDeployment } from './store.js';

/** What deploy:completed says; a dry-run is recorded as a dry-run deployment, never as deployed. */
export type DeploymentOutcome = 'succeeded' | 'failed' | 'dry-run';

/** Who started or ended a deployment, and why, as its event says. */
export interface DeploymentNote {
  actor: string;
  reason: string | null;
}

/**
 * The one owner of `deploy:*` events: a deployment's row and its event change in one transaction,
 * so the feed never announces a deployment the API does not show, nor the reverse.
 */
export class DeploymentService {
  constructor(
    private readonly store: DeploymentStore,
    private readonly uow: UnitOfWorkDeps,
  ) {}

  /** Marks a recorded deployment running and publishes deploy:started. */
  started(deployment: Deployment, note: DeploymentNote): Promise<Deployment> {
    return this.begin(note, (trx) => this.store.update(deployment.id, { status: 'running' }, trx));
  }

  /** Records a deployment that starts now (status running) and publishes deploy:started. */
  startNew(input: Omit<NewDeployment, 'status'>, note: DeploymentNote): Promise<Deployment> {
    return this.begin(note, (trx) => this.store.create({ ...input, status: 'running' }, trx));
  }

  /**
   * Records how a deployment ended and publishes deploy:completed. The store has no dry-run status:
   * a dry-run is `succeeded` with dryRun set. `error` is written only when given.
   */
  completed(deployment: Deployment, outcome: { status: DeploymentOutcome; url: string | null; error?: string | null }, note: DeploymentNote): Promise<Deployment> {
    const changes: DeploymentChanges = { status: outcome.status === 'failed' ? 'failed' : 'succeeded', url: outcome.url, finishedAt: new Date() };
    if (outcome.status === 'dry-run') changes.dryRun = true;
    if (outcome.error !== undefined) changes.error = outcome.error;
    return unitOfWork(this.uow, async (tx) => {
      const updated = await this.store.update(deployment.id, changes, tx.trx);
      await tx.emit({
        type: 'deploy:completed',
        projectId: updated.projectId,
        taskId: updated.taskId,
        actor: note.actor,
        reason: note.reason,
        payload: { environment: updated.environment, url: outcome.url, status: outcome.status },
      });
      return updated;
    });
  }

  private begin(note: DeploymentNote, write: (trx: UnitOfWorkDeps['db']) => Promise<Deployment>): Promise<Deployment> {
    return unitOfWork(this.uow, async (tx) => {
      const deployment = await write(tx.trx);
      await tx.emit({
        type: 'deploy:started',
        projectId: deployment.projectId,
        taskId: deployment.taskId,
        actor: note.actor,
        reason: note.reason,
        payload: { environment: deployment.environment, taskIds: deployment.taskIds },
      });
      return deployment;
    });
  }
}
