import knexFactory, { type Knex } from 'knex';
import mysql from 'mysql2/promise';
import { migrationSource } from '../../migrations/index.js';

export type Db = Knex;

function databaseName(databaseUrl: string): string {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`DATABASE_URL: database name "${name}" must be letters, digits or _`);
  return name;
}

function connectionOptions(databaseUrl: string, withDatabase: boolean) {
  const u = new URL(databaseUrl);
  return {
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password || ''),
    database: withDatabase ? databaseName(databaseUrl) : undefined,
    // DATETIME/TIMESTAMP values are read and written as UTC.
    timezone: 'Z',
    supportBigNumbers: true,
    dateStrings: false,
    connectTimeout: 5000,
  };
}

export async function createDatabaseIfMissing(databaseUrl: string): Promise<void> {
  const name = databaseName(databaseUrl);
  const conn = await mysql.createConnection(connectionOptions(databaseUrl, false));
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const name = databaseName(databaseUrl);
  const conn = await mysql.createConnection(connectionOptions(databaseUrl, false));
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await conn.end();
  }
}

export function createDb(databaseUrl: string, pool = { min: 0, max: 25 }): Db {
  return knexFactory({
    client: 'mysql2',
    connection: connectionOptions(databaseUrl, true),
    pool: {
      ...pool,
      // Every session in UTC so CURRENT_TIMESTAMP agrees with the Date values we write.
      afterCreate: (conn: { query: (sql: string, cb: (err: Error | null) => void) => void }, done: (err: Error | null, conn: unknown) => void) => {
        conn.query("SET time_zone = '+00:00'", (err) => done(err, conn));
      },
    },
    acquireConnectionTimeout: 5000,
  });
}

/**
 * knex refuses, rather than waits, while another process holds its migration lock (MigrationLocked),
 * and two processes creating knex's own tables at once collide (table exists): replicas starting
 * together meet both, so either is tried again.
 */
const isMigrationRace = (err: unknown) =>
  (err as Error).name === 'MigrationLocked' || (err as { code?: string }).code === 'ER_TABLE_EXISTS_ERROR';

/** Runs pending migrations; concurrent replicas take turns, waiting up to waitMs for the others. */
export async function migrate(db: Db, waitMs = 120_000): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
      return applied;
    } catch (err) {
      if (!isMigrationRace(err)) throw err;
      if (Date.now() > deadline) {
        throw new Error(
          `migrations stayed locked for ${Math.round(waitMs / 1000)} s; if no other process is migrating, a killed one left the lock: run \`aiworker migrate --unlock\``,
        );
      }
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 300));
    }
  }
}

/** Frees a migration lock left by a process that died while migrating. */
export async function unlockMigrations(db: Db): Promise<void> {
  await db.migrate.forceFreeMigrationsLock({ migrationSource });
}

export async function ping(db: Db): Promise<void> {
  await db.raw('SELECT 1');
}
