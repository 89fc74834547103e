import type { Knex } from 'knex';

/** An agent's token can be revoked: the row stays (tasks and events name the agent), the token no longer signs in. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agents', (t) => {
    t.timestamp('revoked_at', { precision: 3 }).nullable();
  });
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
