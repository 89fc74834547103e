import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { BOARD_BUILD_DIR, BOARD_SOURCE_DIR } from './location.js';

/** The page template's placeholders for the hashed bundle names. */
const SCRIPT_SLOT = '{{board.js}}';
const STYLE_SLOT = '{{board.css}}';

/**
 * Bundles the board (Preact, the Socket.IO client, its CSS) into content-hashed files and writes
 * index.html naming them, so the assets can be cached for good and the page never. Files are built
 * aside and renamed into place, index.html last, so a server starting meanwhile reads either the
 * old page or the new one, each with its assets; builds running at once (test runs) write the
 * same names with the same content.
 */
export async function buildBoard(outDir = BOARD_BUILD_DIR): Promise<string[]> {
  const staging = `${outDir}.building-${process.pid}-${Date.now()}`;
  await mkdir(staging, { recursive: true });
  try {
    const result = await esbuild.build({
      entryPoints: [join(BOARD_SOURCE_DIR, 'main.tsx')],
      outdir: staging,
      entryNames: 'board-[hash]',
      bundle: true,
      format: 'esm',
      target: ['es2022'],
      minify: true,
      sourcemap: 'linked',
      jsx: 'automatic',
      jsxImportSource: 'preact',
      tsconfig: join(BOARD_SOURCE_DIR, 'tsconfig.json'),
      metafile: true,
      logLevel: 'warning',
    });
    const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
    const script = outputs.find((f) => f.endsWith('.js'));
    const style = outputs.find((f) => f.endsWith('.css'));
    if (!script || !style) throw new Error(`the board's bundle lacks its script or style: ${outputs.join(', ')}`);
    const template = await readFile(join(BOARD_SOURCE_DIR, 'index.html'), 'utf8');
    for (const slot of [SCRIPT_SLOT, STYLE_SLOT]) {
      if (!template.includes(slot)) throw new Error(`index.html lacks the placeholder ${slot}`);
    }
    await writeFile(join(staging, 'index.html'), template.replace(SCRIPT_SLOT, script).replace(STYLE_SLOT, style));
    await mkdir(outDir, { recursive: true });
    for (const file of [...outputs, 'index.html']) await rename(join(staging, file), join(outDir, file));
    // Bundles of earlier builds: a running server holds what it serves in memory, so they can go.
    const current = new Set([...outputs, 'index.html']);
    for (const file of await readdir(outDir)) {
      if (!current.has(file)) await rm(join(outDir, file), { force: true });
    }
    return ['index.html', ...outputs];
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const files = await buildBoard();
  console.log(`board built into ${BOARD_BUILD_DIR}: ${files.join(', ')}`);
}
