#!/usr/bin/env node
// The tsbpf command. The TypeScript sources are compiled to dist/ by `npm run build`
// (scripts/setup.sh does it), which also bundles the command into dist/tsbpf.mjs for a
// quicker start. A bundle older than the compiled sources is passed over, not run stale.
import { existsSync, statSync } from 'node:fs';

const dist = new URL('../dist/', import.meta.url);
const bundle = new URL('tsbpf.mjs', dist);
const main = new URL('src/cli/main.js', dist);
if (!existsSync(main)) {
  process.stderr.write('tsbpf: not built yet: run `bash scripts/setup.sh` (or `npm install && npm run build`) first\n');
  process.exit(1);
}
const fresh = existsSync(bundle) && statSync(bundle).mtimeMs >= statSync(main).mtimeMs;
const cli = await import(fresh ? bundle.href : main.href);
// Exit explicitly: a blocking read still pending on the thread pool must not keep a
// finished command alive. stdout/stderr to files and pipes are synchronous on Linux.
process.exit(await cli.main(process.argv));
