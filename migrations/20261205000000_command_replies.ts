import type { Knex } from 'knex';

/**
 * aiworker's replies to the commands of a comment, one row per reply, written before the reply is
 * posted: a retried or replayed delivery posts only the replies still missing and runs no command
 * twice.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('command_replies', (t) => {
    t.string('delivery_id', 64).notNullable();
    t.integer('position').unsigned().notNullable();
    t.specificType('body', 'mediumtext').notNullable();
    t.bigInteger('comment_id').nullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.timestamp('posted_at', { precision: 3 }).nullable();
    t.primary(['delivery_id', 'position']);
  });
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
