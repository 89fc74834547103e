import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('projects', (t) => {
    t.increments('id').primary();
    t.string('name', 200).notNullable();
    t.string('repo', 255).notNullable().unique();
    t.string('default_branch', 255).notNullable().defaultTo('main');
    t.string('staging_branch', 255).notNullable().defaultTo('staging');
    t.string('preview_image', 500).nullable();
    t.string('argocd_application', 253).nullable();
    t.string('argocd_production_application', 253).nullable();
    t.string('merge_style', 32).notNullable().defaultTo('merge');
    t.json('preview_settings').nullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.timestamp('updated_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
  });

  await knex.schema.createTable('agents', (t) => {
    t.increments('id').primary();
    t.string('name', 200).notNullable();
    t.string('token_hash', 64).notNullable().unique();
    t.string('status', 16).notNullable().defaultTo('offline');
    t.integer('current_task_id').unsigned().nullable();
    t.timestamp('last_seen_at', { precision: 3 }).nullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.index(['status', 'last_seen_at']);
  });

  await knex.schema.createTable('tasks', (t) => {
    t.increments('id').primary();
    t.integer('project_id').unsigned().notNullable().references('projects.id');
    t.string('title', 500).notNullable();
    t.text('description').nullable();
    t.string('state', 32).notNullable().defaultTo('backlog');
    t.string('branch', 255).nullable();
    t.integer('pr_number').unsigned().nullable();
    t.string('pr_url', 1000).nullable();
    t.string('head_sha', 64).nullable();
    t.integer('issue_number').unsigned().nullable();
    t.string('preview_url', 1000).nullable();
    t.bigInteger('preview_comment_id').unsigned().nullable();
    t.integer('assigned_agent_id').unsigned().nullable().references('agents.id');
    t.timestamp('approved_at', { precision: 3 }).nullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.timestamp('updated_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.index(['project_id', 'state', 'id']);
    t.index(['state', 'id']);
    t.index(['project_id', 'pr_number']);
    t.index(['project_id', 'issue_number']);
    t.index(['assigned_agent_id', 'state']);
  });

  await knex.schema.createTable('task_questions', (t) => {
    t.increments('id').primary();
    t.integer('task_id').unsigned().notNullable().references('tasks.id');
    t.integer('agent_id').unsigned().nullable();
    t.text('question').notNullable();
    t.text('answer').nullable();
    t.string('answered_by', 255).nullable();
    t.bigInteger('gitea_comment_id').unsigned().nullable();
    t.timestamp('asked_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.timestamp('answered_at', { precision: 3 }).nullable();
    t.index(['task_id', 'answered_at']);
  });

  await knex.schema.createTable('task_feedback', (t) => {
    t.increments('id').primary();
    t.integer('task_id').unsigned().notNullable().references('tasks.id');
    t.string('kind', 32).notNullable();
    t.string('author', 255).nullable();
    t.text('body').notNullable();
    t.string('delivery_id', 64).nullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.index(['task_id', 'id']);
    // A replayed review must not store its feedback twice.
    t.unique(['task_id', 'delivery_id']);
  });

  // Append-only: every feed event (task transitions first of all) gets its monotonic id here.
  await knex.schema.createTable('task_events', (t) => {
    t.bigIncrements('id').primary();
    t.string('type', 64).notNullable();
    t.integer('project_id').unsigned().nullable();
    t.integer('task_id').unsigned().nullable();
    t.string('from_state', 32).nullable();
    t.string('to_state', 32).nullable();
    t.string('actor', 255).nullable();
    t.text('reason').nullable();
    t.string('delivery_id', 64).nullable();
    t.json('data').notNullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.index(['task_id', 'id']);
    t.index(['project_id', 'id']);
  });

  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.bigIncrements('seq').primary();
    t.string('delivery_id', 64).notNullable().unique();
    t.string('event', 64).notNullable();
    t.string('event_type', 64).notNullable();
    t.string('action', 64).nullable();
    t.string('repository', 255).nullable();
    t.string('ordering_key', 300).nullable();
    // Which ingest batch inserted the row: tells a batch's new rows from earlier duplicates.
    t.string('ingest_batch', 36).nullable();
    t.specificType('payload', 'longtext').notNullable();
    t.string('status', 16).notNullable();
    t.integer('attempts').unsigned().notNullable().defaultTo(0);
    t.text('last_error').nullable();
    t.timestamp('received_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.timestamp('queued_at', { precision: 3 }).nullable();
    t.timestamp('processed_at', { precision: 3 }).nullable();
    t.index(['status', 'seq']);
    t.index(['ordering_key', 'seq']);
  });

  await knex.schema.createTable('deployments', (t) => {
    t.increments('id').primary();
    t.integer('project_id').unsigned().notNullable().references('projects.id');
    t.integer('task_id').unsigned().nullable();
    t.string('environment', 32).notNullable();
    t.string('kind', 32).notNullable();
    t.string('status', 16).notNullable();
    t.string('url', 1000).nullable();
    t.string('commit_sha', 64).nullable();
    t.json('task_ids').notNullable();
    t.specificType('manifests', 'longtext').nullable();
    t.boolean('dry_run').notNullable().defaultTo(false);
    t.text('error').nullable();
    t.string('job_id', 255).nullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.timestamp('updated_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'));
    t.timestamp('finished_at', { precision: 3 }).nullable();
    t.index(['project_id', 'id']);
    t.index(['task_id', 'id']);
    t.index(['environment', 'status']);
  });
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
