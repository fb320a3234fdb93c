/**
 * How a long-running command stops. The first SIGINT or SIGTERM asks it to stop cleanly
 * (drain, detach, exit 0). Signals that follow while it stops change nothing, so that a
 * quick double Ctrl-C does not kill it half-detached; one that comes FORCE_AFTER_MS or more
 * after the first forces the exit (status 130), still closing the links that need more
 * than their fds closed (netlink filters, tracefs probe events).
 */
import { closeLinksBeforeExit } from '../link/index.js';

export const FORCE_AFTER_MS = 2000;

export async function untilStopped<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let first = 0;
  const onSignal = () => {
    if (!first) {
      first = Date.now();
      ac.abort();
    } else if (Date.now() - first >= FORCE_AFTER_MS) {
      process.stderr.write('tsbpf: forced to stop\n');
      closeLinksBeforeExit();
      process.exit(130);
    }
  };
  // Left installed when fn returns: a signal between the end of the run and the process's
  // exit must not kill it with 130 either.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return fn(ac.signal);
}
