import { readFileSync } from 'node:fs';
import { ParseError, TsbpfError } from '../errors.js';
import { parseBtf, type Btf } from './btf.js';

export const VMLINUX_BTF_PATH = '/sys/kernel/btf/vmlinux';

const cache = new Map<string, Btf>();

/**
 * The running kernel's BTF, parsed once per path. It is a few MiB and about 100k types,
 * so every user shares one copy.
 */
export function kernelBtf(path = process.env.BTF_FILE_PATH || VMLINUX_BTF_PATH): Btf {
  let btf = cache.get(path);
  if (!btf) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new TsbpfError(
        err.code !== 'ENOENT'
          ? `cannot read kernel BTF ${path}: ${err.message}`
          : path === VMLINUX_BTF_PATH
            ? `kernel BTF not found at ${path}: this kernel was built without CONFIG_DEBUG_INFO_BTF; give its BTF as a file (--btf FILE, BTF_FILE_PATH; e.g. from BTFHub) or use Linux >= 5.8 with BTF`
            : `kernel BTF not found at ${path} (${process.env.BTF_FILE_PATH === path ? 'BTF_FILE_PATH' : 'the target BTF file'}): no such file`,
      );
    }
    try {
      btf = parseBtf(bytes);
    } catch (e) {
      // A target BTF file may be anything: say which file is not BTF.
      if (e instanceof ParseError) throw new ParseError(path, e.message);
      throw e;
    }
    cache.set(path, btf);
  }
  return btf;
}
