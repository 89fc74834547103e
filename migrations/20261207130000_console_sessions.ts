import type { Knex } from 'knex';

/**
 * The console's sign-in: people's sessions, kept here so a restart (or another replica) signs
 * nobody out, and sign-ins under way between /auth/login and /auth/callback. Only hashes of the
 * session id and of the OAuth2 `state` are stored: a copy of this table opens no session.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('console_sessions', (t) => {
    t.specificType('id_hash', 'char(64)').primary();
    t.bigInteger('gitea_user_id').notNullable();
    t.string('login', 255).notNullable();
    t.string('full_name', 255).notNullable().defaultTo('');
    t.string('avatar_url', 1000).notNullable().defaultTo('');
    t.specificType('csrf_token', 'char(43)').notNullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.timestamp('expires_at', { precision: 3 }).notNullable().index();
  });
  await knex.schema.createTable('console_sign_ins', (t) => {
    t.specificType('state_hash', 'char(64)').primary();
    t.string('code_verifier', 128).notNullable();
    t.string('next_path', 2048).notNullable();
    t.timestamp('expires_at', { precision: 3 }).notNullable().index();
  });
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
