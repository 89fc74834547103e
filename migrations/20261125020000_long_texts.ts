import type { Knex } from 'knex';

/**
 * TEXT holds 65,535 bytes: fewer than the 65,535 characters the REST API accepts once they are
 * multi-byte, and less than Gitea sends in issue bodies, comments and reviews (LONGTEXT there).
 * MEDIUMTEXT (16 MiB) holds either, as it holds any string of a webhook payload within WEBHOOK_MAX_BYTES.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tasks', (t) => {
    t.text('description', 'mediumtext').nullable().alter();
  });
  await knex.schema.alterTable('task_questions', (t) => {
    t.text('answer', 'mediumtext').nullable().alter();
  });
  await knex.schema.alterTable('task_feedback', (t) => {
    t.text('body', 'mediumtext').notNullable().alter();
  });
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
