#!/usr/bin/env node
// `npm start`, in the order that keeps replicas started together out of each other's way and
// names a bad setting before anything else happens:
//   1. the settings are checked (src/config.ts, read from the sources: nothing is built yet);
//   2. MariaDB and Redis are made sure of (scripts/ensure-services.sh);
//   3. a build of the current sources is found, or made once (scripts/build.mjs);
//   4. the service runs from that build, in this process (signals reach it directly).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// npm start builds what it runs, so every dependency (the build tools included) must be there: a
// checkout installed before a dependency was added gets the missing ones from the lockfile first.
const root = fileURLToPath(new URL('..', import.meta.url));
const { dependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const missing = Object.keys(dependencies).filter((name) => !existsSync(join(root, 'node_modules', name, 'package.json')));
if (missing.length) {
  console.error(`aiworker: installing missing dependencies (${missing.join(', ')}) from package-lock.json`);
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-save'], { cwd: root, stdio: 'inherit' });
  if (install.status !== 0) {
    console.error(`aiworker: npm install failed; run npm ci, then npm start`);
    process.exit(1);
  }
}

const { tsImport } = await import('tsx/esm/api');
const { currentBuild, ROOT } = await import('./build.mjs');

const { loadConfig, ConfigError } = await tsImport('../src/config.ts', import.meta.url);
try {
  loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`aiworker: ${err.message}`);
  process.exit(2);
}

const services = spawnSync('bash', [join(ROOT, 'scripts', 'ensure-services.sh')], { stdio: 'inherit' });
if (services.status !== 0) process.exit(services.status ?? 1);

let dir;
try {
  dir = await currentBuild();
} catch (err) {
  console.error(`aiworker: ${err.message}`);
  process.exit(1);
}
await import(pathToFileURL(join(dir, 'dist', 'src', 'cli.js')).href);
