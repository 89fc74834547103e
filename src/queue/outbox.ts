import type { Knex } from 'knex';
import type { JobsOptions } from 'bullmq';
import type { QueueName } from './queues.js';

export interface OutboxEntry {
  jobId: string;
  queue: QueueName;
  name: string;
  data: object;
  opts: JobsOptions;
}

interface OutboxRow {
  job_id: string;
  queue: QueueName;
  name: string;
  data: string;
  opts: string;
  created_at: Date;
}

/** MySQL's record of the jobs it expects to run: queued again by recovery if Redis forgets them. */
export class JobOutbox {
  constructor(private readonly db: Knex) {}

  async record(e: OutboxEntry): Promise<void> {
    await this.db('job_outbox')
      .insert({ job_id: e.jobId, queue: e.queue, name: e.name, data: JSON.stringify(e.data), opts: JSON.stringify(e.opts) })
      .onConflict('job_id')
      .ignore();
  }

  async done(jobId: string): Promise<void> {
    await this.db('job_outbox').where({ job_id: jobId, status: 'pending' }).update({ status: 'done', done_at: new Date() });
  }

  /**
   * A run of `name` about `taskId` that reads the task after this call serves every request for
   * that job recorded until now (a preview deploy deploys the head it reads; earlier requests
   * asked for that head or an older one): their records are done, whichever job id they carry.
   */
  async servedBy(jobId: string, name: string, taskId: number): Promise<void> {
    await this.db('job_outbox')
      .where({ status: 'pending', name })
      .andWhereRaw("JSON_VALUE(data, '$.taskId') = ?", [taskId])
      .andWhereNot('job_id', jobId)
      .update({ status: 'done', done_at: new Date() });
  }

  /** A finished job run again (`/retry`): pending once more, so a Redis loss cannot drop it. */
  async reopen(jobId: string): Promise<void> {
    await this.db('job_outbox').where({ job_id: jobId }).update({ status: 'pending', done_at: null });
  }

  async pending(olderThanMs: number, limit: number): Promise<OutboxEntry[]> {
    const rows = await this.db<OutboxRow>('job_outbox')
      .where('status', 'pending')
      .andWhere('created_at', '<', new Date(Date.now() - olderThanMs))
      .orderBy('id')
      .limit(limit);
    return rows.map((r) => ({ jobId: r.job_id, queue: r.queue, name: r.name, data: JSON.parse(r.data), opts: JSON.parse(r.opts) }));
  }
}
