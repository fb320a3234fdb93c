/**
 * `tsbpf build SOURCE.bpf.c [HEADER.h]`: compile like eunomia-bpf's ecc into NAME.bpf.o,
 * NAME.skel.json and package.json (runnable with `tsbpf run package.json` or ecli).
 * Progress, command lines (-v) and clang's own messages go to stderr.
 */
import type { Command } from 'commander';

export function registerBuild(program: Command): void {
  program
    .command('build')
    .description('compile a BPF C program with clang into NAME.bpf.o, NAME.skel.json and an eunomia package.json (as ecc does)')
    .argument('<source>', 'the BPF C source (NAME.bpf.c)')
    .argument('[header]', 'a header whose structs are the exported event types (NAME.h)')
    .option('-o, --output <dir>', "output directory (default: the source's directory)")
    .option('--cflags <flags>', 'extra clang flags, as one string: --cflags "-DDEBUG -Wall"')
    .option('-v, --verbose', 'print each command line it runs')
    .option('--ts', 'also write typed TypeScript bindings, NAME.ts (as tsbpf gen)')
    .addHelpText(
      'after',
      '\nExamples:\n  tsbpf build exitsnoop.bpf.c exitsnoop.h\n  tsbpf build prog.bpf.c -o out --cflags "-DMAX=10" -v\n\n' +
        'Needs clang and llvm-strip, and libbpf\'s BPF headers: apt-get install clang llvm libbpf-dev',
    )
    .action(async (source: string, header: string | undefined, opts: { output?: string; cflags?: string; verbose?: boolean; ts?: boolean }) => {
      const { build, splitFlags } = await import('../build/index.js');
      await build(source, header, {
        outDir: opts.output,
        cflags: opts.cflags !== undefined ? splitFlags(opts.cflags) : [],
        verbose: opts.verbose,
        ts: opts.ts,
        log: (line) => process.stderr.write(line + '\n'),
      });
    });
}
