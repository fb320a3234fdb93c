/**
 * The directory of the tsbpf installation (where its package.json is), found from this
 * module's own URL: the same whether running from src/ (tests through tsc), dist/src/, or
 * the bundled command dist/tsbpf.mjs, which sit at different depths below it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = ((): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && /"name":\s*"tsbpf"/.test(readFileSync(pkg, 'utf8'))) return dir;
    if (dirname(dir) === dir) return join(here, '..');
  }
})();

/** A file shipped with tsbpf, by its path in the package. */
export function packagePath(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}
