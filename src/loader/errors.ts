import { TsbpfError } from '../errors.js';

/** The kernel refused a program; `log` is the verifier's own account, with source lines from line_info. */
export class VerifierError extends TsbpfError {
  override name = 'VerifierError';
  constructor(
    readonly program: string,
    /** Errno name of the failed BPF_PROG_LOAD, e.g. EACCES or EINVAL. */
    readonly code: string,
    readonly log: string,
    /** True when the log buffer was too small and the start of the log is missing. */
    readonly truncated = false,
  ) {
    super(`program ${program}: the kernel rejected it (${code})${log ? `; verifier log:\n${tail(log, 40)}` : ' and gave no log'}`);
  }
}

/** The kernel refused the object's BTF. */
export class BtfLoadError extends TsbpfError {
  override name = 'BtfLoadError';
  constructor(
    readonly code: string,
    readonly log: string,
  ) {
    super(`the kernel rejected the object's BTF (${code})${log ? `:\n${tail(log, 20)}` : ''}`);
  }
}

function tail(log: string, lines: number): string {
  const all = log.trimEnd().split('\n');
  return all.length <= lines ? all.join('\n') : [`... (${all.length - lines} earlier lines)`, ...all.slice(-lines)].join('\n');
}
