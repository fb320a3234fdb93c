/**
 * Code a user writes against generated bindings: it must compile under --strict, and each
 * line after a @ts-expect-error must stay an error (test/gen.test.ts checks both). It also
 * runs: test/gen-bindings.test.ts calls these functions against the kernel.
 */
import { LostSamples } from 'tsbpf';
import { load as loadExitsnoop, type Event } from './exitsnoop.js';
import { load as loadGlobals } from './globals.js';
import { load as loadMaps, type Slot } from './maps.js';

/** The lines that must not compile sit in blocks that never run. */
const TYPE_ERRORS_ONLY = false as boolean;

/** maps.bpf.o's program counts raw_tp arguments: typed keys and values in and out. */
export function countOnce(key: number, add: bigint): { total: bigint | undefined; slot: Slot | undefined } {
  using m = loadMaps();
  m.maps.counts.update(key, 5n);
  if (TYPE_ERRORS_ONLY) {
    // @ts-expect-error a __u64 value is a bigint, not a number
    m.maps.counts.update(key, 5);
  }
  if (TYPE_ERRORS_ONLY) {
    // @ts-expect-error a __u32 key is a number
    m.maps.counts.lookup('one');
  }
  if (TYPE_ERRORS_ONLY) {
    // @ts-expect-error no map of that name
    void m.maps.nosuch;
  }
  const ctx = new Uint8Array(16);
  new DataView(ctx.buffer).setBigUint64(0, BigInt(key), true);
  new DataView(ctx.buffer).setBigUint64(8, add, true);
  m.programs.count.testRun({ ctxIn: ctx });
  const slot = m.maps.slots.lookup(key % 8);
  if (TYPE_ERRORS_ONLY) {
    // @ts-expect-error struct slot has no field nohits
    void slot?.nohits;
  }
  const hits: number | undefined = slot?.hits;
  void hits;
  return { total: m.maps.counts.lookup(key), slot };
}

/**
 * A struct value written through the bindings' generated encoder; `check` sees the map while
 * it is loaded (its id), and what a value out of range gives.
 */
export function writeSlot(key: number, slot: Slot, check: (mapId: number) => void): string {
  using m = loadMaps();
  m.maps.slots.update(key, slot);
  check(m.maps.slots.info().id);
  try {
    m.maps.slots.update(key, { ...slot, hits: -1 });
    return 'accepted';
  } catch (e) {
    return (e as Error).message;
  }
}

/** globals.bpf.o: typed .rodata settings before load, typed variables after. */
export function compute(x: number, settings: { multiplier: number; negate: boolean }): { result: number; calls: bigint; bias: number } {
  using g = loadGlobals(settings);
  if (TYPE_ERRORS_ONLY) {
    // @ts-expect-error multiplier is a number
    loadGlobals({ multiplier: 'three' });
  }
  if (TYPE_ERRORS_ONLY) {
    // @ts-expect-error no setting of that name
    loadGlobals({ multiplyer: 3 });
  }
  g.variables.bias.set(1);
  if (TYPE_ERRORS_ONLY) {
    // @ts-expect-error bias is a __u32: a number
    g.variables.bias.set(1n);
  }
  const ctx = new Uint8Array(8);
  new DataView(ctx.buffer).setBigUint64(0, BigInt(x), true);
  const result = g.programs.compute.testRun({ ctxIn: ctx }).retval | 0;
  const calls: bigint = g.variables.calls.get();
  return { result, calls, bias: g.variables.bias.get() };
}

/** exitsnoop's object: the ring buffer's records as typed Events. */
export async function firstExits(n: number, ppid: number, signal: AbortSignal): Promise<Event[]> {
  using e = loadExitsnoop({ targ_ppid: ppid });
  if (TYPE_ERRORS_ONLY) {
    // @ts-expect-error targ_ppid is a number
    loadExitsnoop({ targ_ppid: '1' });
  }
  const link = (await import('tsbpf')).attach(e.programs.handle_exit);
  try {
    const out: Event[] = [];
    const stream = e.events();
    signal.addEventListener('abort', () => stream.close(), { once: true });
    for await (const x of stream) {
      if (x instanceof LostSamples) continue;
      const pid: number = x.pid;
      const comm: string = x.comm;
      if (TYPE_ERRORS_ONLY) {
        // @ts-expect-error pid is a number
        const wrong: string = x.pid;
        void wrong;
      }
      void [pid, comm];
      out.push(x);
      if (out.length === n) break;
    }
    return out;
  } finally {
    link.close();
  }
}
