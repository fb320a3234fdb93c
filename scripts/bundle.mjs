// The tsbpf command as one ESM file (dist/tsbpf.mjs), built from tsc's output by esbuild:
// Node then reads and links one module instead of about a hundred, which is most of the
// command's start-up (about 35 ms of 60 ms on a 2-CPU machine). The library itself
// (dist/src) stays as tsc writes it. koffi stays outside: it is a native addon.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cli/main.js'],
  outfile: 'dist/tsbpf.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['koffi'],
  // commander is CommonJS: its require() calls need a require in an ES module.
  banner: { js: "import { createRequire as __tsbpfRequire } from 'node:module'; const require = __tsbpfRequire(import.meta.url);" },
  logLevel: 'warning',
});
