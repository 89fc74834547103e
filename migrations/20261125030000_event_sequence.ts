import type { Knex } from 'knex';

/**
 * One row that every transaction appending to task_events locks first. Event ids are then handed
 * out in commit order, so "the events after eventId N" is a fixed set once N is visible: the feed
 * can fill a gap from the log and never skips an event that commits late.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('event_sequence', (t) => {
    t.integer('id').unsigned().primary();
  });
  await knex('event_sequence').insert({ id: 1 });
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
