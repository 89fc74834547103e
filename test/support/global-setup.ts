import mysql from 'mysql2/promise';
import { dropTestState } from './service.js';
import { buildBoard } from '../../src/console/build.js';

const MYSQL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Every test service cleans up after itself; a run that was killed cannot. Before a run, drop
 * the databases and Redis keys of test runs whose process no longer exists. The board is bundled
 * from the sources under test, so the services the tests start serve the page being tested.
 */
export async function mochaGlobalSetup(): Promise<void> {
  await buildBoard();
  const conn = await mysql.createConnection(MYSQL);
  try {
    const [rows] = await conn.query("SHOW DATABASES LIKE 'aiworker\\_test\\_%'");
    for (const row of rows as Array<Record<string, string>>) {
      const name = Object.values(row)[0].slice('aiworker_test_'.length);
      const pid = Number(name.split('_')[0]);
      if (Number.isInteger(pid) && pid > 0 && !alive(pid)) await dropTestState(name);
    }
  } finally {
    await conn.end();
  }
}
