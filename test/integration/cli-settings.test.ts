import { expect } from 'chai';
import { spawn } from 'node:child_process';

/** The CLI as a process: a bad setting stops it before anything starts (the settings themselves are unit-tested). */
describe('settings at start-up', () => {
  it('stops start-up within seconds, non-zero, naming PORT when PORT=abc', async function () {
    this.timeout(20_000);
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
      env: { ...process.env, PORT: 'abc', API_TOKEN: 'do-not-print-me' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).to.not.equal(0);
    expect(output).to.include('PORT');
    expect(output).to.not.include('do-not-print-me');
    expect(Date.now() - started).to.be.below(15_000);
  });
});
