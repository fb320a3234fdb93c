/** `tsbpf gen FILE`: typed TypeScript bindings of a BPF object or eunomia package (the bpf2go of Node). */
import type { Command } from 'commander';
import { basename } from 'node:path';

export function registerGen(program: Command): void {
  program
    .command('gen')
    .description('write typed TypeScript bindings of a BPF object or eunomia package: interfaces, decoders, a typed load()')
    .argument('<file>', 'a .bpf.o object or an eunomia package.json')
    .option('-o, --output <file.ts>', 'write the module there (default: standard output); only a file tsbpf gen wrote is replaced')
    .option('--event <struct...>', "the struct(s) the export maps' records are (default: the package's export types, else the header's)")
    .option('--import <module>', 'where the bindings import tsbpf from', 'tsbpf')
    .option('--object-path <path>', "reference the object at this path (relative to the compiled module) instead of embedding it")
    .addHelpText('after', '\nExamples:\n  tsbpf gen package.json -o exits.ts\n  tsbpf gen prog.bpf.o --event event -o prog.ts')
    .action(async (file: string, opts: { output?: string; event?: string[]; import: string; objectPath?: string }) => {
      const [{ generateTypeScript, writeBindings }, { readSource }, { runnableFrom }] = await Promise.all([
        import('../gen/index.js'), import('../package/index.js'), import('../runner/index.js'),
      ]);
      const source = await readSource(file);
      const input = runnableFrom(source.name, source.bytes);
      const text = generateTypeScript(input.objectBytes, input.name, {
        exportTypeIds: input.exportTypeIds, events: opts.event, importFrom: opts.import, objectPath: opts.objectPath, source: basename(source.name),
      });
      if (opts.output) writeBindings(opts.output, text);
      else process.stdout.write(text);
    });
}
