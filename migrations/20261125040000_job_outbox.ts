import type { Knex } from 'knex';

/**
 * Every deploy, teardown, sync, merge and promotion job is written here before it is queued, and
 * marked done when a worker finishes it: if Redis loses the job, recovery queues it again.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('job_outbox', (t) => {
    t.bigIncrements('id').primary();
    t.string('job_id', 255).notNullable().unique();
    t.string('queue', 32).notNullable();
    t.string('name', 64).notNullable();
    t.specificType('data', 'mediumtext').notNullable();
    t.text('opts').notNullable();
    t.string('status', 16).notNullable().defaultTo('pending');
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.timestamp('done_at', { precision: 3 }).nullable();
    t.index(['status', 'created_at']);
  });
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
