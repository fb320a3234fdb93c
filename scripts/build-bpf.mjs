#!/usr/bin/env node
// Compile the project's BPF C programs to CO-RE objects that are committed next to their
// sources, so tests and users need no compiler (cilium/ebpf's bpf2go convention).
//
//   node scripts/build-bpf.mjs                  build testdata/*.bpf.c, testdata/corpus/*.bpf.c
//                                               and tools/*/*.bpf.c
//                                               into NAME.bpf.o beside each source
//   node scripts/build-bpf.mjs --out-dir DIR    write the objects under DIR instead, at the
//                                               same relative paths (DIR/testdata/NAME.bpf.o)
//   node scripts/build-bpf.mjs --check          rebuild into a temporary directory and compare
//                                               the bytes with the committed objects; prints
//                                               the ones that differ and exits 1
//   node scripts/build-bpf.mjs [--...] FILE.bpf.c ...   only these sources
//
// Reproducible output: clang runs in the source's directory on the source's basename, with
// -fdebug-compilation-dir=. , so no absolute path of the checkout ends up in the object
// (BTF line info records "dir/file" of the compilation unit), and `llvm-strip -g` drops the
// DWARF sections (the .BTF and .BTF.ext sections stay). The bytes still depend on the
// compiler version: the committed objects were built with Debian 12's clang 14.
//
// Environment: CLANG and LLVM_STRIP override the tool names (default clang, llvm-strip).
// No dependencies: plain Node ESM.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const INCLUDE_DIR = join(ROOT, 'bpf', 'include');
const CLANG = process.env.CLANG || 'clang';
const LLVM_STRIP = process.env.LLVM_STRIP || 'llvm-strip';

// process.arch -> the __TARGET_ARCH_ name libbpf's bpf_tracing.h expects
const TARGET_ARCH = {
  x64: 'x86',
  ia32: 'x86',
  arm64: 'arm64',
  arm: 'arm',
  s390x: 's390',
  ppc64: 'powerpc',
  riscv64: 'riscv',
  loong64: 'loongarch',
  mips: 'mips',
  mipsel: 'mips',
};

const INSTALL_HINT =
  'install it with: apt-get install clang llvm libbpf-dev   (Debian/Ubuntu; or set CLANG / LLVM_STRIP)';

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = { outDir: null, check: false, quiet: false, sources: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out-dir') {
      if (i + 1 >= argv.length) throw new UsageError('--out-dir needs a directory');
      opts.outDir = resolve(argv[++i]);
    } else if (a.startsWith('--out-dir=')) {
      opts.outDir = resolve(a.slice('--out-dir='.length));
    } else if (a === '--check') {
      opts.check = true;
    } else if (a === '--quiet' || a === '-q') {
      opts.quiet = true;
    } else if (a === '--help' || a === '-h') {
      opts.help = true;
    } else if (a.startsWith('-')) {
      throw new UsageError(`unknown option ${a}`);
    } else {
      opts.sources.push(resolve(a));
    }
  }
  if (opts.check && opts.outDir) throw new UsageError('--check and --out-dir cannot be combined');
  return opts;
}

function listDir(dir) {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** All BPF sources of the project, as absolute paths, in a stable order. */
function findSources(root = ROOT) {
  const out = [];
  const testdata = join(root, 'testdata');
  for (const f of listDir(testdata)) if (f.endsWith('.bpf.c')) out.push(join(testdata, f));
  const corpus = join(testdata, 'corpus');
  for (const f of listDir(corpus)) if (f.endsWith('.bpf.c')) out.push(join(corpus, f));
  const tools = join(root, 'tools');
  for (const d of listDir(tools)) {
    const dir = join(tools, d);
    if (!statSync(dir).isDirectory()) continue;
    for (const f of listDir(dir)) if (f.endsWith('.bpf.c')) out.push(join(dir, f));
  }
  return out;
}

function objectPathFor(src) {
  return src.replace(/\.c$/, '.o');
}

function toolVersion(cmd) {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  if (r.error) return null;
  return (r.stdout || '').split('\n').find((l) => l.trim()) ?? '';
}

function requireTools() {
  const clang = toolVersion(CLANG);
  if (clang === null) throw new UsageError(`${CLANG} not found: ${INSTALL_HINT}`);
  if (toolVersion(LLVM_STRIP) === null) throw new UsageError(`${LLVM_STRIP} not found: ${INSTALL_HINT}`);
  return clang;
}

function targetArch() {
  const a = TARGET_ARCH[process.arch];
  if (!a) throw new UsageError(`no __TARGET_ARCH_ known for process.arch ${process.arch}`);
  return a;
}

const MULTIARCH = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', s390x: 's390x-linux-gnu', ppc64: 'powerpc64le-linux-gnu', riscv64: 'riscv64-linux-gnu' };

function multiarchIncludes() {
  const dir = MULTIARCH[process.arch] && `/usr/include/${MULTIARCH[process.arch]}`;
  return dir && existsSync(dir) ? ['-idirafter', dir] : [];
}

/** Compile one source to `out` (an absolute path). Throws with clang's messages on failure. */
function compile(src, out, arch) {
  const srcDir = dirname(src);
  let inc = relative(srcDir, INCLUDE_DIR) || '.';
  if (sep !== '/') inc = inc.split(sep).join('/');
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const args = [
    '-g',
    '-O2',
    '-target',
    'bpf',
    `-D__TARGET_ARCH_${arch}`,
    `-I${inc}`,
    // The host's multiarch headers last, as libbpf-bootstrap adds them: libbpf's usdt.bpf.h
    // includes <linux/errno.h>, which needs <asm/errno.h>.
    ...multiarchIncludes(),
    '-Wall',
    '-Werror',
    // BTF line info names the file as "<compilation dir>/<file>": make that "./NAME.bpf.c"
    '-fdebug-compilation-dir=.',
    '-c',
    basename(src),
    '-o',
    tmp,
  ];
  try {
    const r = spawnSync(CLANG, args, { cwd: srcDir, encoding: 'utf8' });
    if (r.error) throw new Error(`${CLANG}: ${r.error.message}`);
    if (r.status !== 0) {
      let msg = `${CLANG} failed on ${relative(ROOT, src)} (exit ${r.status}):\n${r.stderr}`;
      if (/bpf\/bpf_helpers\.h' file not found/.test(r.stderr)) {
        msg += '\nlibbpf\'s BPF headers are missing: apt-get install libbpf-dev';
      }
      throw new Error(msg);
    }
    const s = spawnSync(LLVM_STRIP, ['-g', tmp], { encoding: 'utf8' });
    if (s.error) throw new Error(`${LLVM_STRIP}: ${s.error.message}`);
    if (s.status !== 0) throw new Error(`${LLVM_STRIP} -g failed on ${tmp}:\n${s.stderr}`);
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Build `sources` into outRoot (mirroring their paths relative to ROOT), or beside them. */
function buildAll(sources, outRoot, quiet) {
  const arch = targetArch();
  const built = [];
  for (const src of sources) {
    const rel = relative(ROOT, objectPathFor(src));
    const out = outRoot ? join(outRoot, rel) : objectPathFor(src);
    compile(src, out, arch);
    if (!quiet) console.log(`  BPF ${relative(ROOT, src)} -> ${outRoot ? out : rel}`);
    built.push({ src, rel, out });
  }
  return built;
}

function check(sources, clangVersion) {
  const tmp = mkdtempSync(join(tmpdir(), 'tsbpf-bpf-check-'));
  try {
    const built = buildAll(sources, tmp, true);
    const differ = [];
    for (const { rel, out } of built) {
      const committed = join(ROOT, rel);
      if (!existsSync(committed)) {
        differ.push(`${rel}: not committed (run node scripts/build-bpf.mjs)`);
      } else if (!readFileSync(committed).equals(readFileSync(out))) {
        differ.push(`${rel}: differs from a rebuild`);
      } else {
        console.log(`  same ${rel}`);
      }
    }
    if (differ.length) {
      console.error(`${differ.length} of ${built.length} BPF objects differ:`);
      for (const d of differ) console.error(`  ${d}`);
      console.error(
        `Rebuild with \`node scripts/build-bpf.mjs\` and commit the objects. This compiler: ${clangVersion}` +
          ' (the committed objects were built with Debian clang 14.0.6; other versions give other bytes).',
      );
      return 1;
    }
    console.log(`all ${built.length} BPF objects rebuild to the same bytes`);
    return 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`build-bpf: ${e.message}`);
    return 2;
  }
  if (opts.help) {
    console.log('usage: node scripts/build-bpf.mjs [--out-dir DIR | --check] [--quiet] [FILE.bpf.c ...]');
    return 0;
  }
  try {
    const clangVersion = requireTools();
    const sources = opts.sources.length ? opts.sources : findSources();
    for (const s of sources) {
      if (!s.endsWith('.bpf.c')) throw new UsageError(`not a .bpf.c source: ${s}`);
      if (!existsSync(s)) throw new UsageError(`no such file: ${s}`);
      if (relative(ROOT, s).startsWith('..')) throw new UsageError(`source outside the repository: ${s}`);
    }
    if (sources.length === 0) {
      console.error('build-bpf: no testdata/*.bpf.c or tools/*/*.bpf.c sources found');
      return 1;
    }
    if (opts.check) return check(sources, clangVersion);
    buildAll(sources, opts.outDir, opts.quiet);
    return 0;
  } catch (e) {
    console.error(`build-bpf: ${e.message}`);
    return e instanceof UsageError ? 2 : 1;
  }
}

process.exitCode = main();
