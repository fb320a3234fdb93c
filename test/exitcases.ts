/**
 * The exitsnoop test program (test/progs/exitcases.c), compiled once per test process
 * into a temporary directory. Its name, tsbpf-exitcases, is 15 characters: the whole of
 * it is the comm, so `-c tsbpf-exitcases` selects exactly its processes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './paths.js';

export const EXITCASES_COMM = 'tsbpf-exitcases';
let built: string | undefined;

/** Path of the compiled program. */
export function exitcases(): string {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-exitcases-'));
  const out = join(dir, EXITCASES_COMM);
  const args = ['-O1', '-pthread', '-o', out, join(ROOT, 'test', 'progs', 'exitcases.c')];
  // cc when the machine has one; else clang, which setup.sh --compiler installs (with libc6-dev).
  let r = spawnSync(process.env.CC ?? 'cc', args, { encoding: 'utf8' });
  if (r.error && !process.env.CC) r = spawnSync('clang', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`a C compiler (cc or clang) is needed for this test: ${r.error.message}`);
  assert.equal(r.status, 0, r.stderr);
  built = out;
  return out;
}

/**
 * The same program under another name (so another comm): test files run in parallel, and
 * a test that counts every exit of a comm needs one no other test uses.
 */
export function exitcasesNamed(comm: string): string {
  assert.ok(comm.length <= 15, 'a comm has at most 15 characters');
  const path = join(dirname(exitcases()), comm);
  if (!existsSync(path)) copyFileSync(exitcases(), path);
  return path;
}
