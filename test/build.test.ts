/**
 * tsbpf build, the ecc equivalent: the seed's exitsnoop.bpf.c + exitsnoop.h compiled into
 * NAME.bpf.o, NAME.skel.json and package.json with the reference layout and the event's
 * exact BTF layout; clang's errors passed through with exit status 1; -v, -o, --cflags.
 * Tests that run clang need it: under CI=true a missing clang fails them, elsewhere they skip.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { build, CompileError, dummyDeclarations, headerStructs, PROJECT_VMLINUX_DIR, splitFlags, vmlinuxHeader } from '../src/build/index.js';
import { headerLine } from '../src/build/vmlinux.js';
import { TsbpfError } from '../src/errors.js';
import { Collection } from '../src/loader/index.js';
import { parseObject } from '../src/object/index.js';
import { readPackage } from '../src/package/index.js';
import { isRoot } from './kernel.js';
import { CLI, ROOT, SEED } from './paths.js';

const inCI = process.env.CI === 'true';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const hasTools =
  spawnSync(process.env.CLANG || 'clang', ['--version']).status === 0 &&
  spawnSync(process.env.LLVM_STRIP || 'llvm-strip', ['--version']).status === 0;

function clangTest(name: string, fn: (t: TestContext) => void | Promise<void>, opts: { root?: boolean } = {}): void {
  if (!hasTools) {
    if (inCI) {
      test(name, () => {
        throw new Error('clang/llvm-strip are needed (apt-get install clang llvm libbpf-dev), and CI=true forbids skipping');
      });
    } else {
      test(name, { skip: 'needs clang and llvm-strip' }, () => {});
    }
  } else if (opts.root && !isRoot) {
    if (inCI) test(name, () => { throw new Error('kernel test needs root, and CI=true forbids skipping it'); });
    else test(name, { skip: 'needs root (kernel test)' }, () => {});
  } else {
    test(name, fn);
  }
}

/** A fresh directory with the seed's two files. */
function seedDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-buildtest-'));
  copyFileSync(join(SEED, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.bpf.c'));
  copyFileSync(join(SEED, 'exitsnoop.h'), join(dir, 'exitsnoop.h'));
  return dir;
}

function tsbpf(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Checks a package.json against the format reference for the seed, and the event layout in the object's BTF. */
function checkSeedPackage(dir: string) {
  const text = readFileSync(join(dir, 'package.json'), 'utf8');
  const raw = JSON.parse(text);
  assert.deepEqual(Object.keys(raw).sort(), ['bpf_object', 'bpf_object_size', 'meta']);
  assert.match(raw.bpf_object, /^[A-Za-z0-9+/]+={0,2}$/);
  const pkg = readPackage(text);
  const object = readFileSync(join(dir, 'exitsnoop.bpf.o'));
  assert.deepEqual(Buffer.from(pkg.objectBytes), object, 'package.json holds NAME.bpf.o');
  assert.equal(raw.bpf_object_size, object.byteLength);
  assert.equal(pkg.eunomiaVersion, '0.3.4');

  const skel = pkg.skel;
  assert.equal(skel.obj_name, 'exitsnoop_bpf');
  assert.deepEqual(skel.maps, [
    { name: 'rb', ident: 'rb' },
    { name: 'exitsnoo.bss', ident: 'bss', mmaped: true },
  ]);
  assert.deepEqual(skel.progs, [{ name: 'handle_exit', attach: 'tp/sched/sched_process_exit', link: true }]);
  assert.deepEqual(skel.data_sections, [
    { name: '.bss', variables: [{ name: '__eunomia_dummy_event_ptr', type: 'struct event *' }] },
  ]);

  assert.equal(pkg.exportTypes.length, 1);
  const et = pkg.exportTypes[0]!;
  assert.equal(et.name, 'event');
  assert.equal(et.size, 40);
  assert.deepEqual(et.members, [
    { name: 'pid', type: 'int' },
    { name: 'ppid', type: 'int' },
    { name: 'exit_code', type: 'unsigned int' },
    { name: 'duration_ns', type: 'unsigned long long' },
    { name: 'comm', type: 'char[16]' },
  ]);
  // The layout, from the object's own BTF at type_id.
  const spec = parseObject(pkg.objectBytes, pkg.name);
  const t = spec.btf.type(et.type_id);
  assert.ok(t.kind === 'struct', `type ${et.type_id} is ${t.kind}`);
  assert.equal(t.name, 'event');
  assert.equal(t.size, 40);
  assert.deepEqual(
    t.members.map((m) => [m.name, m.bitOffset / 8, spec.btf.typeName(m.type)]),
    [['pid', 0, 'int'], ['ppid', 4, 'int'], ['exit_code', 8, 'unsigned int'], ['duration_ns', 16, 'unsigned long long'], ['comm', 24, 'char[16]']],
  );
  // ecc's export types: every STRUCT named in the header, and only those.
  assert.deepEqual(spec.btf.types.flatMap((x, id) => (x.kind === 'struct' && x.name === 'event' ? [id] : [])), [et.type_id]);

  // NAME.skel.json: the package's meta, without the object.
  const skelJson = JSON.parse(readFileSync(join(dir, 'exitsnoop.skel.json'), 'utf8'));
  assert.deepEqual(skelJson, raw.meta);
  return { pkg, spec };
}

test('headerStructs: structs defined in the header (not merely named), comments ignored', () => {
  assert.deepEqual(headerStructs(readFileSync(join(SEED, 'exitsnoop.h'), 'utf8')), ['event']);
  const h = `
    struct a { int x; };
    struct b; /* declared only */
    struct c *p;
    typedef struct d { int x; } d_t;
    struct e
    {
      struct a inner;
    };
    /* struct commented { int x; }; */
    // struct also_commented { int x; };
    struct a { int again; };
  `;
  assert.deepEqual(headerStructs(h), ['a', 'd', 'e']);
  assert.equal(
    dummyDeclarations(['event']),
    'const volatile struct event *__eunomia_dummy_event_ptr __attribute__((unused));\n',
  );
});

test('splitFlags: --cflags words, quotes and escapes', () => {
  assert.deepEqual(splitFlags('  -DA=1   -Wall '), ['-DA=1', '-Wall']);
  assert.deepEqual(splitFlags(`-DNAME="a b" '-DX=c d' -DY=e\\ f ""`), ['-DNAME=a b', '-DX=c d', '-DY=e f', '']);
  assert.deepEqual(splitFlags(''), []);
  assert.throws(() => splitFlags('-D"x'), (e: unknown) => e instanceof TsbpfError && /unbalanced " in/.test(e.message));
});

test('vmlinux.h: generated once per kernel BTF into the cache; the project header otherwise', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'tsbpf-buildtest-cache-'));
  const saved = process.env.BTF_FILE_PATH;
  try {
    const btfFile = join(cache, 'fake-btf');
    writeFileSync(btfFile, 'kernel one');
    process.env.BTF_FILE_PATH = btfFile;
    let calls = 0;
    const generate = () => `/* generated ${++calls} */\n`;
    const a = await vmlinuxHeader({ cacheDir: cache, generate });
    assert.equal(a.source, 'generated');
    assert.equal(a.path, join(a.dir, 'vmlinux.h'));
    assert.ok(a.dir.startsWith(cache + '/'), a.dir);
    // The first line names the BTF's sha256 and the rest's (checked before each use).
    assert.equal(readFileSync(a.path, 'utf8'), headerLine(sha256('kernel one'), sha256('/* generated 1 */\n')) + '/* generated 1 */\n');
    const b = await vmlinuxHeader({ cacheDir: cache, generate: async () => generate() });
    assert.equal(b.path, a.path);
    assert.equal(calls, 1, 'cached: not generated again');
    writeFileSync(btfFile, 'kernel two');
    const c = await vmlinuxHeader({ cacheDir: cache, generate });
    assert.notEqual(c.dir, a.dir, 'another kernel BTF, another cache entry');
    assert.equal(readFileSync(c.path, 'utf8'), headerLine(sha256('kernel two'), sha256('/* generated 2 */\n')) + '/* generated 2 */\n');
    assert.deepEqual(readdirSync(c.dir), ['vmlinux.h'], 'no temporary file left');
    const p = await vmlinuxHeader({ generate: null });
    assert.deepEqual(p, { dir: PROJECT_VMLINUX_DIR, path: join(ROOT, 'bpf', 'include', 'vmlinux.h'), source: 'project' });
  } finally {
    if (saved === undefined) delete process.env.BTF_FILE_PATH;
    else process.env.BTF_FILE_PATH = saved;
    rmSync(cache, { recursive: true, force: true });
  }
});

test('clang missing: a TsbpfError that gives the install command; nothing written', async () => {
  const dir = seedDir();
  try {
    await assert.rejects(
      build(join(dir, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.h'), { clang: '/nonexistent/clang', compilerOutput: () => {} }),
      (e: unknown) => e instanceof TsbpfError && /\/nonexistent\/clang not found: .*apt-get install clang llvm libbpf-dev/.test(e.message),
    );
    const r = tsbpf(['build', join(dir, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.h')], { CLANG: '/nonexistent/clang' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^tsbpf: \/nonexistent\/clang not found: .*apt-get install clang llvm libbpf-dev/m);
    assert.deepEqual(readdirSync(dir).sort(), ['exitsnoop.bpf.c', 'exitsnoop.h']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing source or header: a TsbpfError naming the file', async () => {
  const dir = seedDir();
  try {
    await assert.rejects(build(join(dir, 'nope.bpf.c')), (e: unknown) => e instanceof TsbpfError && /nope\.bpf\.c: no such file/.test(e.message));
    await assert.rejects(build(join(dir, 'exitsnoop.bpf.c'), join(dir, 'nope.h')), (e: unknown) => e instanceof TsbpfError && /nope\.h: no such file/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

clangTest("build(): the seed's two files -> NAME.bpf.o, NAME.skel.json, package.json in the source's folder", async () => {
  const dir = seedDir();
  try {
    const lines: string[] = [];
    const compilerOutput: string[] = [];
    const res = await build(join(dir, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.h'), {
      log: (l) => lines.push(l),
      compilerOutput: (s) => compilerOutput.push(s),
    });
    // Only the outputs were added: the temporary copy with the dummies is gone.
    assert.deepEqual(readdirSync(dir).sort(), ['exitsnoop.bpf.c', 'exitsnoop.bpf.o', 'exitsnoop.h', 'exitsnoop.skel.json', 'package.json']);
    assert.equal(res.objectPath, join(dir, 'exitsnoop.bpf.o'));
    assert.equal(res.skelPath, join(dir, 'exitsnoop.skel.json'));
    assert.equal(res.packagePath, join(dir, 'package.json'));
    assert.deepEqual(res.headerStructs, ['event']);
    assert.equal(lines[0], 'Compiling bpf object...');
    assert.equal(lines[1], 'Generating export types...');
    assert.match(lines[2]!, /^Packing ebpf object and config into .*package\.json\.\.\.$/);
    assert.equal(lines.length, 3, 'no command lines without verbose');
    // The source itself is untouched.
    assert.equal(readFileSync(join(dir, 'exitsnoop.bpf.c'), 'utf8'), readFileSync(join(SEED, 'exitsnoop.bpf.c'), 'utf8'));
    const { pkg } = checkSeedPackage(dir);
    assert.deepEqual(res.exportTypeIds, [pkg.exportTypeId]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

clangTest('tsbpf build SOURCE HEADER -o DIR -v: ecc progress lines and each command line on stderr', () => {
  const dir = seedDir();
  const out = join(dir, 'out');
  try {
    const r = tsbpf(['build', join(dir, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.h'), '-o', out, '-v']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines[0], 'Compiling bpf object...');
    const cc = lines.find((l) => /^clang /.test(l));
    assert.ok(cc, r.stderr);
    for (const flag of ['-g', '-O2', '-target bpf', '-D__TARGET_ARCH_', `-I${dir}`]) assert.ok(cc.includes(flag), `${flag} in ${cc}`);
    assert.match(cc, / -c \S+\/exitsnoop\.bpf\.c -o \S+\/exitsnoop\.bpf\.o$/);
    assert.ok(lines.some((l) => /^llvm-strip -g \S+\/exitsnoop\.bpf\.o$/.test(l)), r.stderr);
    assert.ok(lines.includes('Generating export types...'), r.stderr);
    assert.match(lines.at(-1)!, /^Packing ebpf object and config into .*out\/package\.json\.\.\.$/);
    assert.deepEqual(readdirSync(out).sort(), ['exitsnoop.bpf.o', 'exitsnoop.skel.json', 'package.json']);
    assert.deepEqual(readdirSync(dir).sort(), ['exitsnoop.bpf.c', 'exitsnoop.h', 'out']);
    checkSeedPackage(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

clangTest("a syntax error: exit status 1, clang's own messages on stderr, nothing written, no temporary file left", () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-buildtest-'));
  try {
    const src = join(dir, 'broken.bpf.c');
    writeFileSync(src, '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\nSEC("tp/sched/sched_process_exit")\nint handle(void *ctx)\n{\n\treturn 0 +;\n}\n');
    writeFileSync(join(dir, 'broken.h'), 'struct event { int x; };\n');
    const r = tsbpf(['build', src, join(dir, 'broken.h')], {});
    assert.equal(r.status, 1, r.stderr);
    // clang names the user's file and line (not the temporary copy), with its caret.
    assert.ok(r.stderr.startsWith(`Compiling bpf object...\n${src}:6:12: error: expected expression\n`), r.stderr);
    assert.match(r.stderr, /broken\.bpf\.c:6:12: error: expected expression\n\s+return 0 \+;\n\s+\^/);
    assert.match(r.stderr, /1 error generated\.\n/);
    assert.match(r.stderr, /^tsbpf: clang failed \(exit 1\)$/m);
    assert.doesNotMatch(r.stderr, /tsbpf-build-|__eunomia_dummy/);
    assert.deepEqual(readdirSync(dir).sort(), ['broken.bpf.c', 'broken.h']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

clangTest('build(): a compile error is a CompileError carrying clang\'s stderr, which also went to compilerOutput', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-buildtest-'));
  try {
    writeFileSync(join(dir, 'x.bpf.c'), 'int f(void) { return undeclared; }\n');
    const seen: string[] = [];
    await assert.rejects(build(join(dir, 'x.bpf.c'), undefined, { compilerOutput: (s) => seen.push(s) }), (e: unknown) => {
      assert.ok(e instanceof CompileError && e instanceof TsbpfError);
      assert.equal(e.message, 'clang failed (exit 1)');
      assert.equal(e.status, 1);
      assert.match(e.stderr, /use of undeclared identifier 'undeclared'/);
      assert.equal(seen.join(''), e.stderr);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

clangTest('--cflags reach clang; no header: no export types; .rodata initial values in data_sections', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-buildtest-'));
  try {
    const src = join(dir, 'level.bpf.c');
    writeFileSync(src, [
      '#include "vmlinux.h"',
      '#include <bpf/bpf_helpers.h>',
      '#ifndef LEVEL',
      '#error LEVEL is not defined',
      '#endif',
      'char LICENSE[] SEC("license") = "GPL";',
      'const volatile int level = LEVEL;',
      'const volatile char tag[8] = TAG;',
      'SEC("tp/sched/sched_process_exec")',
      'int on_exec(void *ctx) { return level + tag[0]; }',
      '',
    ].join('\n'));
    const without = tsbpf(['build', src]);
    assert.equal(without.status, 1);
    assert.match(without.stderr, /error: LEVEL is not defined/);
    const r = tsbpf(['build', src, '--cflags', `-DLEVEL=7 -DTAG='"hi there"'`]);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Generating export types/);
    const pkg = readPackage(readFileSync(join(dir, 'package.json')));
    assert.deepEqual(pkg.exportTypes, []);
    assert.equal(pkg.skel.obj_name, 'level_bpf');
    assert.deepEqual(pkg.skel.data_sections, [
      { name: '.rodata', variables: [{ name: 'level', type: 'int', value: 7 }, { name: 'tag', type: 'char[8]', value: 'hi there' }] },
    ]);
    assert.deepEqual(pkg.skel.maps, [{ name: 'level_bp.rodata', ident: 'rodata', mmaped: true }]);
    assert.ok(existsSync(join(dir, 'level.bpf.o')) && existsSync(join(dir, 'level.skel.json')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

clangTest('the built package loads in the kernel under its obj_name, with the skeleton\'s map names', async () => {
  const dir = seedDir();
  try {
    await build(join(dir, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.h'), { compilerOutput: () => {} });
    const pkg = readPackage(readFileSync(join(dir, 'package.json'), 'utf8'));
    using coll = Collection.load(parseObject(pkg.objectBytes, pkg.name));
    assert.deepEqual([...coll.maps.keys()].sort(), pkg.skel.maps.map((m) => m.name).sort());
    assert.ok(coll.program('handle_exit'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { root: true });

clangTest("build never overwrites a package.json that is not an eunomia package: one line that says -o DIR; its own package it replaces", async () => {
  const dir = seedDir();
  try {
    const npm = JSON.stringify({ name: 'my-app', version: '1.0.0', dependencies: { tsbpf: '*' } }, null, 2) + '\n';
    writeFileSync(join(dir, 'package.json'), npm);
    const r = tsbpf(['build', join(dir, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.h')]);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr,
      `tsbpf: ${join(dir, 'package.json')} exists and is not an eunomia package (no "bpf_object" and "meta"): tsbpf build will not overwrite it; write the package elsewhere with -o DIR\n`,
    );
    assert.equal(readFileSync(join(dir, 'package.json'), 'utf8'), npm, 'the npm package.json is untouched');
    assert.deepEqual(readdirSync(dir).sort(), ['exitsnoop.bpf.c', 'exitsnoop.h', 'package.json'], 'nothing else written');
    // A file that is not JSON at all is the user's too.
    writeFileSync(join(dir, 'package.json'), 'not json');
    assert.equal(tsbpf(['build', join(dir, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.h')]).status, 1);
    assert.equal(readFileSync(join(dir, 'package.json'), 'utf8'), 'not json');

    const out = join(dir, 'out');
    assert.equal(tsbpf(['build', '-o', out, join(dir, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.h')]).status, 0);
    checkSeedPackage(out);
    // Its own eunomia package is rebuilt in place.
    const again = tsbpf(['build', '-o', out, join(dir, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.h')]);
    assert.equal(again.status, 0, again.stderr);
    checkSeedPackage(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

clangTest('tsbpf build builds the shipped exitsnoop tool from its sources, with the vmlinux.h it generates, and the package loads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-buildtool-'));
  try {
    for (const f of ['exitsnoop.bpf.c', 'exitsnoop.h']) copyFileSync(join(ROOT, 'tools', 'exitsnoop', f), join(dir, f));
    const r = tsbpf(['build', join(dir, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.h')]);
    assert.equal(r.status, 0, r.stderr);
    const pkg = readPackage(readFileSync(join(dir, 'package.json'), 'utf8'));
    assert.deepEqual(pkg.exportTypes.map((t) => t.name), ['event']);
    assert.deepEqual(pkg.skel.progs.map((p) => p.name), ['handle_exit']);
    if (isRoot) {
      using coll = Collection.load(parseObject(pkg.objectBytes, 'exitsnoop'));
      assert.ok(coll.program('handle_exit').fd > 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

clangTest('the /// comment above LICENSE documents the package: doc in package.json, shown by tsbpf run -h', async () => {
  const dir = seedDir();
  try {
    const src = join(dir, 'exitsnoop.bpf.c');
    const text = readFileSync(src, 'utf8');
    assert.match(text, /^char LICENSE\[\]/m);
    writeFileSync(src, text.replace(/^char LICENSE\[\]/m, '/// Trace process exits\n/// @version 1.2.0\n/// @details Run as root; Ctrl-C ends it.\nchar LICENSE[]'));
    const r = tsbpf(['build', src, join(dir, 'exitsnoop.h')]);
    assert.equal(r.status, 0, r.stderr);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    assert.deepEqual(pkg.meta.bpf_skel.doc, { description: 'Trace process exits', version: '1.2.0', details: 'Run as root; Ctrl-C ends it.' });
    const help = tsbpf(['run', join(dir, 'package.json'), '-h']);
    assert.equal(help.status, 0, help.stderr);
    const lines = help.stdout.split('\n');
    assert.equal(lines[2], 'Trace process exits (version 1.2.0)');
    assert.equal(lines.at(-2), 'Run as root; Ctrl-C ends it.');
    // ecc's dummy pointers (they keep the header's structs in BTF) are not options.
    assert.doesNotMatch(help.stdout, /__eunomia_dummy/);
    const version = tsbpf(['run', join(dir, 'package.json'), '--version']);
    assert.equal(version.stdout, 'exitsnoop_bpf 1.2.0\n'); // obj_name, as ecc names it
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cache directory that cannot be made (HOME under /proc) is one clear line at once, not an endless mkdir; the old predictable temporary name is not used', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-nohome-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['exits.bpf.c', 'exits.h']) copyFileSync(join(ROOT, 'examples', 'filter', f), join(dir, f));
  const env = { ...process.env, HOME: '/proc/nonexistent', XDG_CACHE_HOME: '', TSBPF_CACHE_DIR: '' };
  delete (env as Record<string, string | undefined>).TSBPF_CACHE_DIR;
  const r = spawnSync(process.execPath, [CLI, 'build', 'exits.bpf.c', 'exits.h'], { cwd: dir, env, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.error, undefined, 'it ends (before, Node\'s recursive mkdir spun forever)');
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, 'tsbpf: cannot create the vmlinux.h cache directory /proc/nonexistent (ENOENT): set TSBPF_CACHE_DIR or XDG_CACHE_HOME to a writable directory\n');
  // A symlink planted at the name tsbpf used to write through (vmlinux.h.tmp-<pid>) is
  // neither followed nor in the way: the temporary name is random now.
  const cache = join(dir, 'cache');
  const target = join(dir, 'victim');
  writeFileSync(target, 'mine\n');
  const h = await vmlinuxHeader({
    cacheDir: cache,
    generate: () => {
      const sub = readdirSync(cache)[0]!;
      symlinkSync(target, join(cache, sub, `vmlinux.h.tmp-${process.pid}`));
      symlinkSync(target, join(cache, sub, `.vmlinux.h.tmp-${process.pid}`));
      return '/* header */\n';
    },
  });
  assert.match(readFileSync(h.path, 'utf8'), /\n\/\* header \*\/\n$/);
  assert.equal(readFileSync(target, 'utf8'), 'mine\n');
});
