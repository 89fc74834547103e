import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
/** src/console/ is two levels below the tree it belongs to: the repository, or a build's dist/. */
const tree = join(dirname(here), '..', '..');
/** Compiled, this module is dist/src/console/location.js; from the sources (tsx), location.ts. */
const compiled = here.endsWith('.js');

/**
 * Where the board's bundle is served from. A build carries its own (dist/board beside dist/src,
 * written by scripts/build.mjs), so processes running different builds never share one; from the
 * sources (tsx: tests, `npm run dev`) it is dist/board, written by `npm run build:board`.
 */
export const BOARD_BUILD_DIR = compiled ? join(tree, 'board') : join(tree, 'dist', 'board');

/** The board's sources (its entry point, its page template and its tsconfig); read only from the sources. */
export const BOARD_SOURCE_DIR = join(tree, 'src', 'console', 'page');
