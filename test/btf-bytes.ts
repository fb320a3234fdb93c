/** Hand-written BTF bytes for tests: invalid or hostile records the encoder never writes. */
import { BTF_KIND } from '../src/btf/index.js';

/**
 * Raw BTF from type words and a string section, laid out as clang does (header of 24,
 * types at 0, strings right after), so tests can write invalid records the encoder
 * would never produce.
 */
export function rawBtf(words: number[], strings = '\0'): Uint8Array {
  const str = Buffer.from(strings, 'latin1');
  const out = new Uint8Array(24 + words.length * 4 + str.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0xeb9f, true);
  dv.setUint8(2, 1);
  dv.setUint32(4, 24, true);
  dv.setUint32(8, 0, true);
  dv.setUint32(12, words.length * 4, true);
  dv.setUint32(16, words.length * 4, true);
  dv.setUint32(20, str.length, true);
  words.forEach((w, i) => dv.setUint32(24 + i * 4, w >>> 0, true));
  out.set(str, 24 + words.length * 4);
  return out;
}
export const info = (kind: keyof typeof BTF_KIND, vlen = 0, kflag = false) => ((kflag ? 1 << 31 : 0) | (BTF_KIND[kind] << 24) | vlen) >>> 0;
/** [1] int "int" (4 bytes, signed): most synthetic records refer to it. */
export const INT = [1, info('int'), 4, (1 << 24) | 32];
export const INT_STR = '\0int\0';
