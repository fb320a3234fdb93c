/**
 * Files that tsbpf writes or trusts (build's outputs and cache, gen's bindings), safe against a hostile neighbour (often root
 * building in, or from, a directory another user can write):
 * - nothing is opened through a symbolic link at a name tsbpf picks (O_NOFOLLOW), and a
 *   file's owner and mode are read from the opened descriptor (fstat), so what is checked
 *   is what is read;
 * - a file is written into a new temporary file (O_EXCL|O_NOFOLLOW, random name, in the
 *   destination directory) and renamed over the destination: rename(2) replaces a
 *   symbolic link at the final name, it never writes through one;
 * - directories are made one level at a time (Node's recursive mkdir spins forever where
 *   a parent can never be made: a HOME under /proc answers ENOENT to every mkdir).
 */
import { closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, rmSync, writeSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { TsbpfError } from './errors.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;

/** What a file the user named holds; a missing or unreadable file is one line naming it. */
export function readUserFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TsbpfError(err.code === 'ENOENT' ? `${path}: no such file` : `cannot read ${path}: ${err.message}`);
  }
}

/** `parse()`, whose typed errors then name `file` first ("prog.bpf.o: ELF: ..."), as a user needs who passed several. */
export function naming<T>(file: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof TsbpfError && !e.message.startsWith(`${file}: `)) e.message = `${file}: ${e.message}`;
    throw e;
  }
}

export function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

export function euid(): number {
  return process.geteuid?.() ?? 0;
}

/**
 * Why `st` may not be trusted by `uid`, or null: it must be owned by uid or root, and
 * writable by nobody else. `sticky`: a sticky directory writable by others (/tmp) is
 * accepted, since there nobody can rename or remove the entries they do not own; that is
 * right for the directories above the one in use, not for it.
 */
export function untrusted(st: Stats, uid: number, sticky = false): string | null {
  if (st.uid !== uid && st.uid !== 0) return `is owned by uid ${st.uid}, not by you (uid ${uid})${uid === 0 ? '' : ' or root'}`;
  if (st.mode & 0o022 && !(sticky && st.isDirectory() && st.mode & 0o1000)) {
    return `is writable by ${st.mode & 0o020 ? (st.mode & 0o002 ? 'its group and others' : 'its group') : 'others'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
  }
  return null;
}

export interface DirMessages {
  /** "the vmlinux.h cache directory": what the directory is, in messages. */
  what: string;
  /** What to do when it cannot be made or used. */
  hint: string;
  /** What to do when it is not safe to use. */
  unsafeHint: string;
}

/**
 * The real path of `path`, every level from / down checked with untrusted() (the last one
 * strictly, the ones above may be sticky) and missing levels made 0700. A symbolic link
 * on the way is followed only once the directory holding it has passed, so nobody
 * untrusted chose where it points; a directory tsbpf makes is checked after mkdir, so one
 * planted meanwhile is refused, not used.
 */
export function trustedDir(path: string, m: DirMessages): string {
  const uid = euid();
  const fail = (level: string, why: string) => new TsbpfError(`${m.what} ${path} is not safe to use: ${level} ${why}: ${m.unsafeHint}`);
  const pending = (path.startsWith('/') ? path : `${process.cwd()}/${path}`).split('/').filter((c) => c && c !== '.');
  let cur = '/';
  let links = 0;
  const rootWhy = untrusted(lstatSync('/'), uid, pending.length > 0);
  if (rootWhy) throw fail('/', rootWhy);
  for (;;) {
    const name = pending.shift();
    if (name === '..') {
      cur = dirname(cur); // cur is a real path: its parent is the physical one
      continue;
    }
    const next = name === undefined ? cur : join(cur, name);
    let st: Stats;
    try {
      st = lstatSync(next);
    } catch (e) {
      if (errCode(e) !== 'ENOENT' || name === undefined) throw new TsbpfError(`cannot use ${m.what} ${next} (${errCode(e)}): ${m.hint}`);
      try {
        mkdirSync(next, { mode: 0o700 });
      } catch (e2) {
        if (errCode(e2) !== 'EEXIST') throw new TsbpfError(`cannot create ${m.what} ${next} (${errCode(e2)}): ${m.hint}`);
      }
      try {
        st = lstatSync(next);
      } catch (e2) {
        throw new TsbpfError(`cannot use ${m.what} ${next} (${errCode(e2)}): ${m.hint}`);
      }
    }
    if (st.isSymbolicLink()) {
      if (++links > 40) throw new TsbpfError(`cannot use ${m.what} ${path} (ELOOP): ${m.hint}`);
      const target = readlinkSync(next);
      pending.unshift(...target.split('/').filter((c) => c && c !== '.'));
      if (target.startsWith('/')) cur = '/';
      continue;
    }
    if (!st.isDirectory()) throw new TsbpfError(`cannot use ${m.what} ${path}: ${next} is not a directory`);
    const why = untrusted(st, uid, name !== undefined);
    if (why) throw fail(next, why);
    if (name === undefined) return cur; // the last level, checked strictly
    cur = next;
  }
}

/**
 * mkdir -p for a directory the user named (mode as mkdir's), one level at a time; the path
 * is theirs, so links on it are followed.
 */
export function makeDirs(dir: string, onError: (path: string, code: string) => TsbpfError): void {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      if (errCode(e) !== 'EEXIST') throw onError(d, errCode(e));
    }
  }
}

export type Existing =
  | { kind: 'none' }
  | { kind: 'symlink' }
  | { kind: 'other'; st: Stats }
  | { kind: 'file'; st: Stats; bytes: Buffer }
  | { kind: 'error'; code: string };

/**
 * What is at `path`, never following a symbolic link there, and the bytes of a regular
 * file read from the descriptor whose owner and mode `st` gives. O_NONBLOCK: a FIFO
 * planted at the name must not hang the open. Files larger than maxBytes are not read.
 */
export function readExisting(path: string, maxBytes = Infinity): Existing {
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    const code = errCode(e);
    if (code === 'ENOENT') return { kind: 'none' };
    if (code === 'ELOOP') return { kind: 'symlink' };
    return { kind: 'error', code };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { kind: 'other', st };
    return { kind: 'file', st, bytes: st.size > maxBytes ? Buffer.alloc(0) : readFileSync(fd) };
  } catch (e) {
    return { kind: 'error', code: errCode(e) };
  } finally {
    closeSync(fd);
  }
}

/** A random, unguessable temporary name beside `name`. */
export function tempName(name: string): string {
  return `.${name}.tmp-${process.getBuiltinModule('node:crypto').randomBytes(8).toString('hex')}`;
}

/**
 * Writes `data` into a new file `dir/tmp` (O_EXCL|O_NOFOLLOW: whatever is already at the
 * name, a symbolic link included, is an EEXIST error, never followed or truncated) and
 * returns its path. mode is subject to the umask.
 */
export function writeTemp(dir: string, tmp: string, data: Uint8Array, mode: number): string {
  const path = join(dir, tmp);
  const fd = openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    for (let off = 0; off < data.byteLength; ) off += writeSync(fd, data, off);
  } catch (e) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw e;
  }
  closeSync(fd);
  return path;
}

/** Renames each temporary file over its destination; removes the temporaries left on failure. */
export function commitTemps(pairs: { tmp: string; path: string }[]): void {
  try {
    for (const { tmp, path } of pairs) renameSync(tmp, path);
  } finally {
    for (const { tmp } of pairs) rmSync(tmp, { force: true });
  }
}
