/**
 * The compiler driver: BPF C -> NAME.bpf.o, NAME.skel.json and an eunomia package.json,
 * as eunomia-bpf's `ecc SOURCE.bpf.c [HEADER.h]` makes them.
 *
 * 1. With a header, every struct it defines is forced into the object's BTF: a temporary
 *    copy of the source gets `const volatile struct NAME *__eunomia_dummy_NAME_ptr
 *    __attribute__((unused));` per struct (the pointers land in .bss).
 * 2. clang -g -O2 -target bpf -D__TARGET_ARCH_<arch>, with -I for the source's directory
 *    and for a vmlinux.h (see vmlinux.ts); libbpf's <bpf/...> headers come from the system
 *    include path (libbpf-dev). Then llvm-strip -g, which keeps .BTF and .BTF.ext.
 * 3. Export types: every BTF STRUCT named in the header, in BTF id order.
 * 4. `///` doc comments give variables their description and cmdarg, and maps their
 *    sample config (doc.ts).
 */
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { GENERATED_MARK, generateTypeScript } from '../gen/index.js';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { TsbpfError } from '../errors.js';
import { objectName, parseObject, type ObjectSpec } from '../object/index.js';
import { structIds, writePackage, type EunomiaPackage, type PackageDoc } from '../package/index.js';
import { applyDocComments, parseDocComments } from './doc.js';
import { commitTemps, errCode, makeDirs, readExisting, readUserFile, tempName, writeTemp } from '../files.js';
import { vmlinuxHeader, type VmlinuxHeader } from './vmlinux.js';
import { quoted } from '../text.js';

export { parseDocComments, type DocComment } from './doc.js';
export { vmlinuxHeader, cacheDir, PROJECT_VMLINUX_DIR, type VmlinuxHeader } from './vmlinux.js';

export const INSTALL_HINT = 'apt-get install clang llvm libbpf-dev';

/** A compiler step that ran and failed; its own messages went to `compilerOutput` as they came. */
export class CompileError extends TsbpfError {
  override name = 'CompileError';
  constructor(
    readonly tool: string,
    readonly status: number | null,
    readonly signal: NodeJS.Signals | null,
    /** What the tool wrote to stderr. */
    readonly stderr: string,
    hint = '',
  ) {
    super(`${tool} failed (${status !== null ? `exit ${status}` : `signal ${signal}`})${hint ? `: ${hint}` : ''}`);
  }
}

export interface BuildOptions {
  /** Where NAME.bpf.o, NAME.skel.json and package.json go (default: the source's directory). */
  outDir?: string;
  /** Extra clang flags, after tsbpf's own. */
  cflags?: string[];
  /** Log each command line before running it. */
  verbose?: boolean;
  /** Progress lines ("Compiling bpf object...") and, with verbose, command lines. Default: none. */
  log?: (line: string) => void;
  /** What clang and llvm-strip write (warnings, errors), unchanged. Default: process.stderr. */
  compilerOutput?: (text: string) => void;
  /** Tool names or paths (default: $CLANG or clang, $LLVM_STRIP or llvm-strip). */
  clang?: string;
  llvmStrip?: string;
  /** A vmlinux.h to use instead of vmlinuxHeader()'s: its directory. */
  vmlinuxDir?: string;
  /** Cache for the generated vmlinux.h (default: cacheDir()). */
  cacheDir?: string;
  doc?: PackageDoc;
  /** Also write typed TypeScript bindings, NAME.ts (tsbpf gen's), beside the package. */
  ts?: boolean;
}

export interface BuildResult {
  objectPath: string;
  skelPath: string;
  packagePath: string;
  package: EunomiaPackage;
  spec: ObjectSpec;
  /** Structs the header defines (the dummies added for them), in header order. */
  headerStructs: string[];
  /** BTF ids of the export types in the object's BTF. */
  exportTypeIds: number[];
  vmlinux: VmlinuxHeader;
  /** NAME.ts, when asked for (BuildOptions.ts). */
  bindingsPath?: string;
}

/** process.arch -> the __TARGET_ARCH_ libbpf's bpf_tracing.h expects. */
const TARGET_ARCH: Record<string, string> = {
  x64: 'x86', ia32: 'x86', arm64: 'arm64', arm: 'arm', s390x: 's390', ppc64: 'powerpc',
  riscv64: 'riscv', loong64: 'loongarch', mips: 'mips', mipsel: 'mips',
};

export function targetArch(arch: string = process.arch): string {
  const a = TARGET_ARCH[arch];
  if (!a) throw new TsbpfError(`no __TARGET_ARCH_ is known for ${arch}: pass --cflags -D__TARGET_ARCH_<name>`);
  return a;
}

/** Names of the structs a header defines (`struct NAME {`), in order, comments ignored. */
export function headerStructs(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/gm, '');
  const names: string[] = [];
  for (const m of code.matchAll(/\bstruct\s+([A-Za-z_]\w*)\s*\{/g)) if (!names.includes(m[1]!)) names.push(m[1]!);
  return names;
}

/** The lines ecc appends to keep the header's structs in BTF. */
export function dummyDeclarations(structs: string[]): string {
  return structs.map((n) => `const volatile struct ${n} *__eunomia_dummy_${n}_ptr __attribute__((unused));\n`).join('');
}

export async function build(source: string, header?: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const log = opts.log ?? (() => {});
  const out = opts.compilerOutput ?? ((s: string) => void process.stderr.write(s));
  const clang = opts.clang ?? process.env.CLANG ?? 'clang';
  const strip = opts.llvmStrip ?? process.env.LLVM_STRIP ?? 'llvm-strip';

  const src = resolve(source);
  const text = readText(source);
  const structs = header !== undefined ? headerStructs(readText(header)) : [];
  const name = objectName(src);
  const outDir = resolve(opts.outDir ?? dirname(src));
  const objectPath = join(outDir, `${name}.bpf.o`);
  const skelPath = join(outDir, `${name}.skel.json`);
  const packagePath = join(outDir, 'package.json');
  const bindingsPath = opts.ts ? join(outDir, `${name}.ts`) : undefined;
  const outputs: Output[] = [
    { path: objectPath, ours: isBpfObject, foreign: 'is not a BPF object' },
    { path: skelPath, ours: isSkeleton, foreign: 'is not an eunomia skeleton (no "bpf_skel")' },
    { path: packagePath, ours: isEunomiaPackage, foreign: 'is not an eunomia package (no "bpf_object" and "meta")' },
  ];
  if (bindingsPath) outputs.push({ path: bindingsPath, ours: (b) => b.toString('utf8', 0, GENERATED_MARK.length) === GENERATED_MARK, foreign: 'was not written by tsbpf gen' });
  // Checked before compiling, so a refusal writes nothing.
  for (const o of outputs) checkOutput(o);
  checkWritable(outDir);
  const arch = targetArch();
  const vmlinux: VmlinuxHeader = opts.vmlinuxDir
    ? { dir: resolve(opts.vmlinuxDir), path: join(resolve(opts.vmlinuxDir), 'vmlinux.h'), source: 'given' }
    : await vmlinuxHeader({ cacheDir: opts.cacheDir });

  log('Compiling bpf object...');
  let work: string;
  try {
    // mkdtemp: a new directory only we can enter, with a name nobody can guess, for the
    // intermediate files (the source copy, clang's object).
    work = mkdtempSync(join(tmpdir(), 'tsbpf-build-'));
  } catch (e) {
    throw new TsbpfError(`cannot create a temporary directory in ${tmpdir()} (${errCode(e)}): set TMPDIR to a writable directory`);
  }
  let bytes: Uint8Array;
  try {
    // The copy lives in a temporary directory; -I for the source's directory finds its
    // own headers, and #line makes clang's messages (and BTF line info) name the original.
    // clang runs in the caller's working directory, so relative paths in cflags work.
    const copy = join(work, basename(src));
    const shown = displayPath(src);
    writeFileSync(copy, `#line 1 ${JSON.stringify(shown)}\n${text}${text.endsWith('\n') ? '' : '\n'}${dummyDeclarations(structs)}`);
    const obj = join(work, `${name}.bpf.o`);
    const args = [
      '-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`,
      `-I${dirname(src)}`, `-I${vmlinux.dir}`,
      '-fdebug-compilation-dir=.',
      ...(opts.cflags ?? []),
      '-c', copy, '-o', obj,
    ];
    await runTool(clang, args, { verbose: opts.verbose, log, out, what: 'clang' });
    await runTool(strip, ['-g', obj], { verbose: opts.verbose, log, out, what: 'llvm-strip' });
    bytes = new Uint8Array(readFileSync(obj));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const spec = parseObject(bytes, name);
  let exportTypeIds: number[] = [];
  if (header !== undefined) {
    log('Generating export types...');
    exportTypeIds = structIds(spec.btf, structs);
  }
  const pkg = writePackage(bytes, spec, exportTypeIds, { objectFile: objectPath, doc: opts.doc });
  applyDocComments(pkg.meta.bpf_skel, parseDocComments(text, displayPath(src)));
  outputs[0]!.data = bytes;
  // As ecc: NAME.skel.json holds the meta (bpf_skel, export_types, eunomia_version) without the object.
  outputs[1]!.data = Buffer.from(JSON.stringify(pkg.meta, null, 2) + '\n');
  log(`Packing ebpf object and config into ${displayPath(packagePath)}...`);
  outputs[2]!.data = Buffer.from(JSON.stringify(pkg, null, 2) + '\n');
  if (bindingsPath) {
    log(`Writing TypeScript bindings into ${displayPath(bindingsPath)}...`);
    outputs[3]!.data = Buffer.from(generateTypeScript(bytes, spec.name, { exportTypeIds, source: basename(objectPath) }));
  }
  writeOutputs(outDir, outputs);
  return { objectPath, skelPath, packagePath, package: pkg, spec, headerStructs: structs, exportTypeIds, vmlinux, bindingsPath };
}

/** A file build writes, and how to tell that a file already there is an earlier build's. */
interface Output {
  path: string;
  ours: (existing: Buffer) => boolean;
  /** Why a file that fails `ours` is the user's: "is not a BPF object". */
  foreign: string;
  data?: Uint8Array;
}

const ELSEWHERE = 'build elsewhere with -o DIR';

/**
 * Refuses to replace what is at an output's name unless it is an earlier build's output
 * (house rule: never overwrite a user's file), or a symbolic link (writing through it would
 * write wherever it points; replacing it would break the user's link, or hide a plant).
 */
function checkOutput(o: Output): void {
  const shown = displayPath(o.path);
  const e = readExisting(o.path);
  if (e.kind === 'none') return;
  if (e.kind === 'symlink') throw new TsbpfError(`${shown} is a symbolic link: tsbpf build neither writes through nor replaces one; remove it, or ${ELSEWHERE}`);
  if (e.kind === 'other') throw new TsbpfError(`${shown} exists and is not a regular file: tsbpf build will not replace it; ${ELSEWHERE}`);
  if (e.kind === 'error') throw new TsbpfError(`cannot read ${shown} to check that an earlier build wrote it (${e.code}): ${ELSEWHERE}`);
  if (!o.ours(e.bytes)) throw new TsbpfError(`${shown} exists and ${o.foreign}: tsbpf build will not overwrite it; ${o.path.endsWith('package.json') ? 'write the package elsewhere with -o DIR' : ELSEWHERE}`);
}

/** An ELF object for BPF (e_machine EM_BPF, 247), either byte order. */
function isBpfObject(b: Buffer): boolean {
  if (b.length < 20 || b.readUInt32BE(0) !== 0x7f454c46) return false;
  return (b[5] === 2 ? b.readUInt16BE(18) : b.readUInt16LE(18)) === 247;
}

function jsonObject(b: Buffer): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(b.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function isSkeleton(b: Buffer): boolean {
  const v = jsonObject(b);
  return v !== null && 'bpf_skel' in v;
}

/** A package.json that is not an eunomia package (an npm project's, say) is the user's. */
function isEunomiaPackage(b: Buffer): boolean {
  const v = jsonObject(b);
  return v !== null && 'bpf_object' in v && 'meta' in v;
}

/**
 * Fails early, before compiling, when the output directory (or, if it is missing, the
 * nearest directory above it, where it would be made) cannot be written.
 */
function checkWritable(outDir: string): void {
  let d = outDir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  try {
    accessSync(d, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new TsbpfError(`cannot write into ${displayPath(d)} (${errCode(e)}): ${ELSEWHERE} (a directory you can write)`);
  }
}

/**
 * Every output into a temporary file beside it first, then each renamed over its name:
 * a failure (a full disk, say) leaves the earlier outputs as they were, and rename never
 * follows a link planted at the name meanwhile.
 */
function writeOutputs(outDir: string, outputs: Output[]): void {
  makeDirs(outDir, (d, code) => new TsbpfError(`cannot create the output directory ${displayPath(d)} (${code}): ${ELSEWHERE} (a directory you can write)`));
  for (const o of outputs) checkOutput(o); // again: the compile took a while
  const temps: { tmp: string; path: string }[] = [];
  try {
    for (const o of outputs) {
      const tmp = tempName(basename(o.path));
      try {
        temps.push({ tmp: writeTemp(outDir, tmp, o.data!, 0o666), path: o.path });
      } catch (e) {
        const code = errCode(e);
        throw new TsbpfError(
          code === 'EEXIST'
            ? `cannot write ${displayPath(join(outDir, tmp))}: something is already at this unguessable temporary name; not following or replacing it`
            : `cannot write ${displayPath(o.path)} (${code}): ${code === 'ENOSPC' || code === 'EDQUOT' ? `free some space, or ${ELSEWHERE}` : `${ELSEWHERE} (a directory you can write)`}`,
        );
      }
    }
    const pairs = temps.splice(0);
    try {
      commitTemps(pairs);
    } catch (e) {
      throw new TsbpfError(`cannot rename a temporary file into ${displayPath(outDir)} (${errCode(e)}): ${ELSEWHERE} (a directory you can write)`);
    }
  } finally {
    for (const { tmp } of temps) rmSync(tmp, { force: true });
  }
}

/** A path as the user would write it: relative to the working directory when below it. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function readText(path: string): string {
  return readUserFile(path).toString('utf8');
}

/** A command line as a shell would take it. */
export function shellQuote(words: string[]): string {
  return words.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Splits a --cflags string into words: whitespace separates, quotes group, backslash escapes. */
export function splitFlags(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) words.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw new TsbpfError(`--cflags: unbalanced ${quote} in ${quoted(s)}`);
  if (has) words.push(cur);
  return words;
}

interface RunOpts {
  verbose?: boolean;
  log: (line: string) => void;
  out: (text: string) => void;
  what: string;
}

function runTool(cmd: string, args: string[], o: RunOpts): Promise<void> {
  if (o.verbose) o.log(shellQuote([cmd, ...args]));
  return new Promise((resolvePromise, reject) => {
    const child = process.getBuiltinModule('node:child_process').spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => o.out(s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      o.out(s);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT'
          ? new TsbpfError(`${cmd} not found: tsbpf build needs clang and llvm-strip; install them with: ${INSTALL_HINT}`)
          : new TsbpfError(`cannot run ${cmd}: ${e.message}`),
      );
    });
    child.on('close', (status, signal) => {
      if (status === 0) return resolvePromise();
      let hint = '';
      if (/bpf\/bpf_helpers\.h'? file not found/.test(stderr)) hint = `libbpf's BPF headers are missing: ${INSTALL_HINT}`;
      reject(new CompileError(o.what, status, signal, stderr, hint));
    });
  });
}
