/**
 * Every error tsbpf throws on purpose derives from TsbpfError, so callers (and the
 * fuzz tests) can tell a diagnosed failure from a bug.
 */
export class TsbpfError extends Error {
  override name = 'TsbpfError';
}

/** Malformed input: an ELF, BTF or object that cannot be read. Parsing never makes syscalls. */
export class ParseError extends TsbpfError {
  override name = 'ParseError';
  constructor(
    /** What was being read: "ELF", "BTF", ".BTF.ext", "object". */
    readonly what: string,
    message: string,
  ) {
    super(`${what}: ${message}`);
  }
}

/** A kernel feature this program needs is missing. */
export class NotSupportedError extends TsbpfError {
  override name = 'NotSupportedError';
  constructor(
    readonly feature: string,
    readonly detail = '',
  ) {
    super(`${feature}: not supported by this kernel${detail ? ` (${detail})` : ''}`);
  }
}
