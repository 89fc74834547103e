import type { Knex } from 'knex';

/**
 * Deliveries are handled per ordering key, oldest first, by whichever worker holds the key: the
 * pending ones of a key are read straight from an index of (key, status, seq), however many of the
 * key's deliveries have already ended. A failed handler run says when the delivery may run again
 * (`retry_at`), so every worker that takes the key waits out the same backoff, and counts itself
 * (`failed_runs`, since the delivery was last replayed), so retries end after the same number of runs.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_deliveries', (t) => {
    t.timestamp('retry_at', { precision: 3 }).nullable();
    t.integer('failed_runs').unsigned().notNullable().defaultTo(0);
    t.index(['ordering_key', 'status', 'seq'], 'webhook_deliveries_key_status_seq');
    t.dropIndex(['ordering_key', 'seq']);
  });
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
