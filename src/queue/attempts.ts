import { UnrecoverableError, type Job } from 'bullmq';

/** Is this run the job's last? It failed for good, or BullMQ has no attempt left after it. */
export function isLastAttempt(job: Job, err?: unknown): boolean {
  return err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}
