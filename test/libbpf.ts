/**
 * libbpf as the reference loader: load a BPF object with libbpf (Debian's bpftool, or
 * scripts/libbpf-each.c for a verdict per program) and with tsbpf, and tell per program
 * whether each loaded it and how many instructions the kernel kept (xlated length).
 * Used by test/corpus.test.ts and scripts/compare-libbpf.mjs (the third-party run).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Collection, loadObjectFile } from '../src/index.js';

export interface ProgVerdict {
  name: string;
  /** ELF section, when the loader tells it. */
  section?: string;
  loaded: boolean;
  /** BPF_OBJ_GET_INFO_BY_FD's xlated_prog_len / 8, when loaded. */
  xlatedInsns?: number;
  type?: number;
  /** Why it was not loaded: a few lines at most. */
  error?: string;
}

export interface ObjectVerdict {
  object: string;
  /** The whole object failed (nothing loaded): why. */
  error?: string;
  programs: Map<string, ProgVerdict>;
}

// Debian installs bpftool in /usr/sbin, which a non-login PATH may lack.
export const BPFTOOL = existsSync('/usr/sbin/bpftool') ? '/usr/sbin/bpftool' : 'bpftool';

/** bpftool's version line, or null when it does not run. */
export function bpftoolVersion(): string | null {
  const r = spawnSync(BPFTOOL, ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return r.stdout.split('\n')[0] ?? '';
}

const BPFFS = '/sys/fs/bpf';

/** Mounts bpffs at /sys/fs/bpf when nothing is mounted there (pins need it). */
export function ensureBpffs(): string {
  const mounts = readFileSync('/proc/mounts', 'utf8');
  if (!mounts.split('\n').some((l) => l.split(' ')[1] === BPFFS && l.split(' ')[2] === 'bpf')) {
    const r = spawnSync('mount', ['-t', 'bpf', 'bpf', BPFFS], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mount -t bpf bpf ${BPFFS} failed: ${r.stderr.trim() || r.error?.message}`);
  }
  return BPFFS;
}

let seq = 0;

/** A fresh directory under bpffs for one load's pins, removed by the caller. */
function privateBpffsDir(what: string): string {
  const dir = join(ensureBpffs(), `tsbpf-cmp-${process.pid}-${++seq}-${what}`);
  mkdirSync(dir);
  return dir;
}

/**
 * Whether the object declares LIBBPF_PIN_BY_NAME maps: libbpf would pin (or reuse) them
 * under /sys/fs/bpf, where other loads and tests look, so such objects are loaded with
 * a private pin root instead.
 */
function hasPinnedMaps(object: string): boolean {
  try {
    return loadObjectFile(object).maps.some((m) => (m as { pinning?: number }).pinning === 1);
  } catch {
    return false;
  }
}

/**
 * libbpf's error lines from bpftool's stderr: its libbpf:/Error: lines, without the
 * verifier log between its markers and bpftool's strict-mode boilerplate.
 */
function libbpfReason(stderr: string): string {
  const out: string[] = [];
  let inLog = false;
  for (const line of stderr.split('\n')) {
    if (line.includes('-- BEGIN PROG LOAD LOG --')) inLog = true;
    else if (line.includes('-- END PROG LOAD LOG --')) inLog = false;
    else if (!inLog && /^(libbpf|Error):/.test(line.trim())) out.push(line.trim());
  }
  return out.slice(-4).join(' | ') || stderr.trim().split('\n').slice(-2).join(' | ');
}

/**
 * `bpftool prog loadall OBJ DIR`: libbpf loads every (autoloaded) program of the object
 * or none. The pins are read back with `bpftool -j prog show pinned` and removed. An
 * object with maps pinned by name is loaded the same way by `eachBinary --all` with a
 * private pin root (bpftool cannot move it off /sys/fs/bpf).
 */
export function libbpfLoadAll(object: string, eachBinary?: string): ObjectVerdict {
  if (hasPinnedMaps(object)) {
    if (!eachBinary) throw new Error(`${object} pins maps by name: comparing it needs scripts/libbpf-each.c built (libbpfEachBinary)`);
    return libbpfEach(object, eachBinary, { all: true });
  }
  const dir = join(ensureBpffs(), `tsbpf-cmp-${process.pid}-${++seq}`);
  const verdict: ObjectVerdict = { object, programs: new Map() };
  try {
    const r = spawnSync(BPFTOOL, ['prog', 'loadall', object, dir], { encoding: 'utf8', maxBuffer: 256 << 20 });
    if (r.error) throw new Error(`${BPFTOOL}: ${r.error.message}`);
    if (r.status !== 0) {
      verdict.error = libbpfReason(r.stderr);
      return verdict;
    }
    // libbpf >= 1.0 pins each program under its (function) name; an object without
    // programs leaves no directory.
    for (const pin of existsSync(dir) ? readdirSync(dir).sort() : []) {
      const s = spawnSync(BPFTOOL, ['-j', 'prog', 'show', 'pinned', join(dir, pin)], { encoding: 'utf8' });
      if (s.status !== 0) throw new Error(`bpftool prog show pinned ${join(dir, pin)}: ${s.stderr.trim()}`);
      const info = JSON.parse(s.stdout) as { bytes_xlated: number; type: string; name: string };
      verdict.programs.set(pin, { name: pin, loaded: true, xlatedInsns: info.bytes_xlated / 8 });
    }
    return verdict;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let eachBinary: string | null | undefined;

/**
 * Compiles scripts/libbpf-each.c (needs cc and libbpf-dev) once; null when that fails.
 * `root` is the checkout.
 */
export function libbpfEachBinary(root: string): string | null {
  if (eachBinary !== undefined) return eachBinary;
  const out = join(tmpdir(), `tsbpf-libbpf-each-${process.getuid?.() ?? 0}`);
  const src = join(root, 'scripts', 'libbpf-each.c');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    // Any C compiler for the host; clang is already a test dependency.
    const built = [process.env.CC, 'cc', 'clang'].filter(Boolean).some((cc) => {
      const tmp = `${out}.${process.pid}`;
      const r = spawnSync(cc!, ['-O2', '-o', tmp, src, '-lbpf'], { encoding: 'utf8' });
      if (r.status !== 0) return false;
      renameSync(tmp, out);
      return true;
    });
    if (!built) return (eachBinary = null);
  }
  return (eachBinary = out);
}

/**
 * libbpf loading each program of the object alone (scripts/libbpf-each.c), or with
 * `all` the whole object once; maps pinned by name go to a private directory, removed after.
 */
export function libbpfEach(object: string, binary: string, opts: { all?: boolean } = {}): ObjectVerdict {
  const pins = privateBpffsDir('libbpf');
  let r;
  try {
    r = spawnSync(binary, ['--pin-root', pins, ...(opts.all ? ['--all'] : []), object], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } finally {
    rmSync(pins, { recursive: true, force: true });
  }
  if (r.error) throw r.error;
  const verdict: ObjectVerdict = { object, programs: new Map() };
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const j = JSON.parse(line) as { object?: string; error?: string; name?: string; section?: string; loaded?: boolean; xlated_insns?: number; type?: number };

    if (j.object !== undefined) {
      if (j.error !== undefined) verdict.error = j.error.replace(/\n/g, ' | ');
      continue;
    }
    verdict.programs.set(j.name!, {
      name: j.name!,
      section: j.section ?? '',
      loaded: !!j.loaded,
      ...(j.xlated_insns !== undefined ? { xlatedInsns: j.xlated_insns } : {}),
      ...(j.type !== undefined ? { type: j.type } : {}),
      ...(j.error !== undefined ? { error: j.error.replace(/\n/g, ' | ') } : {}),
    });
  }
  if (r.status !== 0 && !verdict.error) verdict.error = `libbpf-each exited ${r.status}: ${r.stderr.trim()}`;
  return verdict;
}

/** The first line of an error; when that announces a log (ends in ':'), the log's last line too. */
function oneLine(e: unknown): string {
  const msg = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
  const lines = msg.split('\n').map((l) => l.trim()).filter(Boolean);
  const first = lines[0] ?? '';
  return first.endsWith(':') && lines.length > 1 ? `${first} ... ${lines[lines.length - 1]}` : first;
}

/**
 * tsbpf's Collection.load of the object, then closed: every (autoloaded) program tried
 * (collectFailures), or only `programs` when given; `options` are more LoadOptions
 * (e.g. { core: 'user' } where that exists).
 */
export function tsbpfLoad(object: string, programs?: string[], options: Record<string, unknown> = {}): ObjectVerdict {
  const verdict: ObjectVerdict = { object, programs: new Map() };
  let spec;
  try {
    spec = loadObjectFile(object);
  } catch (e) {
    verdict.error = oneLine(e);
    return verdict;
  }
  // Maps pinned by name go to a private directory (LoadOptions.pinPath), removed after.
  const pins = privateBpffsDir('tsbpf');
  let coll: Collection;
  try {
    coll = Collection.load(spec, { pinPath: pins, ...options, collectFailures: true, ...(programs ? { programs } : {}) } as Parameters<typeof Collection.load>[1]);
  } catch (e) {
    rmSync(pins, { recursive: true, force: true });
    verdict.error = oneLine(e);
    for (const p of spec.programs) verdict.programs.set(p.name, { name: p.name, loaded: false, error: verdict.error });
    return verdict;
  }
  try {
    for (const p of spec.programs) {
      if (programs && !programs.includes(p.name)) continue;
      const loaded = coll.programs.get(p.name);
      if (loaded) {
        const info = loaded.info();
        verdict.programs.set(p.name, { name: p.name, section: p.section, loaded: true, xlatedInsns: info.xlatedProgLen / 8, type: info.type });
      } else {
        const err = coll.failures.get(p.name);
        const why = err ? oneLine(err) : (p as { autoload?: boolean }).autoload === false ? 'not loaded: autoload is off (SEC("?..."))' : 'not loaded (no error recorded)';
        verdict.programs.set(p.name, { name: p.name, section: p.section, loaded: false, error: why });
      }
    }
  } finally {
    coll.close();
    rmSync(pins, { recursive: true, force: true });
  }
  return verdict;
}

/** tsbpf loading each program of the object alone, as libbpfEach does with libbpf. */
export function tsbpfEach(object: string, options: Record<string, unknown> = {}): ObjectVerdict {
  let names: string[];
  try {
    names = loadObjectFile(object).programs.map((p) => p.name);
  } catch (e) {
    return { object, error: oneLine(e), programs: new Map() };
  }
  const verdict: ObjectVerdict = { object, programs: new Map() };
  for (const name of names) {
    const one = tsbpfLoad(object, [name], options);
    verdict.programs.set(name, one.programs.get(name) ?? { name, loaded: false, error: one.error ?? 'not loaded' });
  }
  return verdict;
}

/** The .bpf.o (or .o) files of a directory, sorted; recursive. */
export function objectsIn(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...objectsIn(p));
    else if (f.endsWith('.o')) out.push(p);
  }
  return out;
}

export function shortName(object: string): string {
  return basename(object).replace(/\.o$/, '');
}

/** Whether libbpf's LINUX_HAS_SYSCALL_WRAPPER probe (a kprobe) can work on this kernel. */
export function kernelHasKprobes(): boolean {
  try {
    return /^CONFIG_KPROBES=y$/m.test(gunzipSync(readFileSync('/proc/config.gz')).toString('latin1'));
  } catch {
    return true; // no config to tell: assume the usual kernel, compare everything
  }
}
