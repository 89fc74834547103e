#!/usr/bin/env node
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import { createDatabaseIfMissing, createDb, migrate, unlockMigrations } from './db/connect.js';
import { startService } from './main.js';
import { serveStdio } from './mcp/standalone.js';
import { AgentTokenError } from './mcp/stdio.js';

const USAGE = `usage: aiworker [serve|worker|all|migrate|mcp]
  serve    the web role: HTTP API, webhooks, MCP, feed (ROLE=web)
  worker   the BullMQ processors (ROLE=worker)
  all      both (the default, or ROLE)
  migrate  run database migrations and exit (--unlock first frees a lock left by a killed migration)
  mcp      serve MCP on stdin/stdout as the agent whose token is in AIWORKER_AGENT_TOKEN`;

async function main(argv: string[]): Promise<void> {
  const command = argv[0] ?? 'start';
  if (command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`aiworker: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  switch (command) {
    case 'migrate': {
      await createDatabaseIfMissing(config.databaseUrl);
      const db = createDb(config.databaseUrl);
      if (argv.includes('--unlock')) {
        await unlockMigrations(db);
        log.warn('migration lock freed');
      }
      const applied = await migrate(db);
      log.info({ applied }, applied.length ? 'migrations applied' : 'database is up to date');
      await db.destroy();
      return;
    }
    case 'serve':
    case 'worker':
    case 'all':
    case 'start': {
      const role = command === 'serve' ? 'web' : command === 'start' ? config.role : command;
      const service = await startService({ ...config, role }, { log });
      service.shutdown.installSignalHandlers(config.shutdownGraceMs);
      return;
    }
    case 'mcp': {
      try {
        // stdout carries the MCP messages, so this process logs to stderr.
        await serveStdio(config, config.agentToken, createLogger(config.logLevel, process.stderr));
      } catch (err) {
        if (!(err instanceof AgentTokenError)) throw err;
        console.error(`aiworker: ${err.message}`);
        process.exit(2);
      }
      process.exit(0);
    }
    default:
      console.error(`aiworker: unknown command "${command}"\n${USAGE}`);
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`aiworker: failed to start: ${(err as Error).message}`);
  process.exit(1);
});
