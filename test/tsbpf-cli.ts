/**
 * Driving the tsbpf CLI from tests: start a long-running command (run, exitsnoop) and
 * wait until it is attached; stop it with SIGINT; run a short one to completion.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { once } from 'node:events';
import { CLI } from './paths.js';

export interface Running {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
}

/** Starts `tsbpf ARGS...` and resolves once its stderr matches `ready` (it is attached). */
export async function start(args: string[], ready = /running|trace_pipe/, opts: { cwd?: string } = {}): Promise<Running> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
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
