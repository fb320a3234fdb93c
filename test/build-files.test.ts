/**
 * Safe files for `tsbpf build` (issue 14, part 4), with real files and real uids: the
 * vmlinux.h cache is refused when another user owns, or others can write, any level of it
 * or the header; symbolic links at the header's or a temporary file's name are refused,
 * their targets untouched; a planted header is never compiled against; build's outputs are
 * never written through a link; an unwritable output directory or HOME is one line.
 * Tests that chown or switch uids need root (a skip outside CI, a failure under CI=true).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync,
  symlinkSync, writeFileSync,
} from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { tempName, writeTemp } from '../src/files.js';
import { headerLine, isHeaderFor, vmlinuxHeader } from '../src/build/vmlinux.js';
import { TsbpfError } from '../src/errors.js';
import { isRoot, UNPRIVILEGED } from './kernel.js';
import { CLI, ROOT } from './paths.js';

const inCI = process.env.CI === 'true';
const NOBODY = 65534;
const sha256 = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');
const hasTools =
  spawnSync(process.env.CLANG || 'clang', ['--version']).status === 0 &&
  spawnSync(process.env.LLVM_STRIP || 'llvm-strip', ['--version']).status === 0;

function skipUnless(ok: boolean, why: string, name: string, fn: (t: TestContext) => void | Promise<void>): void {
  if (ok) test(name, fn);
  else if (inCI) test(name, () => { throw new Error(`${why}, and CI=true forbids skipping`); });
  else test(name, { skip: why }, () => {});
}
const rootTest = (name: string, fn: (t: TestContext) => void | Promise<void>) => skipUnless(isRoot, 'needs root (chown, setpriv)', name, fn);
const clangTest = (name: string, fn: (t: TestContext) => void | Promise<void>) =>
  skipUnless(hasTools, 'needs clang and llvm-strip', name, fn);

function tmp(t: TestContext, prefix = 'tsbpf-files-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fake kernel BTF (BTF_FILE_PATH) for the generator-level tests: no dump, no clang. */
function fakeBtf(t: TestContext, dir: string, text = 'kernel one'): { key: string; hash: string } {
  const file = join(dir, 'fake-btf');
  writeFileSync(file, text);
  const saved = process.env.BTF_FILE_PATH;
  process.env.BTF_FILE_PATH = file;
  t.after(() => {
    if (saved === undefined) delete process.env.BTF_FILE_PATH;
    else process.env.BTF_FILE_PATH = saved;
  });
  const hash = sha256(text);
  return { key: `${release().replace(/[^A-Za-z0-9._-]/g, '_')}-${hash.slice(0, 16)}`, hash };
}

/** A generator that counts its calls and returns `text`. */
function counting(text = '/* generated */\n') {
  const g = Object.assign(() => {
    g.calls++;
    return text;
  }, { calls: 0 });
  return g;
}

const mode = (p: string) => lstatSync(p).mode & 0o7777;

async function refused(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TsbpfError, String(e));
    assert.equal(e.message, message);
    return true;
  });
}

const UNSAFE_HINT = 'set TSBPF_CACHE_DIR to a directory only you can write';

test('the cache is made 0700 level by level, owned by the user, the header 0644 with the BTF and text hashes on its first line', async (t) => {
  const dir = tmp(t);
  const { key, hash } = fakeBtf(t, dir);
  const cache = join(dir, 'home', '.cache', 'tsbpf');
  const g = counting();
  const h = await vmlinuxHeader({ cacheDir: cache, generate: g });
  assert.equal(h.path, join(cache, key, 'vmlinux.h'));
  const uid = process.geteuid!();
  for (const level of [join(dir, 'home'), join(dir, 'home', '.cache'), cache, h.dir]) {
    assert.equal(mode(level), 0o700, level);
    assert.equal(lstatSync(level).uid, uid, level);
  }
  assert.equal(mode(h.path), 0o644 & ~process.umask());
  const bytes = readFileSync(h.path);
  assert.equal(bytes.toString(), headerLine(hash, sha256('/* generated */\n')) + '/* generated */\n');
  assert.ok(isHeaderFor(bytes, hash));
  assert.ok(!isHeaderFor(bytes, sha256('kernel two')));
  await vmlinuxHeader({ cacheDir: cache, generate: g });
  assert.equal(g.calls, 1, 'a verified header is used again');
  assert.deepEqual(readdirSync(h.dir), ['vmlinux.h'], 'no temporary file left');
});

rootTest('a cache another user owns, at any level (sudo -E: root with a user\'s HOME), is refused with one line; nothing is made or read', async (t) => {
  const dir = tmp(t);
  const { key } = fakeBtf(t, dir);
  const home = join(dir, 'alice');
  mkdirSync(home, { mode: 0o755 });
  chownSync(home, NOBODY, NOBODY);
  const g = counting();
  // The user's HOME, above the cache: the user can rename .cache away and put their own.
  await refused(
    vmlinuxHeader({ cacheDir: join(home, '.cache', 'tsbpf'), generate: g }),
    `the vmlinux.h cache directory ${join(home, '.cache', 'tsbpf')} is not safe to use: ${home} is owned by uid ${NOBODY}, not by you (uid 0): ${UNSAFE_HINT}`,
  );
  assert.deepEqual(readdirSync(home), [], 'nothing made in it');
  // The cache directory itself.
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o700 });
  chownSync(cache, NOBODY, NOBODY);
  await refused(vmlinuxHeader({ cacheDir: cache, generate: g }), `the vmlinux.h cache directory ${cache} is not safe to use: ${cache} is owned by uid ${NOBODY}, not by you (uid 0): ${UNSAFE_HINT}`);
  // The per-kernel level below it.
  chownSync(cache, 0, 0);
  mkdirSync(join(cache, key), { mode: 0o700 });
  chownSync(join(cache, key), NOBODY, NOBODY);
  await refused(
    vmlinuxHeader({ cacheDir: cache, generate: g }),
    `the vmlinux.h cache directory ${join(cache, key)} is not safe to use: ${join(cache, key)} is owned by uid ${NOBODY}, not by you (uid 0): ${UNSAFE_HINT}`,
  );
  // The header: even one with the right hashes (anyone can compute them) is not used.
  chownSync(join(cache, key), 0, 0);
  const header = join(cache, key, 'vmlinux.h');
  const planted = headerLine(sha256('kernel one'), sha256('#error planted\n')) + '#error planted\n';
  writeFileSync(header, planted);
  chownSync(header, NOBODY, NOBODY);
  await refused(
    vmlinuxHeader({ cacheDir: cache, generate: g }),
    `the cached ${header} is owned by uid ${NOBODY}, not by you (uid 0): refusing to use it; remove it, or ${UNSAFE_HINT}`,
  );
  assert.equal(readFileSync(header, 'utf8'), planted, 'left as it was');
  assert.equal(g.calls, 0);
  // A link to a trusted directory, in a directory another user owns: refused before it is followed.
  const good = join(dir, 'good');
  mkdirSync(good, { mode: 0o700 });
  symlinkSync(good, join(home, 'cache'));
  await refused(
    vmlinuxHeader({ cacheDir: join(home, 'cache'), generate: g }),
    `the vmlinux.h cache directory ${join(home, 'cache')} is not safe to use: ${home} is owned by uid ${NOBODY}, not by you (uid 0): ${UNSAFE_HINT}`,
  );
  assert.deepEqual(readdirSync(good), []);
  // The same link in a directory of root's is followed.
  symlinkSync(good, join(dir, 'link'));
  const h = await vmlinuxHeader({ cacheDir: join(dir, 'link'), generate: g });
  assert.equal(h.path, join(good, key, 'vmlinux.h'));
  assert.equal(g.calls, 1);
});

test('a cache level or header writable by its group or others is refused; a sticky world-writable directory above the cache is not', async (t) => {
  const dir = tmp(t);
  const { key } = fakeBtf(t, dir);
  const g = counting();
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o700 });
  for (const [m, who] of [[0o770, 'its group'], [0o707, 'others'], [0o777, 'its group and others'], [0o1777, 'its group and others']] as const) {
    chmodSync(cache, m);
    await refused(
      vmlinuxHeader({ cacheDir: cache, generate: g }),
      `the vmlinux.h cache directory ${cache} is not safe to use: ${cache} is writable by ${who} (mode ${m.toString(8).padStart(4, '0')}): ${UNSAFE_HINT}`,
    );
  }
  chmodSync(cache, 0o700);
  mkdirSync(join(cache, key), { mode: 0o700 });
  chmodSync(join(cache, key), 0o775);
  await refused(
    vmlinuxHeader({ cacheDir: cache, generate: g }),
    `the vmlinux.h cache directory ${join(cache, key)} is not safe to use: ${join(cache, key)} is writable by its group (mode 0775): ${UNSAFE_HINT}`,
  );
  chmodSync(join(cache, key), 0o700);
  const header = join(cache, key, 'vmlinux.h');
  writeFileSync(header, '/* old */\n');
  chmodSync(header, 0o666);
  await refused(
    vmlinuxHeader({ cacheDir: cache, generate: g }),
    `the cached ${header} is writable by its group and others (mode 0666): refusing to use it; remove it, or ${UNSAFE_HINT}`,
  );
  assert.equal(g.calls, 0);
  // Above the cache, a sticky world-writable directory (as /tmp, itself above all of these)
  // is fine: nobody else can rename or remove the entries made in it.
  const shared = join(dir, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const h = await vmlinuxHeader({ cacheDir: join(shared, 'mine'), generate: g });
  assert.equal(g.calls, 1);
  assert.equal(mode(join(shared, 'mine')), 0o700);
  assert.ok(existsSync(h.path));
  // Without the sticky bit it is not.
  chmodSync(shared, 0o777);
  await refused(
    vmlinuxHeader({ cacheDir: join(shared, 'mine'), generate: g }),
    `the vmlinux.h cache directory ${join(shared, 'mine')} is not safe to use: ${shared} is writable by its group and others (mode 0777): ${UNSAFE_HINT}`,
  );
});

test('a symbolic link at vmlinux.h or at a temporary name is refused, never followed: its target keeps its bytes', async (t) => {
  const dir = tmp(t);
  const { key } = fakeBtf(t, dir);
  const g = counting();
  const cache = join(dir, 'cache');
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'mine\n');
  mkdirSync(join(cache, key), { recursive: true, mode: 0o700 });
  const header = join(cache, key, 'vmlinux.h');
  symlinkSync(victim, header);
  await refused(vmlinuxHeader({ cacheDir: cache, generate: g }), `the cached ${header} is a symbolic link: refusing to use it; remove it, or ${UNSAFE_HINT}`);
  assert.equal(readFileSync(victim, 'utf8'), 'mine\n');
  assert.ok(lstatSync(header).isSymbolicLink(), 'the link is left for the user to see');
  // Planted while the header is generated: refused before the rename, the link stays.
  rmSync(header);
  await refused(
    vmlinuxHeader({ cacheDir: cache, generate: () => (symlinkSync(victim, header), '/* x */\n') }),
    `the cached ${header} is a symbolic link: refusing to use it; remove it, or ${UNSAFE_HINT}`,
  );
  assert.equal(readFileSync(victim, 'utf8'), 'mine\n');
  assert.deepEqual(readdirSync(join(cache, key)), ['vmlinux.h'], 'the temporary file is removed');
  // The temporary name is random; whatever is at one (here, a link put at the very name
  // drawn) is an error, not followed or truncated. A dangling link's target is not made.
  const name = tempName('vmlinux.h');
  assert.match(name, /^\.vmlinux\.h\.tmp-[0-9a-f]{16}$/);
  assert.notEqual(tempName('vmlinux.h'), name);
  symlinkSync(victim, join(dir, name));
  assert.throws(() => writeTemp(dir, name, Buffer.from('evil\n'), 0o644), (e: NodeJS.ErrnoException) => e.code === 'EEXIST');
  assert.equal(readFileSync(victim, 'utf8'), 'mine\n');
  symlinkSync(join(dir, 'made'), join(dir, 'dangling'));
  assert.throws(() => writeTemp(dir, 'dangling', Buffer.from('evil\n'), 0o644), (e: NodeJS.ErrnoException) => e.code === 'EEXIST');
  assert.ok(!existsSync(join(dir, 'made')));
});

test('a header that is stale, planted or edited (wrong BTF hash, no hash line, text not matching its hash) is regenerated, never used', async (t) => {
  const dir = tmp(t);
  const { key, hash } = fakeBtf(t, dir);
  const cache = join(dir, 'cache');
  mkdirSync(join(cache, key), { recursive: true, mode: 0o700 });
  const header = join(cache, key, 'vmlinux.h');
  const good = '/* the real one */\n';
  const plants = [
    '#error planted, no hash line\n',
    headerLine(sha256('another kernel'), sha256('#error planted\n')) + '#error planted\n',
    headerLine(hash, sha256(good)) + good + '#error appended\n',
    headerLine(hash, sha256(good)).slice(0, -1), // no newline at all
  ];
  for (const plant of plants) {
    writeFileSync(header, plant);
    const g = counting(good);
    const h = await vmlinuxHeader({ cacheDir: cache, generate: g });
    assert.equal(g.calls, 1, plant);
    assert.equal(readFileSync(h.path, 'utf8'), headerLine(hash, sha256(good)) + good);
  }
});

// The real thing: the kernel's BTF dumped into a private cache, clang compiling against it.
clangTest('a planted header that would break the build is not compiled against: the build equals a clean one', async (t) => {
  const dir = tmp(t);
  for (const f of ['exits.bpf.c', 'exits.h']) copyFileSync(join(ROOT, 'examples', 'filter', f), join(dir, f));
  const env: NodeJS.ProcessEnv = { ...process.env, TSBPF_CACHE_DIR: join(dir, 'cache') };
  delete env.BTF_FILE_PATH;
  const run = (out: string) => spawnSync(process.execPath, [CLI, 'build', 'exits.bpf.c', 'exits.h', '-o', out], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
  const clean = run('clean');
  assert.equal(clean.status, 0, clean.stderr);
  const [key] = readdirSync(join(dir, 'cache'));
  const header = join(dir, 'cache', key!, 'vmlinux.h');
  const real = readFileSync(header);
  const btfHash = sha256(readFileSync('/sys/kernel/btf/vmlinux'));
  assert.ok(isHeaderFor(real, btfHash));
  // With and without a believable first line: both would stop clang if it were used.
  for (const [i, plant] of [`#error planted\n${real}`, headerLine(btfHash, sha256(real.subarray(real.indexOf(10) + 1))) + '#error planted\n'].entries()) {
    writeFileSync(header, plant);
    const r = run(`after-${i}`);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /planted/);
    for (const f of ['exits.bpf.o', 'package.json', 'exits.skel.json']) {
      assert.deepEqual(readFileSync(join(dir, `after-${i}`, f)), readFileSync(join(dir, 'clean', f)), f);
    }
    assert.deepEqual(readFileSync(header), real, 'regenerated');
  }
});

/** tsbpf build in `dir` with a clang that does not exist: anything refused is refused before compiling. */
function buildNoClang(dir: string, extra: string[] = []) {
  return spawnSync(process.execPath, [CLI, 'build', 'exits.bpf.c', 'exits.h', ...extra], {
    cwd: dir,
    env: { ...process.env, CLANG: '/nonexistent/clang' },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

function filterExample(t: TestContext): string {
  const dir = tmp(t);
  for (const f of ['exits.bpf.c', 'exits.h']) copyFileSync(join(ROOT, 'examples', 'filter', f), join(dir, f));
  return dir;
}

test('build outputs: a symbolic link (even a dangling one), a FIFO or a file of the user\'s at an output name is refused before compiling, and left alone', (t) => {
  const dir = filterExample(t);
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'mine\n');
  const before = readdirSync(dir).sort();
  for (const name of ['exits.bpf.o', 'exits.skel.json', 'package.json']) {
    symlinkSync(victim, join(dir, name));
    let r = buildNoClang(dir);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, `tsbpf: ${name} is a symbolic link: tsbpf build neither writes through nor replaces one; remove it, or build elsewhere with -o DIR\n`);
    assert.equal(readFileSync(victim, 'utf8'), 'mine\n');
    rmSync(join(dir, name));
    symlinkSync(join(dir, 'made-by-build'), join(dir, name));
    r = buildNoClang(dir);
    assert.equal(r.status, 1, r.stderr);
    assert.ok(!existsSync(join(dir, 'made-by-build')));
    rmSync(join(dir, name));
  }
  spawnSync('mkfifo', [join(dir, 'package.json')]);
  let r = buildNoClang(dir);
  assert.equal(r.error, undefined, 'no hang on the FIFO');
  assert.equal(r.stderr, 'tsbpf: package.json exists and is not a regular file: tsbpf build will not replace it; build elsewhere with -o DIR\n');
  rmSync(join(dir, 'package.json'));
  // Files of the user's at the names (build used to overwrite these two silently).
  writeFileSync(join(dir, 'exits.bpf.o'), 'my notes\n');
  r = buildNoClang(dir);
  assert.equal(r.stderr, 'tsbpf: exits.bpf.o exists and is not a BPF object: tsbpf build will not overwrite it; build elsewhere with -o DIR\n');
  rmSync(join(dir, 'exits.bpf.o'));
  writeFileSync(join(dir, 'exits.skel.json'), '{"mine": true}\n');
  r = buildNoClang(dir);
  assert.equal(r.stderr, 'tsbpf: exits.skel.json exists and is not an eunomia skeleton (no "bpf_skel"): tsbpf build will not overwrite it; build elsewhere with -o DIR\n');
  rmSync(join(dir, 'exits.skel.json'));
  writeFileSync(join(dir, 'exits.ts'), 'export const mine = 1;\n');
  r = buildNoClang(dir, ['--ts']);
  assert.equal(r.stderr, 'tsbpf: exits.ts exists and was not written by tsbpf gen: tsbpf build will not overwrite it; build elsewhere with -o DIR\n');
  rmSync(join(dir, 'exits.ts'));
  assert.deepEqual(readdirSync(dir).sort(), before);
  // With nothing in the way, the run gets as far as the compiler.
  r = buildNoClang(dir);
  assert.match(r.stderr, /\/nonexistent\/clang not found/);
});

clangTest('a symbolic link planted at an output name while clang runs is refused, not written through; no temporary file is left', (t) => {
  const dir = filterExample(t);
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'mine\n');
  // A clang that plants the link and then compiles.
  const clang = join(dir, 'clang');
  writeFileSync(clang, `#!/bin/sh\nln -s ${victim} ${join(dir, 'out', 'package.json')}\nexec ${process.env.CLANG || 'clang'} "$@"\n`, { mode: 0o755 });
  mkdirSync(join(dir, 'out'));
  const r = spawnSync(process.execPath, [CLI, 'build', 'exits.bpf.c', 'exits.h', '-o', 'out'], { cwd: dir, env: { ...process.env, CLANG: clang }, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^tsbpf: out\/package\.json is a symbolic link: tsbpf build neither writes through nor replaces one; remove it, or build elsewhere with -o DIR\n$/m);
  assert.equal(readFileSync(victim, 'utf8'), 'mine\n');
  assert.deepEqual(readdirSync(join(dir, 'out')), ['package.json'], 'nothing else written, no temporary file');
});

clangTest('build outputs are new files renamed into place: a hard link to an earlier output (another name for it) keeps its bytes', (t) => {
  const dir = filterExample(t);
  const ok = spawnSync(process.execPath, [CLI, 'build', 'exits.bpf.c', 'exits.h'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(ok.status, 0, ok.stderr);
  const keep = readFileSync(join(dir, 'package.json'));
  process.getBuiltinModule('node:fs').linkSync(join(dir, 'package.json'), join(dir, 'kept.json'));
  writeFileSync(join(dir, 'exits.bpf.c'), readFileSync(join(dir, 'exits.bpf.c'), 'utf8') + '\nint __added_global = 1;\n');
  const again = spawnSync(process.execPath, [CLI, 'build', 'exits.bpf.c', 'exits.h'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(again.status, 0, again.stderr);
  assert.notDeepEqual(readFileSync(join(dir, 'package.json')), keep, 'rebuilt');
  assert.deepEqual(readFileSync(join(dir, 'kept.json')), keep, 'not written through the old inode');
  assert.equal(statSync(join(dir, 'package.json')).nlink, 1);
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.')), [], 'no temporary file left');
});

/** Runs tsbpf as uid 65534 (able to read the checkout, nothing more). */
function asNobody(args: string[], opts: { cwd: string; env: Record<string, string | undefined> }) {
  return spawnSync(UNPRIVILEGED[0]!, [...UNPRIVILEGED.slice(1), process.execPath, CLI, ...args], { cwd: opts.cwd, env: opts.env as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 60_000 });
}

function oneLine(r: { status: number | null; stderr: string }, line: string): void {
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, `tsbpf: ${line}\n`);
}

rootTest('an output directory or HOME the user cannot write: one line naming it and what to do, exit 1, no stack trace', (t) => {
  const dir = filterExample(t);
  chmodSync(dir, 0o755); // root's: nobody can read the sources, not write beside them
  const mine = join(dir, 'mine');
  mkdirSync(mine);
  chownSync(mine, NOBODY, NOBODY);
  const base: Record<string, string | undefined> = { ...process.env, TSBPF_CACHE_DIR: undefined, XDG_CACHE_HOME: undefined, HOME: join(mine, 'home') };
  delete base.TSBPF_CACHE_DIR;
  delete base.XDG_CACHE_HOME;
  // In the source's directory (the default), before any compiling.
  oneLine(asNobody(['build', 'exits.bpf.c', 'exits.h'], { cwd: dir, env: base }), `cannot write into ${dir} (EACCES): build elsewhere with -o DIR (a directory you can write)`);
  // -o naming a directory that would be made under one of root's.
  oneLine(asNobody(['build', 'exits.bpf.c', 'exits.h', '-o', join(dir, 'a', 'b')], { cwd: dir, env: base }), `cannot write into ${dir} (EACCES): build elsewhere with -o DIR (a directory you can write)`);
  // A HOME that exists and is root's: the cache cannot be made in it.
  oneLine(
    asNobody(['build', 'exits.bpf.c', 'exits.h', '-o', join(mine, 'out')], { cwd: dir, env: { ...base, HOME: dir } }),
    `cannot create the vmlinux.h cache directory ${join(dir, '.cache')} (EACCES): set TSBPF_CACHE_DIR or XDG_CACHE_HOME to a writable directory`,
  );
  // No HOME at all: uid 65534's home from the password database, /nonexistent.
  const noHome = { ...base };
  delete noHome.HOME;
  const r = asNobody(['build', 'exits.bpf.c', 'exits.h', '-o', join(mine, 'out')], { cwd: dir, env: noHome });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^tsbpf: cannot create the vmlinux\.h cache directory \S+ \(EACCES\): set TSBPF_CACHE_DIR or XDG_CACHE_HOME to a writable directory\n$/);
  assert.deepEqual(readdirSync(dir).sort(), ['exits.bpf.c', 'exits.h', 'mine']);
  assert.deepEqual(readdirSync(mine), [], 'no output directory made before the failure');
});

rootTest('a stale header in a cache of the user\'s that root wrote is refused, not replaced; TMPDIR unwritable is one line', (t) => {
  const dir = filterExample(t);
  chmodSync(dir, 0o755);
  const mine = join(dir, 'mine');
  mkdirSync(mine);
  chownSync(mine, NOBODY, NOBODY);
  const btfHash = sha256(readFileSync('/sys/kernel/btf/vmlinux'));
  const key = `${release().replace(/[^A-Za-z0-9._-]/g, '_')}-${btfHash.slice(0, 16)}`;
  mkdirSync(join(mine, 'cache', key), { recursive: true, mode: 0o700 });
  chownSync(join(mine, 'cache'), NOBODY, NOBODY);
  chownSync(join(mine, 'cache', key), NOBODY, NOBODY);
  const header = join(mine, 'cache', key, 'vmlinux.h');
  writeFileSync(header, '/* old, no hash line */\n');
  const env = { ...process.env, TSBPF_CACHE_DIR: join(mine, 'cache') };
  oneLine(
    asNobody(['build', 'exits.bpf.c', 'exits.h', '-o', join(mine, 'out')], { cwd: dir, env }),
    `the cached ${header} was not generated from this kernel's BTF (sha256 ${btfHash}) and belongs to root, not to you: refusing to use it; remove it, or ${UNSAFE_HINT}`,
  );
  assert.equal(readFileSync(header, 'utf8'), '/* old, no hash line */\n');
  // The intermediate files go in a new private directory under TMPDIR.
  chownSync(header, NOBODY, NOBODY);
  const r = asNobody(['build', 'exits.bpf.c', 'exits.h', '-o', join(mine, 'out')], { cwd: dir, env: { ...env, TMPDIR: dir } });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, `Compiling bpf object...\ntsbpf: cannot create a temporary directory in ${dir} (EACCES): set TMPDIR to a writable directory\n`);
  assert.ok(isHeaderFor(readFileSync(header), btfHash), 'the header of the user\'s own was regenerated');
});
