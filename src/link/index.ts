/**
 * link/: attach loaded programs by section name (tracepoint, raw_tp, tp_btf, uprobe,
 * kprobe, fentry/fexit/lsm), and find (or mount) tracefs and bpffs.
 */
export { attach, attachAll } from './attach.js';
export { readIterator } from './iter.js';
export { attachesToInterface } from './net.js';
export { Link, LinkSet, AttachError, closeLinksBeforeExit, type AttachOptions, type LinkKind, type LinkParts } from './link.js';
export { bpffsPath, parseMounts, realHost, tracefsPath, type Host, type MountEntry } from '../loader/fs.js';
export {
  findFunction,
  parseUprobeTarget,
  readBinary,
  resolveBinary,
  resolveUprobe,
  type ResolvedSymbol,
  type UprobeLocation,
  type UprobeTarget,
} from './uprobe.js';
export { attachUsdt, encodeUsdtSpec, parseUsdtArg, parseUsdtArgs, parseUsdtTarget, type UsdtArgSpec } from './usdt.js';
export { parseStapsdtNotes, usdtLocations, type StapsdtNote, type UsdtLocation } from '../elf/notes.js';
