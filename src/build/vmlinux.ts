/**
 * The vmlinux.h that `tsbpf build` compiles against: a directory to pass with -I.
 *
 * Two sources, one switch (VMLINUX_GENERATOR below):
 * - generated: the running kernel's BTF dumped as C, written once per kernel into
 *   <cache>/<kernel release>-<BTF sha256 prefix>/vmlinux.h (cache: $TSBPF_CACHE_DIR, else
 *   $XDG_CACHE_HOME/tsbpf, else ~/.cache/tsbpf);
 * - project: the repository's hand-written, minimal bpf/include/vmlinux.h.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { kernelBtf, VMLINUX_BTF_PATH } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import { packagePath } from '../package-root.js';

/**
 * Where vmlinux.h comes from: the running kernel's BTF dumped as C by tsbpf itself.
 * (null would mean the project's minimal bpf/include/vmlinux.h.)
 */
const VMLINUX_GENERATOR: Generator | null = () => import('../btf/cdump.js').then((m) => m.dumpC(kernelBtf()));

/** Produces the text of vmlinux.h for the running kernel. */
export type Generator = () => string | Promise<string>;

export interface VmlinuxHeader {
  /** Directory holding vmlinux.h: pass it with -I. */
  dir: string;
  path: string;
  source: 'generated' | 'project' | 'given';
}

/** bpf/include of the tsbpf installation: the project's own vmlinux.h and BPF headers. */
export const PROJECT_VMLINUX_DIR = packagePath('bpf', 'include');

export function cacheDir(): string {
  if (process.env.TSBPF_CACHE_DIR) return resolve(process.env.TSBPF_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME ? resolve(process.env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  return join(base, 'tsbpf');
}

export async function vmlinuxHeader(opts: { cacheDir?: string; generate?: Generator | null } = {}): Promise<VmlinuxHeader> {
  const generate = opts.generate === undefined ? VMLINUX_GENERATOR : opts.generate;
  if (!generate) {
    const path = join(PROJECT_VMLINUX_DIR, 'vmlinux.h');
    if (!existsSync(path)) throw new TsbpfError(`vmlinux.h not found at ${path} (the project's bpf/include is missing from this installation)`);
    return { dir: PROJECT_VMLINUX_DIR, path, source: 'project' };
  }
  return generated(generate, opts.cacheDir ?? cacheDir());
}

async function generated(generate: Generator, cache: string): Promise<VmlinuxHeader> {
  const btfPath = process.env.BTF_FILE_PATH || VMLINUX_BTF_PATH;
  let btf: Buffer;
  try {
    // Keyed by the BTF bytes (kernelBtf() reads the same file, BTF_FILE_PATH first).
    btf = readFileSync(btfPath);
  } catch (e) {
    throw new TsbpfError(`cannot read kernel BTF ${btfPath} to generate vmlinux.h: ${(e as Error).message}`);
  }
  const key = `${release().replace(/[^A-Za-z0-9._-]/g, '_')}-${process.getBuiltinModule('node:crypto').createHash('sha256').update(btf).digest('hex').slice(0, 16)}`;
  const dir = join(cache, key);
  const path = join(dir, 'vmlinux.h');
  if (!existsSync(path)) {
    makeDirs(dir);
    const tmp = `${path}.tmp-${process.pid}`;
    const text = await generate();
    try {
      // O_EXCL: a file or symlink already at the temporary name is an error, never followed.
      writeFileSync(tmp, text, { flag: 'wx', mode: 0o600 });
      renameSync(tmp, path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new TsbpfError(`cannot write ${code === 'EEXIST' ? `${tmp}: something is already there` : `${path} (${code ?? (e as Error).message})`}: set TSBPF_CACHE_DIR or XDG_CACHE_HOME to a directory of your own`);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  return { dir, path, source: 'generated' };
}

/**
 * mkdir -p, one level at a time, each new level 0700: Node's recursive mkdir spins forever
 * where a parent can never be made (a HOME under /proc answers ENOENT to every mkdir).
 */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      mkdirSync(d, { mode: 0o700 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      throw new TsbpfError(`cannot create the vmlinux.h cache directory ${d} (${code ?? (e as Error).message}): set TSBPF_CACHE_DIR or XDG_CACHE_HOME to a writable directory`);
    }
  }
}
