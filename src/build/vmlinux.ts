/**
 * The vmlinux.h that `tsbpf build` compiles against: a directory to pass with -I.
 *
 * Two sources, one switch (VMLINUX_GENERATOR below):
 * - generated: the running kernel's BTF dumped as C, written once per kernel into
 *   <cache>/<kernel release>-<BTF sha256 prefix>/vmlinux.h (cache: $TSBPF_CACHE_DIR, else
 *   $XDG_CACHE_HOME/tsbpf, else ~/.cache/tsbpf). Its first line names the sha256 of the
 *   BTF and of the rest of the header, checked before each use: a header that does not
 *   match is regenerated, never compiled against. The cache is refused when any directory
 *   on its path, or the header, is owned by someone other than the user or root, or is
 *   writable by others (sticky directories such as /tmp are accepted above the cache
 *   directory): root's cache under a user's HOME (sudo -E) is the user's to poison;
 * - project: the repository's hand-written, minimal bpf/include/vmlinux.h.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { homedir, release } from 'node:os';
import { join, resolve } from 'node:path';
import { kernelBtf, VMLINUX_BTF_PATH } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import { commitTemps, errCode, euid, readExisting, tempName, trustedDir, untrusted, writeTemp, type DirMessages } from '../files.js';
import { packagePath } from '../package-root.js';
import { quoted } from '../text.js';

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

const CACHE_DIR: DirMessages = {
  what: 'the vmlinux.h cache directory',
  hint: 'set TSBPF_CACHE_DIR or XDG_CACHE_HOME to a writable directory',
  unsafeHint: 'set TSBPF_CACHE_DIR to a directory only you can write',
};

export function cacheDir(): string {
  if (process.env.TSBPF_CACHE_DIR) return resolve(process.env.TSBPF_CACHE_DIR);
  if (process.env.XDG_CACHE_HOME) return join(resolve(process.env.XDG_CACHE_HOME), 'tsbpf');
  let home: string;
  try {
    home = homedir();
  } catch (e) {
    throw new TsbpfError(`cannot find a home directory for the vmlinux.h cache (${errCode(e)}): ${CACHE_DIR.hint}`);
  }
  // Not resolved against the working directory: a relative HOME would put the cache there.
  if (!home.startsWith('/')) throw new TsbpfError(`HOME is ${quoted(home)}, not an absolute path, so there is no vmlinux.h cache: ${CACHE_DIR.hint}`);
  return join(home, '.cache', 'tsbpf');
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

/** The first line of a generated vmlinux.h: what it was generated from, and its own text. */
export function headerLine(btfSha256: string, textSha256: string): string {
  return `/* tsbpf vmlinux.h: kernel BTF sha256 ${btfSha256}, text sha256 ${textSha256} */\n`;
}

/** A header larger than this is not read (the kernel's own is a few MB): it is regenerated. */
const MAX_HEADER_BYTES = 256 << 20;

async function generated(generate: Generator, cache: string): Promise<VmlinuxHeader> {
  const btfPath = process.env.BTF_FILE_PATH || VMLINUX_BTF_PATH;
  let btf: Buffer;
  try {
    // Keyed by the BTF bytes (kernelBtf() reads the same file, BTF_FILE_PATH first).
    btf = readFileSync(btfPath);
  } catch (e) {
    throw new TsbpfError(`cannot read kernel BTF ${btfPath} to generate vmlinux.h: ${(e as Error).message}`);
  }
  const btfHash = sha256(btf);
  const key = `${release().replace(/[^A-Za-z0-9._-]/g, '_')}-${btfHash.slice(0, 16)}`;
  // Every level from / down is checked (trustedDir): whoever can write any of them can swap
  // the header clang includes, between tsbpf's checks and clang's open.
  const dir = trustedDir(join(trustedDir(cache, CACHE_DIR), key), CACHE_DIR);
  const path = join(dir, 'vmlinux.h');
  const uid = euid();
  const unsafe = (why: string) => new TsbpfError(`the cached ${path} ${why}: refusing to use it; remove it, or ${CACHE_DIR.unsafeHint}`);

  const existing = readExisting(path, MAX_HEADER_BYTES);
  if (existing.kind === 'symlink') throw unsafe('is a symbolic link');
  if (existing.kind === 'other') throw unsafe('is not a regular file');
  if (existing.kind === 'error') throw new TsbpfError(`cannot read the cached ${path} (${existing.code}): ${CACHE_DIR.hint}`);
  if (existing.kind === 'file') {
    const why = untrusted(existing.st, uid);
    if (why) throw unsafe(why);
    // Verified from the bytes read: anyone can compute the BTF hash of a header they plant,
    // so this tells a stale, truncated or edited header, not a hostile one; the ownership
    // checks keep those out.
    if (isHeaderFor(existing.bytes, btfHash)) return { dir, path, source: 'generated' };
    // Not this kernel's (or from an older tsbpf, without the line): regenerated when it is
    // ours, since only we (or root) can have written it in a directory that passed.
    if (existing.st.uid !== uid) throw unsafe(`was not generated from this kernel's BTF (sha256 ${btfHash}) and belongs to root, not to you`);
  }

  const text = Buffer.from(await generate());
  const tmp = tempName('vmlinux.h');
  let written: string;
  try {
    // 0644 in a 0700 directory: the directory keeps others out; the header holds nothing
    // secret (anyone can dump it from /sys/kernel/btf/vmlinux), and a copy taken out of the
    // cache stays an ordinary readable file.
    written = writeTemp(dir, tmp, Buffer.concat([Buffer.from(headerLine(btfHash, sha256(text))), text]), 0o644);
  } catch (e) {
    const code = errCode(e);
    throw new TsbpfError(
      code === 'EEXIST'
        ? `cannot write ${join(dir, tmp)}: something is already there (a temporary name nobody else can guess): refusing to follow or replace it; ${CACHE_DIR.unsafeHint}`
        : `cannot write ${path} (${code}): ${CACHE_DIR.hint}`,
    );
  }
  // The final name is checked again: it may have changed while the header was generated.
  const now = readExisting(path, 0);
  if (now.kind === 'symlink' || now.kind === 'other' || (now.kind === 'file' && now.st.uid !== uid)) {
    rmSync(written, { force: true });
    throw unsafe(now.kind === 'symlink' ? 'is a symbolic link' : now.kind === 'other' ? 'is not a regular file' : `is owned by uid ${now.st.uid}`);
  }
  try {
    commitTemps([{ tmp: written, path }]);
  } catch (e) {
    throw new TsbpfError(`cannot write ${path} (${errCode(e)}): ${CACHE_DIR.hint}`);
  }
  return { dir, path, source: 'generated' };
}

function sha256(data: Uint8Array): string {
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(data).digest('hex');
}

/** True when `bytes` is a header tsbpf generated from the BTF whose sha256 is btfHash, unaltered. */
export function isHeaderFor(bytes: Buffer, btfHash: string): boolean {
  const nl = bytes.indexOf(0x0a);
  if (nl < 0) return false;
  const m = /^\/\* tsbpf vmlinux\.h: kernel BTF sha256 ([0-9a-f]{64}), text sha256 ([0-9a-f]{64}) \*\/$/.exec(bytes.subarray(0, nl).toString('latin1'));
  return m !== null && m[1] === btfHash && m[2] === sha256(bytes.subarray(nl + 1));
}
