#!/usr/bin/env node
// The tsbpf command. The TypeScript sources are compiled to dist/ by `npm run build`
// (scripts/setup.sh does it).
let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/src/cli/main.js')) throw e;
  process.stderr.write('tsbpf: not built yet: run `bash scripts/setup.sh` (or `npm install && npm run build`) first\n');
  process.exit(1);
}
// Exit explicitly: a blocking read still pending on the thread pool must not keep a
// finished command alive. stdout/stderr to files and pipes are synchronous on Linux.
process.exit(await cli.main(process.argv));
