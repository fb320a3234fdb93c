/**
 * What a failing output means for a long run: EPIPE (the reader went away, `| head`) ends
 * it quietly, as Ctrl-C does; any other write error (ENOSPC, EIO) ends it too, and is then
 * reported, so that a full disk is never an exit 0 with events silently missing.
 */
import { TsbpfError } from './errors.js';

export class OutputWatch {
  /** Set once a write has failed: nothing more is written. */
  broken = false;
  private failure?: TsbpfError;

  constructor(out: NodeJS.WritableStream, stop: () => void) {
    out.on?.('error', (e: NodeJS.ErrnoException) => {
      this.broken = true;
      if (e.code !== 'EPIPE' && !this.failure) {
        this.failure = new TsbpfError(`cannot write the output: ${e.code ?? e.message}${e.code === 'ENOSPC' ? ' (no space left on the device)' : ''}`);
      }
      stop();
    });
  }

  /** Throws the write error, if there was one other than a closed pipe. */
  check(): void {
    if (this.failure) throw this.failure;
  }
}
