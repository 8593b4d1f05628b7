import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of IMS's package.json: where the files shipped beside the code (catalogue/,
 * console/dist) live, whether this module runs from src/ (tsx) or from the compiled dist/src/.
 * A fixed relative path would be right for only one of the two.
 */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'catalogue'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}
