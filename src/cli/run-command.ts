import type { AttachOptions } from '../link/index.js';
import { readSource } from '../package/index.js';
import { runnableFrom, type MapSizes } from '../runner/index.js';
import { run } from './run.js';
import { untilStopped } from './stop.js';

/** `tsbpf run FILE [args]`: FILE is a .bpf.o object or an eunomia package.json, a path, `-` (stdin) or an http(s) URL. */
export interface RunCommandOptions {
  json?: boolean;
  event?: string;
  verbose?: boolean;
  mapSizes?: MapSizes;
  btf?: string;
  attach?: Partial<AttachOptions>;
  metrics?: string;
  metricsConfig?: string;
  quiet?: boolean;
}

export async function runCommand(file: string, args: string[], opts: RunCommandOptions): Promise<number> {
  const source = await readSource(file);
  const input = runnableFrom(source.name, source.bytes);
  return untilStopped((signal) => run(input, { ...opts, args, signal }));
}
