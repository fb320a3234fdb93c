/**
 * eunomia's per-program attach parameters (the doc comments ecc copies into a package's
 * `progs` entries) as tsbpf AttachOptions:
 *
 *   xdp: "ifindex": N, "flags": XDP_FLAGS_*, "xdpopts": {"old_prog_fd": N}
 *   tc:  "tchook": {"ifindex": N, "attach_point": "BPF_TC_INGRESS" | "BPF_TC_EGRESS"},
 *        "tcopts": {"handle": N, "priority": N}
 *
 * ecli attaches tc and xdp programs to ifindex 1 (lo) when a package names none; so does
 * `tsbpf run`. Pure: no kernel, no files.
 */
import type { AttachOptions } from '../link/index.js';
import { PackageError } from './read.js';
import type { ProgEntry } from './format.js';
import { quoted } from '../text.js';

/** What a package says about attaching one program; `where` names it in errors. */
export function packageAttachOptions(entry: ProgEntry, where = `program ${entry.name}`): Partial<AttachOptions> {
  const out: Partial<AttachOptions> = {};
  const int = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new PackageError(`${where}: ${what} is ${quoted(v)}, not an unsigned integer`);
    }
    return v;
  };
  const obj = (v: unknown, what: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PackageError(`${where}: ${what} is ${quoted(v)}, not an object`);
    return v as Record<string, unknown>;
  };
  if (entry.ifindex !== undefined) out.interface = int(entry.ifindex, 'ifindex');
  if (entry.flags !== undefined) out.xdpFlags = int(entry.flags, 'flags');
  if (entry.xdpopts !== undefined) {
    const x = obj(entry.xdpopts, 'xdpopts');
    // old_prog_fd replaces a program this process holds; a package cannot name one.
    if (x.old_prog_fd !== undefined && int(x.old_prog_fd, 'xdpopts.old_prog_fd') !== 0) {
      throw new PackageError(`${where}: xdpopts.old_prog_fd ${String(x.old_prog_fd)} names a file descriptor of another process; tsbpf run attaches only new programs (use 0)`);
    }
  }
  if (entry.tchook !== undefined) {
    const h = obj(entry.tchook, 'tchook');
    if (h.ifindex !== undefined) out.interface = int(h.ifindex, 'tchook.ifindex');
    if (h.attach_point !== undefined) {
      const points: Record<string, 'ingress' | 'egress'> = { BPF_TC_INGRESS: 'ingress', BPF_TC_EGRESS: 'egress' };
      const p = typeof h.attach_point === 'string' ? points[h.attach_point] : undefined;
      if (!p) throw new PackageError(`${where}: tchook.attach_point is ${quoted(h.attach_point)}; use "BPF_TC_INGRESS" or "BPF_TC_EGRESS"`);
      out.tc = { ...out.tc, attachPoint: p };
    }
  }
  if (entry.tcopts !== undefined) {
    const o = obj(entry.tcopts, 'tcopts');
    if (o.handle !== undefined) out.tc = { ...out.tc, handle: int(o.handle, 'tcopts.handle') };
    if (o.priority !== undefined) out.tc = { ...out.tc, priority: int(o.priority, 'tcopts.priority') };
  }
  return out;
}
