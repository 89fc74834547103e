import type { Knex } from 'knex';

/** One row per staging merge train or promotion job: what was asked, what merged, what did not. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('merge_runs', (t) => {
    t.increments('id').primary();
    t.integer('project_id').unsigned().notNullable().references('projects.id');
    t.string('kind', 16).notNullable();
    // A retried job updates its own row instead of adding one.
    t.string('job_id', 255).notNullable().unique();
    t.string('status', 16).notNullable();
    t.string('requested_by', 255).nullable();
    t.json('task_ids').notNullable();
    t.json('merged').notNullable();
    t.json('conflicts').notNullable();
    t.json('skipped').notNullable();
    t.string('revision', 64).nullable();
    t.text('error').nullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.timestamp('finished_at', { precision: 3 }).nullable();
    t.index(['project_id', 'id']);
  });
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
