import { readFileSync } from 'node:fs';
import { hasElfMagic } from '../elf/index.js';
import { TsbpfError } from '../errors.js';
import type { AttachOptions } from '../link/index.js';
import { objectName } from '../object/index.js';
import { readPackage } from '../package/index.js';
import type { MapSizes } from './map-sizes.js';
import { run, type Runnable } from './run.js';
import { untilStopped } from './stop.js';

/** `tsbpf run FILE [args]`: FILE is a .bpf.o object or an eunomia package.json. */
export async function runCommand(file: string, args: string[], opts: { json?: boolean; event?: string; verbose?: boolean; mapSizes?: MapSizes; btf?: string; attach?: Partial<AttachOptions> }): Promise<number> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TsbpfError(err.code === 'ENOENT' ? `${file}: no such file` : `cannot read ${file}: ${err.message}`);
  }
  const input = toRunnable(file, bytes);
  return untilStopped((signal) => run(input, { ...opts, args, signal }));
}

function toRunnable(file: string, bytes: Buffer): Runnable {
  // An ELF, or a file named like an object (its parse error then says why it is not one).
  if (hasElfMagic(bytes) || file.endsWith('.o')) return { objectBytes: bytes, name: objectName(file) };
  // Anything else is taken as an eunomia package.json.
  const pkg = readPackage(bytes);
  return { objectBytes: pkg.objectBytes, name: pkg.name, exportTypeIds: pkg.exportTypes.map((t) => t.type_id), skel: pkg.skel };
}
