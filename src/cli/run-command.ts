import { readFileSync } from 'node:fs';
import { hasElfMagic } from '../elf/index.js';
import { TsbpfError } from '../errors.js';
import type { AttachOptions } from '../link/index.js';
import { objectName } from '../object/index.js';
import { readPackage } from '../package/index.js';
import type { MapSizes } from './map-sizes.js';
import { run, type Runnable } from './run.js';

/** `tsbpf run FILE [args]`: FILE is a .bpf.o object or an eunomia package.json. */
export async function runCommand(file: string, args: string[], opts: { json?: boolean; verbose?: boolean; mapSizes?: MapSizes; btf?: string; attach?: Partial<AttachOptions> }): Promise<number> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TsbpfError(err.code === 'ENOENT' ? `${file}: no such file` : `cannot read ${file}: ${err.message}`);
  }
  const input = toRunnable(file, bytes);
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await run(input, { ...opts, args, signal: ac.signal });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function toRunnable(file: string, bytes: Buffer): Runnable {
  // An ELF, or a file named like an object (its parse error then says why it is not one).
  if (hasElfMagic(bytes) || file.endsWith('.o')) return { objectBytes: bytes, name: objectName(file) };
  // Anything else is taken as an eunomia package.json.
  const pkg = readPackage(bytes);
  return { objectBytes: pkg.objectBytes, name: pkg.name, exportTypeId: pkg.exportTypeId, skel: pkg.skel };
}
