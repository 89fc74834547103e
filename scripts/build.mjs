#!/usr/bin/env node
// The one build of aiworker. `npm run build` writes it into dist/ (images, CI, the `aiworker` bin);
// `npm start` asks currentBuild() for a build of the sources as they are now, made once into a
// directory of its own, so processes started together never load a build another one is writing.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { tsImport } from 'tsx/esm/api';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where npm start keeps its builds, one directory per state of the sources. */
export const BUILDS_DIR = join(ROOT, '.build');
/** What a build is made from: a change to any of these makes a new build, nothing else does. */
const INPUT_DIRS = ['src', 'handlers', 'jobs', 'migrations'];
const INPUT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs'];
/** Builds kept besides the current one, for processes still running an older one. */
const KEEP_OLDER = 2;

function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? filesUnder(path) : [path];
  });
}

/** A digest of every input's path and bytes: the name of the build those sources make. */
export function inputsHash(root = ROOT) {
  const hash = createHash('sha256');
  const files = [...INPUT_DIRS.flatMap((d) => filesUnder(join(root, d))), ...INPUT_FILES.map((f) => join(root, f)).filter(existsSync)];
  for (const file of files.map((f) => relative(root, f)).sort()) {
    hash.update(file).update('\0').update(readFileSync(join(root, file))).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Compiles the sources into `<outRoot>/dist` (dist/src/cli.js is the entry point) and bundles the
 * board into `<outRoot>/dist/board`, where the compiled server looks for it.
 */
export async function build(outRoot = ROOT) {
  const out = join(outRoot, 'dist');
  const tsc = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out], { stdio: 'inherit' });
  if (tsc.status !== 0) throw new Error(`the TypeScript build failed (tsc exit ${tsc.status ?? tsc.signal})`);
  await bundleKubernetesClient(join(out, 'src', 'k8s'));
  const { buildBoard } = await tsImport('../src/console/build.ts', import.meta.url);
  await buildBoard(join(out, 'board'));
}

/** The modules of ours that use the Kubernetes client, bundled with the parts of it they use. */
const KUBE_CLIENT_USERS = /[\\/]k8s[\\/](preview-cluster|api|argocd)\.js$/;

/**
 * The Kubernetes client's package loads every API group's generated code (about 70 MB resident);
 * aiworker uses a handful of calls. The module that holds them (src/k8s/preview-cluster.ts, loaded
 * on first use) is bundled with the client, tree-shaken: the rest of our modules and every other
 * package stay imports, as tsc wrote them.
 */
async function bundleKubernetesClient(k8sDir) {
  const esbuild = await import('esbuild');
  const entry = join(k8sDir, 'preview-cluster.js');
  await esbuild.build({
    entryPoints: [entry],
    outfile: entry,
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    plugins: [
      {
        name: 'only-the-kubernetes-client',
        setup(b) {
          b.onResolve({ filter: /.*/ }, (args) => {
            if (args.kind === 'entry-point') return undefined;
            const inClient = args.importer.includes(`${join('node_modules', '@kubernetes', 'client-node')}`);
            if (args.path.startsWith('@kubernetes/client-node')) return undefined;
            if (args.path.startsWith('.')) {
              if (inClient) return undefined;
              return KUBE_CLIENT_USERS.test(join(args.resolveDir, args.path)) ? undefined : { path: args.path, external: true };
            }
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** mkdir is atomic: the process that makes the directory holds the lock; a dead holder's lock is taken over. */
async function withLock(lockDir, fn) {
  let told = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let holder = 0;
    try {
      holder = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
    } catch {
      // not written yet, or the holder just finished
    }
    const age = Date.now() - statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs;
    // A holder writes its pid right after mkdir; a lock without one for long is left by a crash.
    if ((holder && !alive(holder)) || (!holder && age > 30_000)) {
      rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!told) console.error('aiworker: waiting for the build another npm start is making');
    told = true;
    await sleep(200);
  }
  try {
    writeFileSync(join(lockDir, 'pid'), String(process.pid));
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/** Removes builds beyond the newest few and scratch directories their dead builders left. */
function prune(current) {
  const entries = readdirSync(BUILDS_DIR, { withFileTypes: true }).filter((e) => e.isDirectory());
  for (const e of entries) {
    const scratch = /\.tmp-(\d+)$/.exec(e.name);
    if (scratch && !alive(Number(scratch[1]))) rmSync(join(BUILDS_DIR, e.name), { recursive: true, force: true });
  }
  const builds = entries
    .filter((e) => /^[0-9a-f]{16}$/.test(e.name) && e.name !== current)
    .map((e) => ({ name: e.name, mtime: statSync(join(BUILDS_DIR, e.name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const old of builds.slice(KEEP_OLDER)) rmSync(join(BUILDS_DIR, old.name), { recursive: true, force: true });
}

/**
 * The directory holding a build of the current sources: reused when it exists (a build is never
 * made twice), else made by one process while the others wait, into a scratch directory renamed
 * into place only when complete.
 */
export async function currentBuild() {
  const hash = inputsHash();
  const dir = join(BUILDS_DIR, hash);
  if (existsSync(dir)) return dir;
  mkdirSync(BUILDS_DIR, { recursive: true });
  await withLock(join(BUILDS_DIR, `${hash}.lock`), async () => {
    if (existsSync(dir)) return;
    const scratch = `${dir}.tmp-${process.pid}`;
    rmSync(scratch, { recursive: true, force: true });
    console.error(`aiworker: building the current sources into ${relative(ROOT, dir)}`);
    await build(scratch);
    renameSync(scratch, dir);
    prune(hash);
  });
  return dir;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    await build();
  } catch (err) {
    console.error(`build: ${err.message}`);
    process.exit(1);
  }
}
