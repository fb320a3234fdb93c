/**
 * iter/ programs (BPF iterators): a BPF_TRACE_ITER link, and reads of it. Each read of
 * an iterator fd (BPF_ITER_CREATE) runs the program over the kernel objects it walks
 * (tasks, maps, a map's elements, sockets...) and returns what it printed with
 * bpf_seq_printf/bpf_seq_write.
 */
import { TsbpfError } from '../errors.js';
import { BPF_TRACE_ITER } from '../sys/constants.js';
import { guard, Link, type Ctx } from './link.js';

/** Iterator targets that walk one map's elements: they need the map (AttachOptions.iterMapFd). */
const MAP_ITERS = new Set(['bpf_map_elem', 'bpf_sk_storage_map', 'sockmap']);

export function attachIter(ctx: Ctx): Link {
  const { sys, program, opts } = ctx;
  const target = program.spec.attachTarget;
  let iterInfo: Uint8Array | undefined;
  if (MAP_ITERS.has(target)) {
    if (opts.iterMapFd === undefined) {
      throw new TsbpfError(`program ${program.name} (section ${program.spec.section}): a ${target} iterator walks one map; pass { iterMapFd } with that map's fd`);
    }
    // union bpf_iter_link_info { struct { __u32 map_fd; } map; ... }
    iterInfo = new Uint8Array(8);
    new DataView(iterInfo.buffer).setUint32(0, opts.iterMapFd, true);
  }
  const fd = guard(ctx, `iterator ${target}`, () => sys.linkCreate({ progFd: program.fd, targetFd: 0, attachType: BPF_TRACE_ITER, iterInfo }));
  return new Link(sys, fd, program, 'iter', target);
}

/**
 * Runs an iterator link once, to its end, and returns its output. `limit` bounds the
 * bytes kept (an iterator over many objects can print a lot); reading stops there.
 */
export function readIterator(link: Link, limit = 64 << 20): Uint8Array {
  if (link.kind !== 'iter') throw new TsbpfError(`program ${link.program.name} is attached as ${link.kind}, not as an iterator`);
  const sys = link.sys;
  const fd = (() => {
    try {
      return sys.iterCreate(link.fd);
    } catch (e) {
      throw new TsbpfError(`cannot start iterator ${link.target} of program ${link.program.name}: ${(e as Error).message}`, { cause: e });
    }
  })();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    const buf = new Uint8Array(64 << 10);
    for (;;) {
      let n: number;
      try {
        n = sys.read(fd, buf);
      } catch (e) {
        throw new TsbpfError(`iterator ${link.target} of program ${link.program.name} failed: ${(e as Error).message}`, { cause: e });
      }
      if (n === 0) break;
      chunks.push(buf.slice(0, n));
      total += n;
      if (total >= limit) break;
    }
  } finally {
    sys.close(fd);
  }
  return Buffer.concat(chunks, Math.min(total, limit));
}
