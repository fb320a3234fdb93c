import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ROOT } from './paths.js';

/**
 * Compiles BPF C the way ecc does (clang -g -O2 -target bpf, then llvm-strip -g) with the
 * project's minimal vmlinux.h, into a fresh temporary directory. Tests that call this
 * need clang: bash scripts/setup.sh --compiler installs it.
 */
export function compileBpf(source: string, opts: { keepStructs?: string[] } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-cc-'));
  const out = join(dir, basename(source).replace(/\.c$/, '.o'));
  if (opts.keepStructs?.length) {
    // As ecc does: a dummy global per struct puts the event types into BTF.
    for (const f of readdirSync(dirname(source))) if (f.endsWith('.h')) copyFileSync(join(dirname(source), f), join(dir, f));
    const copy = join(dir, basename(source));
    const dummies = opts.keepStructs.map((n) => `const volatile struct ${n} *__eunomia_dummy_${n}_ptr __attribute__((unused));\n`);
    writeFileSync(copy, readFileSync(source, 'utf8') + '\n' + dummies.join(''));
    source = copy;
  }
  const cc = spawnSync('clang', [
    '-g', '-O2', '-target', 'bpf', '-D__TARGET_ARCH_x86', `-I${join(ROOT, 'bpf', 'include')}`, '-c', source, '-o', out,
  ], { encoding: 'utf8' });
  if (cc.error) throw new Error(`clang is needed for this test (bash scripts/setup.sh --compiler): ${cc.error.message}`);
  assert.equal(cc.status, 0, cc.stderr);
  assert.equal(spawnSync('llvm-strip', ['-g', out]).status, 0);
  return out;
}

/**
 * Compiles a user-space C program (test/progs/NAME.c) into a fresh temporary directory as
 * `out` (its comm), with cc when the machine has one, else clang (setup.sh --compiler
 * installs it with libc6-dev).
 */
export function compileC(source: string, out: string, flags: string[] = []): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tsbpf-c-')), out);
  const args = ['-O1', ...flags, '-o', path, source];
  let r = spawnSync(process.env.CC ?? 'cc', args, { encoding: 'utf8' });
  if (r.error && !process.env.CC) r = spawnSync('clang', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`a C compiler (cc or clang) is needed for this test: ${r.error.message}`);
  assert.equal(r.status, 0, r.stderr);
  return path;
}
