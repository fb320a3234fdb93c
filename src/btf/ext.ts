/**
 * .BTF.ext: per-section func_info, line_info and CO-RE relocation records. Offsets
 * on disk are in bytes from the start of the ELF section; they are kept in bytes here
 * and converted where the kernel wants instructions.
 */
import { ByteView } from '../binary.js';
import { ParseError } from '../errors.js';
import type { StringTable } from './strings.js';

export interface FuncInfo { insnOff: number; typeId: number }
export interface LineInfo { insnOff: number; fileNameOff: number; lineOff: number; lineCol: number }
export interface CoreRelo { insnOff: number; typeId: number; accessStrOff: number; kind: number }

export interface BtfExt {
  /** Keyed by ELF section name. */
  funcInfo: Map<string, FuncInfo[]>;
  lineInfo: Map<string, LineInfo[]>;
  coreRelos: Map<string, CoreRelo[]>;
}

/** Record sizes as the kernel knows them (struct bpf_func_info, bpf_line_info, bpf_core_relo). */
export const FUNC_INFO_SIZE = 8;
export const LINE_INFO_SIZE = 16;
export const CORE_RELO_SIZE = 16;

export function parseBtfExt(bytes: Uint8Array, strings: StringTable): BtfExt {
  const v = new ByteView(bytes, '.BTF.ext');
  if (v.length < 24) throw new ParseError('.BTF.ext', `${v.length} bytes is too short for a header`);
  if (v.u16(0) !== 0xeb9f) throw new ParseError('.BTF.ext', `bad magic 0x${v.u16(0).toString(16)}`);
  if (v.u8(2) !== 1) throw new ParseError('.BTF.ext', `unsupported version ${v.u8(2)}`);
  const hdrLen = v.u32(4);
  if (hdrLen < 24) throw new ParseError('.BTF.ext', `header length ${hdrLen} is shorter than 24`);
  const part = (off: number, len: number, name: string) => (len === 0 ? undefined : v.slice(hdrLen + off, len, name));
  const ext: BtfExt = { funcInfo: new Map(), lineInfo: new Map(), coreRelos: new Map() };
  readBlocks(part(v.u32(8), v.u32(12), 'func_info'), strings, FUNC_INFO_SIZE, 'func_info', ext.funcInfo, (r, o) => ({
    insnOff: r.u32(o), typeId: r.u32(o + 4),
  }));
  readBlocks(part(v.u32(16), v.u32(20), 'line_info'), strings, LINE_INFO_SIZE, 'line_info', ext.lineInfo, (r, o) => ({
    insnOff: r.u32(o), fileNameOff: r.u32(o + 4), lineOff: r.u32(o + 8), lineCol: r.u32(o + 12),
  }));
  if (hdrLen >= 32) {
    readBlocks(part(v.u32(24), v.u32(28), 'core_relo'), strings, CORE_RELO_SIZE, 'core_relo', ext.coreRelos, (r, o) => ({
      insnOff: r.u32(o), typeId: r.u32(o + 4), accessStrOff: r.u32(o + 8), kind: r.u32(o + 12),
    }));
  }
  return ext;
}

function readBlocks<T extends { insnOff: number }>(
  bytes: Uint8Array | undefined,
  strings: StringTable,
  minSize: number,
  what: string,
  into: Map<string, T[]>,
  read: (v: ByteView, off: number) => T,
): void {
  if (!bytes) return;
  const v = new ByteView(bytes, '.BTF.ext');
  const recSize = v.u32(0, `${what} record size`);
  // Newer compilers may append fields; the known prefix is what the kernel takes.
  if (recSize < minSize || recSize % 4 !== 0) throw new ParseError('.BTF.ext', `${what} record size ${recSize} is invalid`);
  let o = 4;
  while (o < v.length) {
    const sec = strings.get(v.u32(o, `${what} section name`));
    const n = v.u32(o + 4, `${what} record count`);
    o += 8;
    v.check(o, n * recSize, `${what} records of ${sec}`);
    const list = into.get(sec) ?? [];
    for (let i = 0; i < n; i++, o += recSize) {
      const rec = read(v, o);
      if (rec.insnOff % 8 !== 0) throw new ParseError('.BTF.ext', `${what} record in ${sec} has unaligned instruction offset ${rec.insnOff}`);
      list.push(rec);
    }
    into.set(sec, list);
  }
}
