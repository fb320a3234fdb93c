/**
 * bpf_printk output: the lines of tracefs's trace_pipe, each also parsed (task, pid, cpu,
 * time, message). trace_pipe blocks on read; a child `cat` does the blocking, so stopping
 * is a kill and no read is left pending in this process. The kernel gives trace_pipe to
 * one reader at a time: a second one fails with EBUSY, which is an error, not the end.
 */
import { join } from 'node:path';
import { parseTraceLine, type TraceLine } from '../decode/index.js';
import { TsbpfError } from '../errors.js';
import { tracefsPath } from '../link/index.js';
import { defaultSys } from '../sys/index.js';

export interface PrintkLine {
  /** The line as the kernel wrote it, without its newline. */
  text: string;
  line: TraceLine;
}

/** Calls `onLine` for each line until `stopped` resolves; rejects when the pipe cannot be read. */
export async function readTracePipe(onLine: (l: PrintkLine) => void, stopped: Promise<void>): Promise<void> {
  const path = join(tracefsPath(defaultSys()), 'trace_pipe');
  const cat = process.getBuiltinModule('node:child_process').spawn('cat', [path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  cat.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let failed: unknown;
  let fail = (_: unknown) => {};
  const lines = process.getBuiltinModule('node:readline').createInterface({ input: cat.stdout, crlfDelay: Infinity });
  lines.on('line', (text) => {
    if (failed) return;
    try {
      onLine({ text, line: parseTraceLine(text) });
    } catch (e) {
      failed = e;
      fail(e);
    }
  });
  let stopping = false;
  const ended = new Promise<void>((resolve, reject) => {
    fail = reject;
    cat.on('error', (e) => reject(new TsbpfError(`cannot read ${path}: ${e.message}`)));
    cat.on('exit', (code) => {
      if (stopping || code === 0) return resolve();
      const why = stderr.trim().split('\n')[0] ?? '';
      reject(
        new TsbpfError(
          /busy/i.test(why)
            ? `${path} is busy (EBUSY): another process reads it (another tsbpf run, cat, bpftool prog tracelog); stop it and run again`
            : `reading ${path} failed: ${why || `cat exited with ${code}`}`,
        ),
      );
    });
  });
  try {
    await Promise.race([stopped, ended]);
  } finally {
    stopping = true;
    cat.kill();
  }
}
