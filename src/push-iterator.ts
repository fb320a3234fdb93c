/**
 * A callback-driven run as an async iterator: `run(push, wake, signal)` pushes items and
 * calls `wake` when a batch is complete; the iterator yields them in order, rethrows the
 * run's error, and stops the run (aborts its signal) when the loop is left.
 */
export async function* pushIterator<T>(
  run: (push: (item: T) => void, wake: () => void, signal: AbortSignal) => Promise<void>,
  signal?: AbortSignal,
  wakeOnPush = true,
): AsyncGenerator<T, void, undefined> {
  const ac = new AbortController();
  const queue: T[] = [];
  let head = 0;
  let wake: (() => void) | undefined;
  let end: { error?: unknown } | undefined;
  const push = (item: T) => {
    queue.push(item);
    if (wakeOnPush) wake?.();
  };
  const done = run(push, () => wake?.(), signal ? AbortSignal.any([signal, ac.signal]) : ac.signal).then(
    () => void (end = {}),
    (error: unknown) => void (end = { error }),
  ).finally(() => wake?.());
  try {
    for (;;) {
      while (head < queue.length) {
        const item = queue[head]!;
        queue[head++] = undefined as T;
        yield item;
      }
      queue.length = head = 0;
      if (end) {
        if ('error' in end) throw end.error;
        return;
      }
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  } finally {
    ac.abort();
    await done;
  }
}
