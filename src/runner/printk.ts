/**
 * bpf_printk output: the lines of tracefs's trace_pipe, each also parsed (task, pid, cpu,
 * time, message). The pipe is read in this process, non-blocking, when the event loop says
 * it is readable (the fd watch the ring readers use): no child process and no blocked
 * thread, so nothing outlives tsbpf however it ends (SIGKILL and crashes included). The
 * kernel gives trace_pipe to one reader at a time: a second open fails with EBUSY, which is
 * an error, not the end.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
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

/**
 * Calls `onLine` for each line until `stopped` resolves; rejects when the pipe cannot be read.
 * `opened` runs once the pipe is ours, so "printing" is never said before it is true.
 */
export async function readTracePipe(onLine: (l: PrintkLine) => void, stopped: Promise<void>, opened: () => void = () => {}): Promise<void> {
  const sys = defaultSys();
  const path = join(tracefsPath(sys), 'trace_pipe');
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TsbpfError(
      code === 'EBUSY'
        ? `${path} is busy (EBUSY): another process reads it (another tsbpf run, cat, bpftool prog tracelog); stop it and run again`
        : `cannot read ${path}: ${code ?? (e as Error).message}`,
    );
  }
  const buf = Buffer.alloc(64 * 1024);
  let partial = '';
  let fail = (_: unknown) => {};
  const ended = new Promise<void>((_, reject) => (fail = reject));
  const drain = () => {
    try {
      for (;;) {
        let n: number;
        try {
          n = readSync(fd, buf, 0, buf.length, null);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return;
          throw new TsbpfError(`reading ${path} failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        if (n === 0) return;
        const text = partial + buf.toString('utf8', 0, n);
        const lines = text.split('\n');
        partial = lines.pop()!;
        for (const line of lines) onLine({ text: line, line: parseTraceLine(line) });
      }
    } catch (e) {
      watch.close();
      fail(e);
    }
  };
  const watch = sys.watchReadable(fd, drain);
  try {
    opened();
    drain();
    await Promise.race([stopped, ended]);
  } finally {
    watch.close();
    closeSync(fd);
  }
}
