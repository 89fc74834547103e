import type { Knex } from 'knex';
import * as initial from './20261125000000_initial.js';
import * as mergeRuns from './20261125010000_merge_runs.js';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** The ordered list of migrations; a new one is a new file plus one line here. */
const MIGRATIONS: Array<[string, Migration]> = [
  ['20261125000000_initial', initial],
  ['20261125010000_merge_runs', mergeRuns],
];

/** Lets knex run the same migrations from TypeScript sources and from the compiled build. */
export const migrationSource: Knex.MigrationSource<[string, Migration]> = {
  getMigrations: async () => MIGRATIONS,
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};
