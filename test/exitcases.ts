/**
 * The exitsnoop test program (test/progs/exitcases.c), compiled once per test process
 * into a temporary directory. Its name, tsbpf-exitcases, is 15 characters: the whole of
 * it is the comm, so `-c tsbpf-exitcases` selects exactly its processes.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compileC } from './compile.js';
import { ROOT } from './paths.js';

export const EXITCASES_COMM = 'tsbpf-exitcases';
let built: string | undefined;

/** Path of the compiled program. */
export function exitcases(): string {
  built ??= compileC(join(ROOT, 'test', 'progs', 'exitcases.c'), EXITCASES_COMM, ['-pthread']);
  return built;
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
