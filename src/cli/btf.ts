/**
 * `tsbpf btf dump [FILE] [--format c|raw] [-o OUT]`: a BTF file as C (a vmlinux.h) or as
 * bpftool's raw listing. FILE is raw BTF (/sys/kernel/btf/vmlinux, the default) or a BPF
 * object, whose .BTF section is dumped.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseBtf, VMLINUX_BTF_PATH, type Btf } from '../btf/index.js';
import { dumpC, dumpRaw } from '../btf/cdump.js';
import { hasElfMagic, parseElf } from '../elf/index.js';
import { naming, readUserFile } from '../files.js';
import { TsbpfError } from '../errors.js';

export function registerBtfCommand(program: Command): void {
  const btf = program.command('btf').description('inspect BTF type information');
  btf
    .command('dump')
    .description('print the types of a BTF file or BPF object as a C header (vmlinux.h) or one line per type')
    .argument('[file]', 'raw BTF or a BPF object (.o)', VMLINUX_BTF_PATH)
    .option('-f, --format <format>', 'c: a header that compiles with clang -target bpf; raw: one line per type', 'c')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .addHelpText(
      'after',
      '\nExamples:\n  tsbpf btf dump > vmlinux.h\n  tsbpf btf dump prog.bpf.o --format raw\n  tsbpf btf dump /sys/kernel/btf/vmlinux -o include/vmlinux.h',
    )
    .action(async (file: string, opts: { format: string; output?: string }) => {
      if (opts.format !== 'c' && opts.format !== 'raw') throw new TsbpfError(`--format: ${opts.format} is not c or raw`);
      const types = readBtfFile(file);
      const text = opts.format === 'c' ? dumpC(types) : dumpRaw(types);
      if (opts.output) {
        try {
          writeFileSync(opts.output, text);
        } catch (e) {
          throw new TsbpfError(`cannot write ${opts.output}: ${(e as Error).message}`);
        }
      } else {
        await writeStdout(text);
      }
    });
}

/** BTF from a file: raw BTF, or the .BTF section of an ELF object. */
export function readBtfFile(file: string): Btf {
  const bytes = new Uint8Array(readUserFile(file));
  return naming(file, () => {
    if (hasElfMagic(bytes)) {
      const sec = parseElf(bytes, { anyElf: true }).sectionByName('.BTF');
      if (!sec) throw new TsbpfError('the ELF file has no .BTF section (BPF objects have one when compiled with clang -g)');
      return parseBtf(sec.data);
    }
    if (bytes.byteLength < 2 || (bytes[0]! | (bytes[1]! << 8)) !== 0xeb9f) {
      throw new TsbpfError('neither raw BTF (magic 0xeb9f) nor an ELF object with a .BTF section');
    }
    return parseBtf(bytes);
  });
}

/** Writes to stdout and waits for it; a reader that went away (| head) is not an error. */
function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The error event can come after the write callback: keep listening.
    process.stdout.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? resolve() : reject(e)));
    process.stdout.write(text, (e) => {
      if (e && (e as NodeJS.ErrnoException).code !== 'EPIPE') reject(e);
      else resolve();
    });
  });
}
