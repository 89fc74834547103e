import type { Knex } from 'knex';
import * as initial from './20261125000000_initial.js';
import * as mergeRuns from './20261125010000_merge_runs.js';
import * as longTexts from './20261125020000_long_texts.js';
import * as eventSequence from './20261125030000_event_sequence.js';
import * as jobOutbox from './20261125040000_job_outbox.js';
import * as commandReplies from './20261205000000_command_replies.js';
import * as agentRevocation from './20261207120000_agent_revocation.js';
import * as consoleSessions from './20261207130000_console_sessions.js';
import * as convergence from './20261207200000_convergence.js';
import * as deliveryDrain from './20261207210000_delivery_drain.js';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** The ordered list of migrations; a new one is a new file plus one line here. */
const MIGRATIONS: Array<[string, Migration]> = [
  ['20261125000000_initial', initial],
  ['20261125010000_merge_runs', mergeRuns],
  ['20261125020000_long_texts', longTexts],
  ['20261125030000_event_sequence', eventSequence],
  ['20261125040000_job_outbox', jobOutbox],
  ['20261205000000_command_replies', commandReplies],
  ['20261207120000_agent_revocation', agentRevocation],
  ['20261207130000_console_sessions', consoleSessions],
  ['20261207200000_convergence', convergence],
  ['20261207210000_delivery_drain', deliveryDrain],
];

/** Lets knex run the same migrations from TypeScript sources and from the compiled build. */
export const migrationSource: Knex.MigrationSource<[string, Migration]> = {
  getMigrations: async () => MIGRATIONS,
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};
