import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root: the nearest folder above this module holding package.json. The same answer
 * from src/ under tsx and from dist/src/ after the build, so both find the one built bundle.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

/** Where `npm run build` writes the board's bundle and where the web role serves it from. */
export const BOARD_BUILD_DIR = join(packageRoot(), 'dist', 'board');

/** The board's sources (its entry point, its page template and its tsconfig). */
export const BOARD_SOURCE_DIR = join(packageRoot(), 'src', 'console', 'page');
