import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: compiled tests live in dist/test/, two levels below it. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = resolve(ROOT, 'bin', 'tsbpf.js');
/** The seed's exitsnoop files: ../shared beside the checkout (as in CI), or $TSBPF_SEED. */
export const SEED = process.env.TSBPF_SEED || resolve(ROOT, '..', 'shared', 'seeds', 'exitsnoop');
