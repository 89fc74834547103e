import { UnrecoverableError, type Job } from 'bullmq';

/** Is this run the job's last? It failed for good, or BullMQ has no attempt left after it. */
export function isLastAttempt(job: Job, err?: unknown): boolean {
  return err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/**
 * Whether an earlier run of this job may have done part of its work: it failed and is being retried,
 * or its worker died mid-run (BullMQ counts that as a stall, not as an attempt) and it runs again.
 */
export function mayHaveRunBefore(job: Job): boolean {
  return job.attemptsMade > 0 || job.stalledCounter > 0;
}
