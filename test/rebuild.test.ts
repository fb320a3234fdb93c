/**
 * The committed BPF objects (testdata/*.bpf.o, tools/*\/*.bpf.o) must be exactly what
 * their sources compile to (cilium/ebpf's bpf2go convention): rebuild them with
 * scripts/build-bpf.mjs into a temporary directory and compare the bytes.
 *
 * Needs clang and llvm-strip (Debian: apt-get install clang llvm libbpf-dev). Without them
 * the test skips, except under CI=true, where it fails: CI must check the objects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: compiled to dist/test/, two levels below it (searched upwards to
 * also work when the .ts file is run directly). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'scripts', 'build-bpf.mjs'))) return dir;
    dir = dirname(dir);
  }
  return fileURLToPath(new URL('../../', import.meta.url));
}

const ROOT = findRoot();
const SCRIPT = join(ROOT, 'scripts', 'build-bpf.mjs');
const CLANG = process.env.CLANG || 'clang';
const LLVM_STRIP = process.env.LLVM_STRIP || 'llvm-strip';
const inCI = process.env.CI === 'true';

function version(cmd: string): string | null {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return r.stdout.split('\n').find((l) => l.trim()) ?? '';
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** Paths relative to ROOT of the BPF sources the build script compiles. */
function sources(): string[] {
  const out: string[] = [];
  for (const f of listDir(join(ROOT, 'testdata'))) if (f.endsWith('.bpf.c')) out.push(`testdata/${f}`);
  for (const f of listDir(join(ROOT, 'testdata', 'corpus'))) if (f.endsWith('.bpf.c')) out.push(`testdata/corpus/${f}`);
  for (const d of listDir(join(ROOT, 'tools'))) {
    if (!statSync(join(ROOT, 'tools', d)).isDirectory()) continue;
    for (const f of listDir(join(ROOT, 'tools', d))) if (f.endsWith('.bpf.c')) out.push(`tools/${d}/${f}`);
  }
  return out;
}

const clangVersion = version(CLANG);
const haveTools = clangVersion !== null && version(LLVM_STRIP) !== null;
const missing = `${clangVersion === null ? CLANG : LLVM_STRIP} not found (apt-get install clang llvm libbpf-dev)`;
const NAME = 'committed BPF objects rebuild to the same bytes';

if (!haveTools && !inCI) {
  test(NAME, { skip: `${missing}: cannot rebuild the BPF objects` }, () => {});
} else {
  test(NAME, async (t) => {
    if (!haveTools) {
      assert.fail(`${missing}, and CI=true forbids skipping the BPF rebuild check`);
    }
    const srcs = sources();
    assert.ok(srcs.some((s) => s.startsWith('testdata/')), `no testdata/*.bpf.c under ${ROOT}`);

    const out = mkdtempSync(join(tmpdir(), 'tsbpf-rebuild-'));
    try {
      const r = spawnSync(process.execPath, [SCRIPT, '--quiet', '--out-dir', out], { encoding: 'utf8' });
      assert.equal(r.status, 0, `build-bpf.mjs --out-dir failed:\n${r.stdout}${r.stderr}`);

      for (const src of srcs) {
        const obj = src.replace(/\.c$/, '.o');
        await t.test(obj, () => {
          const committed = join(ROOT, obj);
          const rebuilt = join(out, obj);
          assert.ok(existsSync(committed), `${obj} is not committed: run node scripts/build-bpf.mjs and commit it`);
          assert.ok(existsSync(rebuilt), `build-bpf.mjs did not produce ${obj}`);
          const same = readFileSync(committed).equals(readFileSync(rebuilt));
          assert.ok(
            same,
            `${obj} differs from a rebuild of ${src} with ${clangVersion}: run node scripts/build-bpf.mjs ` +
              'and commit the objects (they were built with Debian clang 14.0.6; other compilers give other bytes)',
          );
        });
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}
