import type { Knex } from 'knex';

/**
 * What converging on Gitea needs: the `updated_at` of the newest pull request delivery applied to
 * a task (a delivery older than it is late and rolls nothing back); the head a piece of feedback
 * was given at (changes requested at a head keep that head's preview from declaring the task
 * ready to test); and a review's line comments, fetched from Gitea after the feedback is stored.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tasks', (t) => {
    t.datetime('pr_updated_at', { precision: 3 }).nullable();
  });
  await knex.schema.alterTable('task_feedback', (t) => {
    t.string('head_sha', 64).nullable();
    t.bigInteger('review_id').nullable();
    // JSON array of {path, line, body}; null until fetched from Gitea.
    t.specificType('comments', 'mediumtext').nullable();
    t.timestamp('comments_fetched_at', { precision: 3 }).nullable();
  });
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
