import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { buildCore, mcpDeps } from '../main.js';
import { AnswerWaiter } from './answers.js';
import { requireAgentToken, runStdio } from './stdio.js';

/**
 * `aiworker mcp`: serves the agent the token names until the client closes stdin or a signal
 * arrives. Same services as the web role against the same MySQL and Redis, without HTTP,
 * workers or recovery loops.
 */
export async function serveStdio(config: Config, token: string | null, log: Logger): Promise<void> {
  requireAgentToken(token);
  const core = await buildCore(config, { log });
  core.shutdown.installSignalHandlers(config.shutdownGraceMs);
  const answers = new AnswerWaiter({ redisUrl: config.redisUrl, prefix: config.redisPrefix, log });
  core.shutdown.add('answers', () => answers.close());
  try {
    await runStdio(mcpDeps(core, answers), token);
  } finally {
    await core.shutdown.run();
  }
}
