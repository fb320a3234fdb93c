// Shared helpers for the benchmarks in bench/*/run.mjs: prerequisite checks (root, a built
// dist/, compilers and headers, installing missing Debian packages when running as root, as
// scripts/setup.sh does), compiling a bench's C and BPF C sources into a temporary build
// directory (nothing compiled is committed), and small process/statistics utilities.
// Plain Node ESM, no dependencies.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = join(ROOT, 'dist', 'src');

/** Prints to stderr and exits 1. */
export function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
}

export function requireRoot() {
  if (process.getuid?.() !== 0) die('run as root: the benchmarks load BPF programs and attach to tracepoints (sudo node bench/NAME/run.mjs)');
}

/** The compiled TypeScript must exist: the benches import ../../dist/src/... */
export function requireDist(...modules) {
  for (const m of modules) {
    if (!existsSync(join(DIST, m))) {
      die(`${join('dist', 'src', m)} is missing: build the TypeScript first with \`npx tsc -p tsconfig.json\` (or \`bash scripts/setup.sh\`)`);
    }
  }
}

/**
 * Each requirement: { what, check: () => boolean, pkg }. Missing ones are installed with
 * apt-get when running as root on a system that has it; otherwise the run stops with the
 * install command to type.
 */
export function requireTools(reqs) {
  let missing = reqs.filter((r) => !r.check());
  if (!missing.length) return;
  const pkgs = [...new Set(missing.map((r) => r.pkg))];
  const cmd = `apt-get install -y ${pkgs.join(' ')}`;
  if (process.getuid?.() === 0 && hasCommand('apt-get')) {
    process.stderr.write(`bench: missing ${missing.map((r) => r.what).join(', ')}: running \`${cmd}\`\n`);
    let r = spawnSync('apt-get', ['install', '-y', ...pkgs], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: ['ignore', 'inherit', 'inherit'] });
      r = spawnSync('apt-get', ['install', '-y', ...pkgs], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    }
    missing = reqs.filter((r) => !r.check());
    if (!missing.length) return;
  }
  die(`missing ${missing.map((r) => r.what).join(', ')}: install with \`${cmd}\` (Debian/Ubuntu)`);
}

export function hasCommand(cmd) {
  return !spawnSync(cmd, ['--version'], { stdio: 'ignore' }).error;
}

/** Requirements shared by the benches that build BPF C and a libbpf reference. */
export const TOOLCHAIN = [
  { what: 'clang', check: () => hasCommand('clang'), pkg: 'clang' },
  { what: 'llvm-strip', check: () => hasCommand('llvm-strip'), pkg: 'llvm' },
  { what: 'gcc', check: () => hasCommand('gcc'), pkg: 'gcc' },
  { what: 'libbpf headers and libbpf.so', check: () => existsSync('/usr/include/bpf/libbpf.h') && existsSync('/usr/include/bpf/bpf_helpers.h'), pkg: 'libbpf-dev' },
  { what: 'libelf headers', check: () => existsSync('/usr/include/libelf.h') || existsSync('/usr/include/elfutils/libelf.h') || existsSync('/usr/include/gelf.h'), pkg: 'libelf-dev' },
  { what: 'zlib headers', check: () => existsSync('/usr/include/zlib.h'), pkg: 'zlib1g-dev' },
];

/** A fresh build directory under the system temp dir, removed at exit unless BENCH_KEEP=1. */
export function buildDir(name) {
  const dir = mkdtempSync(join(tmpdir(), `tsbpf-bench-${name}-`));
  if (!process.env.BENCH_KEEP) process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) die(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) die(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}${r.stdout}`);
  return r;
}

const ARCH = { x64: 'x86', arm64: 'arm64', s390x: 's390', ppc64: 'powerpc', riscv64: 'riscv' };

/** clang -g -O2 -target bpf, as scripts/build-bpf.mjs compiles the project's BPF C. */
export function compileBpf(src, out, defines = []) {
  const arch = ARCH[process.arch];
  if (!arch) die(`no __TARGET_ARCH_ known for ${process.arch}`);
  run('clang', ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, `-I${join(ROOT, 'bpf', 'include')}`, `-I${dirname(src)}`,
    '-Wall', '-Werror', ...defines.map((d) => `-D${d}`), '-c', src, '-o', out]);
  run('llvm-strip', ['-g', out]);
  return out;
}

/** gcc -O2 against Debian's libbpf (the reference consumers). */
export function compileC(src, out, { libs = ['-lbpf', '-lelf', '-lz'], defines = [], includes = [] } = {}) {
  run('gcc', ['-O2', '-g', '-Wall', '-Werror', `-I${dirname(src)}`, ...includes.map((i) => `-I${i}`), ...defines.map((d) => `-D${d}`), src, '-o', out, ...libs]);
  return out;
}

/** tracefs must be mounted for tracepoint ids (libbpf and bpftrace do not mount it). */
export function ensureTracefs() {
  if (existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events')) return;
  process.stderr.write('bench: tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing\n');
  run('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
}

/** utime + stime of a process (all its threads), in seconds; null once it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after "(comm)": state is [0], utime is field 14 of stat => index 11, stime 12
    return (Number(f[11]) + Number(f[12])) / clockTicks();
  } catch {
    return null;
  }
}

let ticks;
export function clockTicks() {
  if (ticks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    ticks = Number(r.stdout?.trim()) || 100;
  }
  return ticks;
}

/** Spawns and collects stdout/stderr; resolves with { code, signal, stdout, stderr }. */
export function spawnCollect(cmd, args, opts = {}) {
  return new Promise((resolveP, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolveP({ code, signal, stdout, stderr, pid: child.pid }));
  });
}

/** The last line of `text` that parses as a JSON object. */
export function lastJson(text) {
  const lines = text.trim().split('\n').reverse();
  for (const l of lines) {
    if (!l.startsWith('{')) continue;
    try {
      return JSON.parse(l);
    } catch {
      /* not JSON */
    }
  }
  return undefined;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** 12345678 -> "12.35M" */
export function si(x) {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (Math.abs(x) >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

export const round = (x, digits = 3) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
