/**
 * Driving the tsbpf CLI from tests: start a long-running command (run, exitsnoop) and
 * wait until it is attached; stop it with SIGINT; run a short one to completion; build
 * one of examples/ in a scratch directory with `tsbpf build`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT } from './paths.js';

export interface Running {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
}

/** Starts `tsbpf ARGS...` and resolves once its stderr matches `ready` (it is attached). */
export async function start(args: string[], ready = /running|trace_pipe/, opts: { cwd?: string; stdin?: string | Buffer } = {}): Promise<Running> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: [opts.stdin !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'], cwd: opts.cwd });
  if (opts.stdin !== undefined) proc.stdin!.end(opts.stdin);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (d) => {
      err += d;
      if (ready.test(err)) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`tsbpf ${args[0]} ended early (${code}): ${err}`)));
  });
  return { proc, out: () => out, err: () => err };
}

/**
 * `stderr` without the notices tsbpf prints when it mounts tracefs or bpffs itself: only the
 * first run on a fresh machine prints them, and test files run side by side.
 */
export function withoutMountNotices(stderr: string): string {
  return stderr.replace(/^tsbpf: \w+ was not mounted: mounted it at \S+\n/gm, '');
}

/** Lets late events arrive, then SIGINT; resolves with the exit code. */
export async function stop(proc: ChildProcess, settleMs = 300): Promise<number | null> {
  await new Promise((r) => setTimeout(r, settleMs));
  if (proc.exitCode !== null) return proc.exitCode;
  proc.kill('SIGINT');
  const [code] = await once(proc, 'exit');
  return code as number | null;
}

/** Runs `tsbpf ARGS...` to completion. */
export function tsbpf(args: string[], opts: { cwd?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: opts.cwd });
}

export interface BuiltExample {
  /** The scratch directory: a copy of examples/NAME, where `tsbpf build` ran (its cwd). */
  dir: string;
  /** NAME.bpf.c and, when the example has one, NAME.h (file names inside `dir`). */
  source: string;
  header?: string;
  /** Absolute paths of what `tsbpf build` wrote. */
  object: string;
  skel: string;
  package: string;
  /** The build's own output (progress lines on stderr). */
  build: SpawnSyncReturns<string>;
}

/**
 * Copies examples/EXAMPLE into a fresh scratch directory and runs `tsbpf build NAME.bpf.c
 * [NAME.h]` there, as a user would; asserts it succeeded and wrote NAME.bpf.o,
 * NAME.skel.json and package.json. The example's source is its one `*.bpf.c` file; its
 * header is the `.h` of the same name, if there is one. With `t`, the scratch directory
 * is removed after the test.
 */
export function buildExample(example: string, t?: { after: (fn: () => void) => void }): BuiltExample {
  // A bare name is examples/NAME; a path (test/progs/...) is taken from the project's root.
  const from = example.includes('/') ? join(ROOT, example) : join(ROOT, 'examples', example);
  const sources = readdirSync(from).filter((f) => f.endsWith('.bpf.c'));
  assert.equal(sources.length, 1, `examples/${example} should hold exactly one *.bpf.c file, not ${JSON.stringify(sources)}`);
  const source = sources[0]!;
  const base = source.slice(0, -'.bpf.c'.length);
  const header = existsSync(join(from, `${base}.h`)) ? `${base}.h` : undefined;
  const dir = mkdtempSync(join(tmpdir(), `tsbpf-example-${example.replace(/\//g, '_')}-`));
  t?.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(from, dir, { recursive: true });
  const build = tsbpf(['build', source, ...(header ? [header] : [])], { cwd: dir });
  assert.equal(build.status, 0, `tsbpf build ${source} failed in ${dir}:\n${build.stderr}`);
  const built = { object: join(dir, `${base}.bpf.o`), skel: join(dir, `${base}.skel.json`), package: join(dir, 'package.json') };
  for (const f of Object.values(built)) assert.ok(existsSync(f), `tsbpf build did not write ${f}`);
  return { dir, source, header, ...built, build };
}

/** One JSON object per non-empty line (the output of `tsbpf run -j`). */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}
