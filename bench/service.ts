import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../test/support/redis-server.js';
import { processEnv } from '../test/support/processes.js';
import { dropTestState, TEST_API_TOKEN, uniqueName } from '../test/support/service.js';
import { residentMiB, startServer, type BenchServer } from './processes.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Builds the sources into dist/ with the product's own build (`npm run build`), as an image or `npm start` has them. */
export async function build(): Promise<void> {
  await run('npm', ['run', 'build'], { cwd: ROOT });
}

/** aiworker as a user runs it (`node dist/src/cli.js <role>`), in its own process, with its own database and Redis prefix. */
export interface Aiworker extends BenchServer {
  /** The Redis key prefix (the feed's channel is named after it). */
  redisPrefix: string;
  /** A REST call with the API token; the parsed answer, or an error naming the status. */
  api(method: string, path: string, body?: unknown): Promise<any>;
  /** Names its database and Redis prefix; another process started with `shared` set to this one uses them too. */
  stateName: string;
  /** Stops the process and drops its database and Redis keys (unless it shares another's). */
  close(): Promise<void>;
}

/**
 * Starts a service process with default settings: only where its state lives (database, Redis
 * prefix: its own, or those of `shared`), the tokens and secrets a deployment must set, and `env`
 * (where Gitea and Kubernetes are) are given. Logs at the default level go nowhere, as if to a collector.
 */
export async function startAiworker(role: 'serve' | 'worker' | 'all', env: Record<string, string> = {}, shared?: Aiworker): Promise<Aiworker> {
  const name = shared?.stateName ?? uniqueName();
  const { LOG_LEVEL: _default, ...settings } = processEnv(name, env);
  const server = await startServer('dist/src/cli.js', [role], settings, await freePort(), '/healthz', { node: true });
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TEST_API_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  };
  return {
    ...server,
    redisPrefix: settings.REDIS_PREFIX,
    stateName: name,
    api,
    async close() {
      await server.stop();
      if (!shared) await dropTestState(name);
    },
  };
}

export { residentMiB };
