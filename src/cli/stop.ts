/**
 * How a long-running command stops. The first SIGINT, SIGTERM or SIGHUP (a closed terminal)
 * asks it to stop cleanly
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
  process.on('SIGHUP', onSignal);
  return fn(ac.signal);
}

/** setTimeout's delay is a 32-bit count of ms (24.8 days): longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `fn` after `ms` (any length); the returned function cancels it. */
export function after(ms: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const due = Date.now() + ms;
  const arm = () => {
    const left = due - Date.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}
