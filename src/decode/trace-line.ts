/**
 * A line of tracefs's trace_pipe, as the kernel's default trace output writes it
 * ("  TASK-PID  [CPU] FLAGS  SECONDS: EVENT: MESSAGE"; FLAGS is absent when the irq-info
 * option is off), as a value: what `tsbpf run -j` prints for bpf_printk output.
 */
export interface TraceLine {
  /** Seconds of the trace clock (local clock by default), as printed. */
  time: number | null;
  task: string | null;
  pid: number | null;
  cpu: number | null;
  /** The event's text: for bpf_printk, what the program printed. */
  message: string;
}

// The task name may hold spaces and dashes; the pid is the last -NUMBER before the CPU.
const LINE = /^\s*(.*)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(?:[^\s:]{4,5}\s+)?(\d+\.\d+):\s(.*)$/;

/** Parses one trace_pipe line; a line of another shape keeps its text as the message. */
export function parseTraceLine(line: string): TraceLine {
  const m = LINE.exec(line);
  if (!m) return { time: null, task: null, pid: null, cpu: null, message: line };
  const rest = m[5]!;
  // "bpf_trace_printk: text" (bpf_printk) or another event's "name: text".
  const event = /^([\w:]+): (.*)$/s.exec(rest);
  const message = event && event[1] === 'bpf_trace_printk' ? event[2]! : rest;
  return { time: Number(m[4]), task: m[1]!.trim(), pid: Number(m[2]), cpu: Number(m[3]), message };
}
