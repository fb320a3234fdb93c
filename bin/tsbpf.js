#!/usr/bin/env node
// The tsbpf command. The TypeScript sources are compiled to dist/ by `npm run build`
// (scripts/setup.sh does it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('tsbpf: not built yet: run `bash scripts/setup.sh` (or `npm install && npm run build`) first\n');
  process.exit(1);
}
const { main: run } = await import(main.href);
// Exit explicitly: a blocking read still pending on the thread pool (trace_pipe) must not
// keep a finished command alive. stdout/stderr to files and pipes are synchronous on Linux.
process.exit(await run(process.argv));
