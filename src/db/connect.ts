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
    // mysql2 gives each connection a cache of prepared statements, allocated at its full size up
    // front (16,000 entries by default: half a MiB per connection, 12 MiB for a full pool). knex
    // sends plain queries; the one prepared statement is ingest's insert, one per batch size
    // (1 to 200 rows), so 256 keeps every one prepared.
    maxPreparedStatements: 256,
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

interface RawConnection {
  query(sql: string, params: unknown[], cb: (err: Error | null, rows: Array<Record<string, unknown>>) => void): void;
}

/**
 * Runs pending migrations; concurrent replicas take turns. knex's own lock does not make them
 * wait (it refuses with MigrationLocked), and replicas creating knex's tables at once can insert
 * two lock rows, after which knex reports "already locked" forever. So the whole run holds a
 * MySQL named lock first: the others wait for it (up to waitSeconds), and MySQL frees it if its
 * holder dies.
 */
export async function migrate(db: Db, waitSeconds = 120): Promise<string[]> {
  const database = String((db.client.config.connection as { database?: string }).database ?? '');
  const lockName = `aiworker.migrate.${database}`.slice(0, 64);
  const client = db.client as { acquireConnection(): Promise<RawConnection>; releaseConnection(conn: RawConnection): Promise<void> };
  const conn = await client.acquireConnection();
  const query = (sql: string, params: unknown[]) =>
    new Promise<Array<Record<string, unknown>>>((resolve, reject) => conn.query(sql, params, (err, rows) => (err ? reject(err) : resolve(rows))));
  try {
    const [{ got }] = await query('SELECT GET_LOCK(?, ?) AS got', [lockName, waitSeconds]);
    if (Number(got) !== 1) throw new Error(`database ${database}: another process held the migration lock for ${waitSeconds} s`);
    try {
      const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
      return applied;
    } catch (err) {
      // Holding the named lock, no other process is migrating: knex's lock row was left by a killed migration.
      if ((err as Error).name !== 'MigrationLocked') throw err;
      throw new Error(
        `database ${database}: the migration lock was left set by an interrupted migration; check the schema, then run \`aiworker migrate --unlock\``,
      );
    } finally {
      await query('SELECT RELEASE_LOCK(?)', [lockName]).catch(() => undefined);
    }
  } finally {
    await client.releaseConnection(conn);
  }
}

/** Frees knex's migration lock row, left set by a killed migration (`aiworker migrate --unlock`). */
export async function unlockMigrations(db: Db): Promise<void> {
  await db.migrate.forceFreeMigrationsLock({ migrationSource });
}

export async function ping(db: Db): Promise<void> {
  await db.raw('SELECT 1');
}
