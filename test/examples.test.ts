/**
 * The vmlinux.h that `tsbpf build` generates from the kernel's BTF, checked through the
 * examples: every example in examples/ builds with it (clang accepts it), and every
 * kernel struct or union an example's object uses has the kernel's layout. For each
 * named STRUCT/UNION in the built object's BTF that the kernel's BTF also defines (the
 * example's own structs, like `event`, aside): the same size, and each of its members
 * (through anonymous members, as C names them) at the kernel member's bit offset, with
 * the same bitfield size, type size and type (see typeShape). The object keeps only what clang
 * emitted for the program, so its members are compared against the kernel's, not the
 * whole member lists. Named structs that are neither the example's nor the kernel's fail.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BTF_INT_BOOL, BTF_INT_SIGNED, kernelBtf, type Btf, type Struct } from '../src/btf/index.js';
import { headerStructs } from '../src/build/index.js';
import { parseObject } from '../src/object/index.js';
import { ROOT } from './paths.js';
import { buildExample } from './tsbpf-cli.js';

const EXAMPLES = readdirSync(join(ROOT, 'examples'), { withFileTypes: true })
  // BPF examples (examples/gen holds generated bindings, no BPF C)
  .filter((d) => d.isDirectory() && readdirSync(join(ROOT, 'examples', d.name)).some((f) => f.endsWith('.bpf.c')))
  .map((d) => d.name)
  .sort();

/** Kernel types each example must be seen using, so the comparison is never vacuous. */
const MUST_COMPARE: Record<string, string[]> = {
  filter: ['task_struct'],
  perfbuf: ['task_struct'],
  ringbuf: ['trace_event_raw_signal_generate', 'trace_entry'],
  uprobe: ['pt_regs'],
};

/**
 * A member's type, spelled so that the two compilers' BTF compare: an integer by its
 * width and signedness (clang names `long unsigned int` "unsigned long"; plain char is
 * signed for clang's BPF target and unsigned in kernels built with -funsigned-char, so a
 * char's signedness is left out), everything else by its C shape and names.
 */
function typeShape(btf: Btf, id: number, depth = 0): string {
  if (depth > 20) return '...';
  const t = btf.type(id);
  const next = (to: number) => typeShape(btf, to, depth + 1);
  switch (t.kind) {
    case 'void':
      return 'void';
    case 'int': {
      if (/char/.test(t.name)) return `char${t.bits}`;
      if (t.encoding & BTF_INT_BOOL) return `bool${t.bits}`;
      return `${t.encoding & BTF_INT_SIGNED ? 's' : 'u'}${t.bits}`;
    }
    case 'ptr':
      return `${next(t.type)} *`;
    case 'array':
      return `${next(t.type)}[${t.nelems}]`;
    case 'struct':
    case 'union':
    case 'enum':
    case 'enum64':
    case 'fwd':
      return t.name ? `${t.kind === 'fwd' ? (t.union ? 'union' : 'struct') : t.kind} ${t.name}` : `anonymous ${t.kind}`;
    case 'typedef':
      return t.name;
    case 'const':
    case 'volatile':
    case 'restrict':
      return `${t.kind} ${next(t.type)}`;
    case 'type_tag':
      return next(t.type);
    case 'func_proto':
      return `(${t.params.map((p) => next(p.type)).join(', ')}) -> ${next(t.returnType)}`;
    default:
      return t.kind;
  }
}

interface Flat {
  bitOffset: number;
  bitfieldSize: number;
  typeSize: number | string;
  type: string;
}

/** Members by the name C uses for them: those of anonymous struct/union members are lifted up. */
function flatten(btf: Btf, s: Struct, base = 0, into = new Map<string, Flat>()): Map<string, Flat> {
  for (const m of s.members) {
    const off = base + m.bitOffset;
    if (m.name === '') {
      const inner = btf.type(btf.resolve(m.type));
      if (inner.kind === 'struct' || inner.kind === 'union') flatten(btf, inner, off, into);
      continue;
    }
    let typeSize: number | string;
    try {
      typeSize = btf.size(m.type);
    } catch (e) {
      typeSize = `unsized: ${(e as Error).message}`;
    }
    into.set(m.name, { bitOffset: off, bitfieldSize: m.bitfieldSize, typeSize, type: typeShape(btf, m.type) });
  }
  return into;
}

/** What differs between the object's struct and the kernel's (empty: the layout agrees). */
function layoutDiff(obj: Btf, o: Struct, kernel: Btf, k: Struct): string[] {
  const diffs: string[] = [];
  if (o.size !== k.size) diffs.push(`size ${o.size}, kernel ${k.size}`);
  const km = flatten(kernel, k);
  for (const [name, m] of flatten(obj, o)) {
    const kk = km.get(name);
    if (!kk) diffs.push(`member ${name}: not in the kernel's ${k.kind}`);
    else if (JSON.stringify(m) !== JSON.stringify(kk)) diffs.push(`member ${name}: ${JSON.stringify(m)}, kernel ${JSON.stringify(kk)}`);
  }
  return diffs;
}

for (const example of EXAMPLES) {
  test(`${example}: builds against the generated vmlinux.h; the kernel structs it uses have the kernel's layout`, (t) => {
    const ex = buildExample(example, t);
    const own = new Set(
      readdirSync(ex.dir)
        .filter((f) => /\.[ch]$/.test(f))
        .flatMap((f) => headerStructs(readFileSync(join(ex.dir, f), 'utf8'))),
    );
    const spec = parseObject(new Uint8Array(readFileSync(ex.object)), example);
    const kernel = kernelBtf();
    const compared: string[] = [];
    const foreign: string[] = [];
    const problems: string[] = [];
    spec.btf.types.forEach((o) => {
      if ((o.kind !== 'struct' && o.kind !== 'union') || !o.name || own.has(o.name)) return;
      const candidates = kernel.idsByName(o.name, o.kind).map((id) => kernel.type(id) as Struct);
      if (candidates.length === 0) return void foreign.push(`${o.kind} ${o.name}`);
      compared.push(o.name);
      const diffs = candidates.map((k) => layoutDiff(spec.btf, o, kernel, k));
      // The kernel may define one name more than once; the object must match one of them.
      if (!diffs.some((d) => d.length === 0)) problems.push(`${o.kind} ${o.name}: ${diffs[0]!.join('; ')}`);
    });
    assert.deepEqual(foreign, [], `named types in the object that are neither examples/${example}'s nor the kernel's`);
    assert.deepEqual(problems, [], `layouts that differ from the kernel's BTF`);
    for (const name of MUST_COMPARE[example] ?? []) {
      assert.ok(compared.includes(name), `${name} was not compared (compared: ${compared.join(', ') || 'none'})`);
    }
    t.diagnostic(`compared with the kernel: ${compared.join(', ') || 'none'}`);
  });
}

test('the examples are all here (a renamed directory would silently drop its checks)', () => {
  for (const name of Object.keys(MUST_COMPARE)) assert.ok(EXAMPLES.includes(name), `examples/${name} is missing`);
});
