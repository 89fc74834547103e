import { expect } from 'chai';
import { spawn } from 'node:child_process';

/** The CLI as a process: a bad setting stops it before anything starts (the settings themselves are unit-tested). */
describe('settings at start-up', () => {
  it('stops start-up before touching MySQL, non-zero, naming PORT when PORT=abc', async function () {
    this.timeout(60_000);
    // A MySQL on a documentation address (TEST-NET-1): had start-up tried it before checking the
    // settings, it would hang there and then fail naming the connection, not PORT.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
      env: { ...process.env, PORT: 'abc', API_TOKEN: 'do-not-print-me', DATABASE_URL: 'mysql://root@192.0.2.1:3306/aiworker' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).to.not.equal(0);
    expect(output).to.include('PORT');
    expect(output).to.not.include('do-not-print-me');
    expect(output).to.not.match(/192\.0\.2\.1|ETIMEDOUT|ECONNREFUSED/);
  });
});
