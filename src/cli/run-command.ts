import { hasElfMagic } from '../elf/index.js';
import type { AttachOptions } from '../link/index.js';
import { objectName } from '../object/index.js';
import { readPackage, readSource } from '../package/index.js';
import type { MapSizes } from './map-sizes.js';
import { run, type Runnable } from './run.js';
import { untilStopped } from './stop.js';

/** `tsbpf run FILE [args]`: FILE is a .bpf.o object or an eunomia package.json, a path, `-` (stdin) or an http(s) URL. */
export async function runCommand(file: string, args: string[], opts: { json?: boolean; event?: string; verbose?: boolean; mapSizes?: MapSizes; btf?: string; attach?: Partial<AttachOptions> }): Promise<number> {
  const source = await readSource(file);
  const input = toRunnable(source.name, source.bytes);
  return untilStopped((signal) => run(input, { ...opts, args, signal }));
}

function toRunnable(file: string, bytes: Buffer): Runnable {
  // An ELF, or a file named like an object (its parse error then says why it is not one).
  if (hasElfMagic(bytes) || file.endsWith('.o')) return { objectBytes: bytes, name: objectName(file) };
  // Anything else is taken as an eunomia package.json.
  const pkg = readPackage(bytes);
  return { objectBytes: pkg.objectBytes, name: pkg.name, exportTypeIds: pkg.exportTypes.map((t) => t.type_id), multipleExport: pkg.multipleExport, exportConfigs: pkg.exportConfigs, skel: pkg.skel };
}
