/**
 * `tsbpf btf dump`: BTF as C and as bpftool's raw listing.
 * - The running kernel's BTF dumped as vmlinux.h compiles with clang -target bpf, and
 *   every struct and union in it (and every typedef of an anonymous one) has the
 *   kernel's size and member offsets: a _Static_assert per size and per named member,
 *   and for the structs BPF programs use and every record with bitfields, the BTF that
 *   clang writes for the compiled header compared member by member with the kernel's.
 * - The seed's exitsnoop compiles against the generated header (and, as root, loads).
 * - Hand-built BTF gives exact C text for each construct (ordering, forward
 *   declarations, anonymous members, bitfields, packing, alignment, declarators,
 *   duplicates, enums), and clang agrees with its layout.
 * - The raw format, and the command line.
 * Tests that need clang or the kernel's BTF fail, not skip, under CI=true.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  Btf, CDumper, cIdent, dumpC, dumpRaw, kernelBtf, parseBtf, StringTable, VMLINUX_BTF_PATH,
  type BtfType, type Int, type Member, type Struct,
} from '../src/btf/index.js';
import { parseElf } from '../src/elf/index.js';
import { Collection } from '../src/loader/index.js';
import { loadObjectFile } from '../src/object/index.js';
import { kernelTest } from './kernel.js';
import { CLI, ROOT, SEED } from './paths.js';
import { throwsParse } from './throws.js';

const inCI = process.env.CI === 'true';
const haveClang = spawnSync('clang', ['--version']).status === 0;
const haveKernelBtf = existsSync(VMLINUX_BTF_PATH);

/** A test that needs clang (and maybe the kernel's BTF): skipped without them, failed in CI. */
function needsTest(name: string, needs: { clang?: boolean; kernelBtf?: boolean }, fn: (t: TestContext) => void | Promise<void>): void {
  const missing = [
    needs.clang && !haveClang ? 'clang (bash scripts/setup.sh --compiler)' : '',
    needs.kernelBtf && !haveKernelBtf ? `kernel BTF (${VMLINUX_BTF_PATH})` : '',
  ].filter(Boolean).join(' and ');
  if (!missing) test(name, fn);
  else if (inCI) test(name, () => { throw new Error(`needs ${missing}, and CI=true forbids skipping`); });
  else test(name, { skip: `needs ${missing}` }, () => {});
}

function clang(args: string[], cwd?: string): void {
  const r = spawnSync('clang', ['-target', 'bpf', '-D__TARGET_ARCH_x86', ...args], { encoding: 'utf8', cwd, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `clang ${args.join(' ')}:\n${r.stderr.split('\n').slice(0, 40).join('\n')}`);
}

// ------------------------------------------------------------------ layout checks

/** A C type that names a record: a named struct/union, or a typedef of an anonymous one. */
interface RecordRef {
  id: number;
  /** The record itself (the typedef's target for typedefs). */
  recordId: number;
  cType: string;
  /** Name and kind to look up in the compiled object's BTF. */
  objName: string;
  objKind: 'struct' | 'union' | 'typedef';
}

function recordRefs(btf: Btf, d: CDumper): RecordRef[] {
  const refs: RecordRef[] = [];
  btf.types.forEach((t, id) => {
    if ((t.kind === 'struct' || t.kind === 'union') && t.name) {
      refs.push({ id, recordId: id, cType: `${t.kind} ${d.cName(id)}`, objName: d.cName(id), objKind: t.kind });
    } else if (t.kind === 'typedef') {
      const rid = btf.resolve(id);
      const r = btf.types[rid]!;
      if ((r.kind === 'struct' || r.kind === 'union') && !r.name) refs.push({ id, recordId: rid, cType: d.cName(id), objName: d.cName(id), objKind: 'typedef' });
    }
  });
  return refs;
}

/** Bit offset and bitfield size of a member, from kflag or from an old-style int type. */
function memberBits(btf: Btf, s: Struct, m: Member): { off: number; bits: number } {
  if (s.kflag || m.bitfieldSize) return { off: m.bitOffset, bits: m.bitfieldSize };
  const mt = btf.types[m.type]!;
  if (mt.kind === 'int' && (mt.bitOffset || mt.bits !== mt.size * 8)) return { off: m.bitOffset + mt.bitOffset, bits: mt.bits };
  return { off: m.bitOffset, bits: 0 };
}

function anonRecord(btf: Btf, id: number): Struct | undefined {
  const r = btf.types[btf.resolve(id)]!;
  return (r.kind === 'struct' || r.kind === 'union') && !r.name ? r : undefined;
}

/**
 * _Static_asserts of each record's size and of the offset of every named non-bitfield
 * member, members of anonymous members included (C11 lets offsetof name them).
 */
function staticAsserts(btf: Btf, refs: RecordRef[]): { source: string; count: number } {
  const lines: string[] = [];
  const walk = (cType: string, s: Struct, base: number) => {
    for (const m of s.members) {
      const { off, bits } = memberBits(btf, s, m);
      if (m.name) {
        if (!bits) lines.push(`_Static_assert(__builtin_offsetof(${cType}, ${cIdent(m.name)}) == ${(base + off) / 8}, "offset of ${cType}.${m.name}");`);
      } else {
        const inner = anonRecord(btf, m.type);
        if (inner) walk(cType, inner, base + off);
      }
    }
  };
  for (const r of refs) {
    const s = btf.types[r.recordId] as Struct;
    lines.push(`_Static_assert(sizeof(${r.cType}) == ${s.size}, "sizeof(${r.cType})");`);
    walk(r.cType, s, 0);
  }
  return { source: lines.join('\n') + '\n', count: lines.length };
}

/** Differences between a record in the kernel's BTF and the same record in clang's. */
function compareRecord(kb: Btf, ks: Struct, ob: Btf, os: Struct, path: string, out: string[]): void {
  if (ks.kind !== os.kind) out.push(`${path}: ${ks.kind} in the kernel, ${os.kind} compiled`);
  if (ks.size !== os.size) out.push(`${path}: size ${ks.size} in the kernel, ${os.size} compiled`);
  // Padding is unnamed bitfields, which BTF leaves out, or (in unions) an anonymous
  // struct of them, which BTF shows as a struct without members: the rest is the same list.
  const oms = os.members.filter((m) => {
    const r = anonRecord(ob, m.type);
    return m.name || !r || r.members.length > 0;
  });
  if (ks.members.length !== oms.length) {
    out.push(`${path}: ${ks.members.length} members in the kernel, ${oms.length} compiled`);
    return;
  }
  ks.members.forEach((km, i) => {
    const om = oms[i]!;
    const where = `${path}.${km.name || `<anon #${i}>`}`;
    if (cIdent(km.name) !== om.name) out.push(`${where}: named ${om.name} when compiled`);
    const k = memberBits(kb, ks, km), o = memberBits(ob, os, om);
    if (k.off !== o.off || k.bits !== o.bits) out.push(`${where}: bit offset ${k.off}/${k.bits} bits in the kernel, ${o.off}/${o.bits} compiled`);
    const kin = anonRecord(kb, km.type), oin = anonRecord(ob, om.type);
    if (kin && oin) compareRecord(kb, kin, ob, oin, where, out);
    else if (kin || oin) out.push(`${where}: anonymous record on one side only`);
  });
}

/** Compiles `header` with the records kept as globals and compares clang's BTF with `btf`. */
function compareCompiled(btf: Btf, refs: RecordRef[], dir: string, header: string): string[] {
  writeFileSync(join(dir, 'keep.h'), header);
  const keep = refs.map((r) => `${r.cType} __keep_${r.id};`).join('\n');
  writeFileSync(join(dir, 'keep.c'), `#include "keep.h"\n${keep}\n`);
  clang(['-g', '-O2', '-DBPF_NO_PRESERVE_ACCESS_INDEX', '-c', 'keep.c', '-o', 'keep.o'], dir);
  const obj = parseBtf(parseElf(new Uint8Array(readFileSync(join(dir, 'keep.o')))).sectionByName('.BTF')!.data);
  const out: string[] = [];
  for (const r of refs) {
    const oid = obj.idByName(r.objName, r.objKind);
    if (oid === undefined) {
      out.push(`${r.cType}: not in the compiled object's BTF`);
      continue;
    }
    const os = obj.types[obj.resolve(oid)]!;
    if (os.kind !== 'struct' && os.kind !== 'union') {
      out.push(`${r.cType}: compiled as ${os.kind}`);
      continue;
    }
    compareRecord(btf, btf.types[r.recordId] as Struct, obj, os, r.cType, out);
  }
  return out;
}

function hasBitfield(btf: Btf, s: Struct): boolean {
  return s.members.some((m) => {
    if (memberBits(btf, s, m).bits) return true;
    const inner = anonRecord(btf, m.type);
    return inner !== undefined && hasBitfield(btf, inner);
  });
}

/** Size/offset asserts (syntax-only compile) and clang's BTF compared with `btf`, for every record. */
function checkLayoutWithClang(btf: Btf, text: string): void {
  const d = new CDumper(btf);
  const header = d.dump({ header: false });
  assert.equal(header, text);
  const refs = recordRefs(btf, d);
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-btfdump-'));
  writeFileSync(join(dir, 'a.c'), header + staticAsserts(btf, refs).source);
  clang(['-fsyntax-only', '-Wall', '-Werror', 'a.c'], dir);
  if (refs.length) assert.deepEqual(compareCompiled(btf, refs, dir, header), []);
}

// ------------------------------------------------------------------ the kernel's BTF

const PROGRAM_STRUCTS = [
  'task_struct', 'signal_struct', 'cred', 'css_set', 'cgroup', 'kernfs_node', 'pid', 'upid', 'pid_namespace', 'nsproxy',
  'mm_struct', 'file', 'inode', 'sk_buff', 'sock', 'sock_common', 'trace_event_raw_sched_process_exit',
  'trace_event_raw_sched_process_template', 'trace_event_raw_sys_enter', 'pt_regs', 'bpf_raw_tracepoint_args', 'xdp_md',
  '__sk_buff', 'ethhdr', 'iphdr', 'tcphdr',
];

let kernelDump: { text: string; dumper: CDumper; ms: number } | undefined;
function kernelHeader(): { text: string; dumper: CDumper; ms: number } {
  if (!kernelDump) {
    const btf = kernelBtf();
    const t0 = performance.now();
    const dumper = new CDumper(btf);
    const text = dumper.dump();
    kernelDump = { text, dumper, ms: performance.now() - t0 };
  }
  return kernelDump;
}

function tempWithHeader(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-vmlinux-'));
  writeFileSync(join(dir, 'vmlinux.h'), kernelHeader().text);
  return dir;
}

needsTest('kernel BTF as vmlinux.h: guard, CO-RE pragma pushed and popped, deterministic, fast', { kernelBtf: true }, (t) => {
  const { text, ms } = kernelHeader();
  t.diagnostic(`dumped ${kernelBtf().count} types to ${(text.length / 1e6).toFixed(1)} MB of C in ${ms.toFixed(0)} ms`);
  assert.ok(text.startsWith('#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n#endif\n'));
  assert.ok(text.endsWith('#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n#endif /* __VMLINUX_H__ */\n'));
  assert.match(text, /^struct task_struct \{$/m);
  assert.match(text, /^typedef _Bool bool;$/m);
  assert.equal(dumpC(kernelBtf()), text);
});

needsTest('kernel vmlinux.h compiles with a program using task_struct, tracepoint contexts and CO-RE reads', { clang: true, kernelBtf: true }, () => {
  const dir = tempWithHeader();
  writeFileSync(join(dir, 'prog.bpf.c'), `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
char LICENSE[] SEC("license") = "GPL";
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } rb SEC(".maps");
SEC("tp/sched/sched_process_exit")
int on_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	int ppid = BPF_CORE_READ(task, real_parent, tgid);
	int code = BPF_CORE_READ(task, exit_code);
	const char *cg = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);
	u64 start = BPF_CORE_READ(task, start_time);
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	if (bpf_core_field_exists(task->__state))
		code += BPF_CORE_READ(task, __state);
	return ppid + code + ctx->pid + (cg != 0) + (int)start + (mm != 0);
}
SEC("tp/raw_syscalls/sys_enter")
int on_enter(struct trace_event_raw_sys_enter *ctx) { return ctx->id == __NR_getpid ? 0 : (int)ctx->args[0]; }
SEC("kprobe/do_exit")
int BPF_KPROBE(on_do_exit, long code) { return code; }
SEC("raw_tp/sched_switch")
int on_switch(struct bpf_raw_tracepoint_args *ctx) { return ctx->args[0] != 0; }
SEC("xdp")
int on_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end) return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end) return XDP_PASS;
	return ip->protocol == IPPROTO_TCP ? XDP_PASS : XDP_DROP;
}
`.replace('__NR_getpid', '39'));
  clang(['-g', '-O2', '-Wall', '-Werror', '-c', 'prog.bpf.c', '-o', 'prog.bpf.o'], dir);
});

needsTest('kernel vmlinux.h: every struct, union and anonymous-record typedef has the kernel\'s size and member offsets', { clang: true, kernelBtf: true }, (t) => {
  const btf = kernelBtf();
  const { dumper } = kernelHeader();
  const dir = tempWithHeader();
  const refs = recordRefs(btf, dumper);
  const { source, count } = staticAsserts(btf, refs);
  writeFileSync(join(dir, 'asserts.c'), `#include "vmlinux.h"\n${source}`);
  // Without the CO-RE pragma: that attribute does not change layout, and this is what
  // programs that define BPF_NO_PRESERVE_ACCESS_INDEX get.
  clang(['-fsyntax-only', '-DBPF_NO_PRESERVE_ACCESS_INDEX', 'asserts.c'], dir);
  clang(['-fsyntax-only', 'asserts.c'], dir);
  t.diagnostic(`${refs.length} records, ${count} static asserts of size and offset`);
  assert.ok(refs.length > 5000, `only ${refs.length} records`);
});

needsTest('kernel vmlinux.h: the structs BPF programs use, and every record with bitfields, compile to the kernel\'s BTF layout', { clang: true, kernelBtf: true }, (t) => {
  const btf = kernelBtf();
  const { dumper, text } = kernelHeader();
  const all = recordRefs(btf, dumper);
  const listed = PROGRAM_STRUCTS.map((name) => {
    const ids = btf.idsByName(name, 'struct');
    assert.equal(ids.length, 1, `struct ${name}: ${ids.length} in the kernel's BTF`);
    return all.find((r) => r.id === ids[0])!;
  });
  const withBitfields = all.filter((r) => !listed.includes(r) && hasBitfield(btf, btf.types[r.recordId] as Struct));
  const refs = [...listed, ...withBitfields];
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-vmlinux-'));
  const mismatches = compareCompiled(btf, refs, dir, text);
  assert.deepEqual(mismatches.slice(0, 30), []);
  const bitfields = refs.reduce((n, r) => n + countBitfields(btf, btf.types[r.recordId] as Struct), 0);
  t.diagnostic(`${listed.length} listed structs and ${withBitfields.length} records with bitfields (${bitfields} bitfields) match member by member`);
  assert.ok(withBitfields.length > 100);
});

function countBitfields(btf: Btf, s: Struct): number {
  return s.members.reduce((n, m) => {
    const inner = anonRecord(btf, m.type);
    return n + (memberBits(btf, s, m).bits ? 1 : 0) + (inner ? countBitfields(btf, inner) : 0);
  }, 0);
}

needsTest("seed's exitsnoop compiles against the generated vmlinux.h", { clang: true, kernelBtf: true }, () => {
  const dir = tempWithHeader();
  for (const f of ['exitsnoop.bpf.c', 'exitsnoop.h']) copyFileSync(join(SEED, f), join(dir, f));
  clang(['-g', '-O2', '-Wall', '-c', 'exitsnoop.bpf.c', '-o', 'exitsnoop.bpf.o'], dir);
  const elf = parseElf(new Uint8Array(readFileSync(join(dir, 'exitsnoop.bpf.o'))));
  assert.ok(elf.sectionByName('tp/sched/sched_process_exit'));
  assert.ok(elf.sectionByName('.BTF.ext'), 'CO-RE relocations need .BTF.ext');
});

kernelTest("seed's exitsnoop built against the generated vmlinux.h loads (CO-RE relocations resolve against the kernel)", () => {
  assert.ok(haveClang || !inCI, 'clang is needed');
  if (!haveClang) return;
  const dir = tempWithHeader();
  for (const f of ['exitsnoop.bpf.c', 'exitsnoop.h']) copyFileSync(join(SEED, f), join(dir, f));
  clang(['-g', '-O2', '-c', 'exitsnoop.bpf.c', '-o', 'exitsnoop.bpf.o'], dir);
  const coll = Collection.load(loadObjectFile(join(dir, 'exitsnoop.bpf.o')));
  try {
    assert.ok(coll.program('handle_exit').info().id > 0);
  } finally {
    coll.close();
  }
});

// ------------------------------------------------------------------ hand-built BTF

function btfOf(...types: BtfType[]): Btf {
  return new Btf([{ kind: 'void', name: '' }, ...types], new StringTable(new Uint8Array(1)));
}
const int = (name = 'int', size = 4, signed = true): Int => ({ kind: 'int', name, size, encoding: signed ? 1 : 0, bitOffset: 0, bits: size * 8 });
const mem = (name: string, type: number, bitOffset: number, bitfieldSize = 0): Member => ({ name, type, bitOffset, bitfieldSize });
const struct = (name: string, size: number, members: Member[], kind: 'struct' | 'union' = 'struct'): Struct => ({
  kind, name, size, members, kflag: members.some((m) => m.bitfieldSize > 0),
});
const ptr = (type: number): BtfType => ({ kind: 'ptr', name: '', type });
const bare = (btf: Btf) => dumpC(btf, { header: false });

/** The exact text, and (with clang) the layout clang gives it. */
function expectC(btf: Btf, expected: string): void {
  assert.equal(bare(btf), expected);
  if (haveClang) checkLayoutWithClang(btf, expected);
  else if (inCI) assert.fail('clang is needed to check the layout, and CI=true forbids skipping');
}

test('pointer cycle: a forward declaration; a struct embedded by value comes first whatever its id', () => {
  const btf = btfOf(
    int(), // 1
    struct('a', 16, [mem('b', 4, 0), mem('x', 1, 64)]), // 2
    struct('b', 8, [mem('a', 5, 0)]), // 3
    ptr(3), // 4
    ptr(2), // 5
    struct('outer', 16, [mem('self', 8, 0), mem('in', 7, 64)]), // 6
    struct('inner', 4, [mem('v', 1, 0)]), // 7
    ptr(6), // 8
    // A pointer to a typedef of a struct not yet defined: the typedef goes out early.
    struct('holder', 8, [mem('l', 10, 0)]), // 9
    ptr(11), // 10
    { kind: 'typedef', name: 'later_t', type: 12 }, // 11
    struct('later', 4, [mem('h', 1, 0)]), // 12
  );
  expectC(btf, `struct b;

struct a {
	struct b *b;
	int x;
};

struct b {
	struct a *a;
};

struct inner {
	int v;
};

struct outer {
	struct outer *self;
	struct inner in;
};

struct later;

typedef struct later later_t;

struct holder {
	later_t *l;
};

struct later {
	int h;
};

`);
});

test('anonymous members: nested union and struct inline, an inline anonymous enum, a typedef of an anonymous struct', () => {
  const btf = btfOf(
    int(), // 1
    int('short int', 2), // 2
    struct('', 4, [mem('lo', 2, 0), mem('hi', 2, 16)]), // 3
    struct('', 4, [mem('i', 1, 0), mem('parts', 3, 0)], 'union'), // 4
    struct('s', 12, [mem('kind', 1, 0), mem('', 4, 32), mem('state', 6, 64)]), // 5
    { kind: 'enum', name: '', size: 4, signed: false, values: [{ name: 'ON', value: 1 }, { name: 'OFF', value: 0 }] }, // 6
    struct('', 8, [mem('x', 1, 0), mem('y', 1, 32)]), // 7
    { kind: 'typedef', name: 'point_t', type: 7 }, // 8
    // Nothing refers to it: a block of constants, at the top level.
    { kind: 'enum', name: '', size: 4, signed: true, values: [{ name: 'LIMIT', value: -1 }] }, // 9
  );
  expectC(btf, `struct s {
	int kind;
	union {
		int i;
		struct {
			short int lo;
			short int hi;
		} parts;
	};
	enum {
		ON = 1,
		OFF = 0,
	} state;
};

typedef struct {
	int x;
	int y;
} point_t;

enum {
	LIMIT = -1,
};

`);
});

test('bitfields: kflag members with gaps, old-style int bitfields, padding to a later member', () => {
  const btf = btfOf(
    int('unsigned int', 4, false), // 1
    int('unsigned char', 1, false), // 2
    struct('flags', 4, [mem('a', 1, 0, 1), mem('b', 1, 1, 3), mem('c', 1, 8, 4), mem('d', 2, 16)]), // 3
    { kind: 'int', name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 3 }, // 4
    { kind: 'int', name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 5 }, // 5
    { kind: 'struct', name: 'old', size: 4, kflag: false, members: [mem('x', 4, 0), mem('y', 5, 3)] }, // 6
    int('long unsigned int', 8, false), // 7
    struct('spread', 24, [mem('lo', 7, 0, 4), mem('hi', 7, 68, 2), mem('tail', 2, 128)]), // 8
  );
  expectC(btf, `struct flags {
	unsigned int a: 1;
	unsigned int b: 3;
	char: 4;
	unsigned int c: 4;
	unsigned char d;
};

struct old {
	int x: 3;
	int y: 5;
};

struct spread {
	long unsigned int lo: 4;
	long: 60;
	char: 4;
	long unsigned int hi: 2;
	long: 0;
	unsigned char tail;
};

`);
});

test('packed: a misaligned member, a size that is not a multiple of the alignment, a packed struct embedded', () => {
  const btf = btfOf(
    int(), // 1
    int('char', 1, true), // 2
    struct('pk', 5, [mem('c', 2, 0), mem('i', 1, 8)]), // 3
    struct('pk2', 5, [mem('a', 1, 0), mem('b', 2, 32)]), // 4
    struct('host', 12, [mem('c', 2, 0), mem('p', 3, 8), mem('n', 1, 64)]), // 5
  );
  expectC(btf, `struct pk {
	char c;
	int i;
} __attribute__((packed));

struct pk2 {
	int a;
	char b;
} __attribute__((packed));

struct host {
	char c;
	struct pk p;
	int n;
};

`);
});

test('alignment: an over-aligned union gets aligned(N); an over-aligned struct is padded, and so is its place in another', () => {
  const btf = btfOf(
    int('long unsigned int', 8, false), // 1
    struct('au', 64, [mem('x', 1, 0)], 'union'), // 2
    int(), // 3
    struct('as', 64, [mem('a', 3, 0)]), // 4
    int('char', 1, true), // 5
    struct('outer2', 128, [mem('c', 5, 0), mem('s', 4, 512)]), // 6
    struct('empty_u', 8, [], 'union'), // 7
    struct('odd_u', 24, [mem('x', 1, 0), mem('y', 3, 0)], 'union'), // 8
  );
  expectC(btf, `union au {
	long unsigned int x;
} __attribute__((aligned(64)));

struct as {
	int a;
	long: 64;
	long: 64;
	long: 64;
	long: 64;
	long: 64;
	long: 64;
	long: 64;
};

struct outer2 {
	char c;
	long: 64;
	long: 64;
	long: 64;
	long: 64;
	long: 64;
	long: 64;
	long: 64;
	struct as s;
};

union empty_u {
	struct {
		long: 64;
	};
};

union odd_u {
	long unsigned int x;
	int y;
	struct {
		long: 64;
		long: 64;
		long: 64;
	};
};

`);
});

test('declarators: function pointer typedefs, varargs, a function typedef, arrays of one and two dimensions, pointer to array', () => {
  const btf = btfOf(
    int(), // 1
    ptr(0), // 2 void *
    { kind: 'func_proto', name: '', returnType: 1, params: [{ name: '', type: 2 }, { name: 'n', type: 1 }] }, // 3
    ptr(3), // 4
    { kind: 'typedef', name: 'handler_t', type: 4 }, // 5
    { kind: 'func_proto', name: '', returnType: 0, params: [{ name: '', type: 1 }] }, // 6
    { kind: 'typedef', name: 'fn_t', type: 6 }, // 7
    int('char', 1, true), // 8
    { kind: 'const', name: '', type: 8 }, // 9
    ptr(9), // 10 const char *
    { kind: 'func_proto', name: '', returnType: 1, params: [{ name: 'fmt', type: 10 }, { name: '', type: 0 }] }, // 11
    ptr(11), // 12
    { kind: 'array', name: '', type: 1, indexType: 1, nelems: 3 }, // 13 int[3]
    { kind: 'array', name: '', type: 13, indexType: 1, nelems: 2 }, // 14 int[2][3]
    ptr(8), // 15 char *
    { kind: 'array', name: '', type: 15, indexType: 1, nelems: 4 }, // 16 char *[4]
    ptr(13), // 17 int (*)[3]
    { kind: 'func_proto', name: '', returnType: 0, params: [] }, // 18
    ptr(18), // 19
    { kind: 'array', name: '', type: 19, indexType: 1, nelems: 2 }, // 20 void (*[2])(void)
    struct('ops', 96, [
      mem('handler', 5, 0), mem('printer', 12, 64), mem('grid', 14, 128), mem('names', 16, 320), mem('rowp', 17, 576),
      mem('hooks', 20, 640),
    ]), // 21
  );
  expectC(btf, `typedef int (*handler_t)(void *, int n);

typedef void fn_t(int);

struct ops {
	handler_t handler;
	int (*printer)(const char *fmt, ...);
	int grid[2][3];
	char *names[4];
	int (*rowp)[3];
	void (*hooks[2])(void);
};

`);
});

test('qualifiers: a const volatile pointer chain, restrict, and type tags dropped', () => {
  const btf = btfOf(
    int(), // 1
    { kind: 'const', name: '', type: 1 }, // 2
    { kind: 'volatile', name: '', type: 2 }, // 3 const volatile int
    ptr(3), // 4
    { kind: 'const', name: '', type: 4 }, // 5 * const
    ptr(5), // 6
    { kind: 'volatile', name: '', type: 6 }, // 7 * volatile
    { kind: 'typedef', name: 'cvp_t', type: 7 }, // 8
    { kind: 'type_tag', name: 'rcu', type: 1 }, // 9
    ptr(9), // 10
    { kind: 'restrict', name: '', type: 10 }, // 11
    { kind: 'func_proto', name: '', returnType: 0, params: [{ name: 'dst', type: 11 }] }, // 12
    ptr(12), // 13
    { kind: 'typedef', name: 'copy_fn', type: 13 }, // 14
  );
  expectC(btf, `typedef const volatile int * const * volatile cvp_t;

typedef void (*copy_fn)(int * restrict dst);

`);
});

test('duplicate names: the second struct foo is foo___2, and so are a repeated typedef and enumerator; forward declarations keep the name', () => {
  const btf = btfOf(
    int(), // 1
    struct('foo', 4, [mem('a', 1, 0)]), // 2
    struct('foo', 8, [mem('a', 1, 0), mem('b', 1, 32)]), // 3
    struct('bar', 16, [mem('f', 3, 0), mem('g', 7, 64)]), // 4
    { kind: 'enum', name: 'e1', size: 4, signed: false, values: [{ name: 'X', value: 1 }] }, // 5
    { kind: 'enum', name: 'e2', size: 4, signed: false, values: [{ name: 'X', value: 2 }] }, // 6
    ptr(8), // 7
    { kind: 'fwd', name: 'foo', union: false }, // 8
    { kind: 'typedef', name: 'id_t', type: 1 }, // 9
    { kind: 'typedef', name: 'id_t', type: 2 }, // 10
  );
  const d = new CDumper(btf);
  const text = d.dump({ header: false });
  const expected = `struct foo {
	int a;
};

struct foo___2 {
	int a;
	int b;
};

struct foo;

struct bar {
	struct foo___2 f;
	struct foo *g;
};

enum e1 {
	X = 1,
};

enum e2 {
	X___2 = 2,
};

typedef int id_t;

typedef struct foo id_t___2;

`;
  assert.equal(text, expected);
  assert.equal(d.cName(2), 'foo');
  assert.equal(d.cName(3), 'foo___2');
  assert.equal(d.cName(10), 'id_t___2');
  expectC(btf, expected);
});

test('enums: enum64 with 64-bit values, signed minimum, forced sizes with mode(word)/mode(byte)/mode(HI)', () => {
  const btf = btfOf(
    { kind: 'enum64', name: 'big', size: 8, signed: false, values: [{ name: 'SMALL', value: 1n }, { name: 'BIG', value: 1n << 40n }, { name: 'ALL', value: (1n << 64n) - 1n }] },
    { kind: 'enum64', name: 'sneg', size: 8, signed: true, values: [{ name: 'M1', value: -1n }, { name: 'MIN', value: -(1n << 63n) }] },
    { kind: 'enum64', name: 'small64', size: 8, signed: false, values: [{ name: 'ONE', value: 1n }] },
    { kind: 'enum', name: 'tiny', size: 1, signed: false, values: [{ name: 'T', value: 255 }] },
    { kind: 'enum', name: 'half', size: 2, signed: true, values: [{ name: 'H', value: -2 }] },
    { kind: 'enum', name: 'wide', size: 8, signed: true, values: [{ name: 'W', value: -2147483648 }] },
    { kind: 'enum', name: 'decl_only', size: 4, signed: false, values: [] },
    struct('uses', 24, [mem('b', 1, 0), mem('t', 4, 64), mem('h', 5, 80), mem('w', 6, 128)]),
  );
  expectC(btf, `enum big {
	SMALL = 1ULL,
	BIG = 1099511627776ULL,
	ALL = 18446744073709551615ULL,
};

enum sneg {
	M1 = -1LL,
	MIN = (-9223372036854775807LL - 1),
};

enum small64 {
	ONE = 1ULL,
} __attribute__((mode(word)));

enum tiny {
	T = 255,
} __attribute__((mode(byte)));

enum half {
	H = -2,
} __attribute__((mode(HI)));

enum wide {
	W = (-2147483647 - 1),
} __attribute__((mode(word)));

enum decl_only;

struct uses {
	enum big b;
	enum tiny t;
	enum half h;
	enum wide w;
};

`);
});

test('base types: _Bool, double, __int128 of both signs, ints with names that are not C, keyword member names, va_list', () => {
  const btf = btfOf(
    { kind: 'int', name: '_Bool', size: 1, encoding: 4, bitOffset: 0, bits: 8 }, // 1
    { kind: 'float', name: 'double', size: 8 }, // 2
    int('unsigned __int128', 16, false), // 3
    int('__int128', 16, true), // 4
    int('u8', 1, false), // 5: not a C spelling
    int('s64', 8, true), // 6
    int('char', 1, true), // 7
    struct('__va_list_tag', 24, [mem('gp_offset', 9, 0), mem('fp_offset', 9, 32), mem('overflow_arg_area', 10, 64), mem('reg_save_area', 10, 128)]), // 8
    int('unsigned int', 4, false), // 9
    ptr(0), // 10
    { kind: 'array', name: '', type: 8, indexType: 9, nelems: 1 }, // 11
    { kind: 'typedef', name: '__builtin_va_list', type: 11 }, // 12: the compiler's own; not redefined
    { kind: 'typedef', name: 'va_list', type: 12 }, // 13
    struct('nums', 64, [
      mem('b', 1, 0), mem('d', 2, 64), mem('u', 3, 128), mem('s', 4, 256), mem('small', 5, 384), mem('wide', 6, 448),
    ]), // 14
    struct('kw', 8, [mem('int', 9, 0), mem('default', 9, 32)]), // 15
    struct('warn_args', 32, [mem('fmt', 10, 0), mem('args', 13, 64)]), // 16
  );
  expectC(btf, `struct __va_list_tag {
	unsigned int gp_offset;
	unsigned int fp_offset;
	void *overflow_arg_area;
	void *reg_save_area;
};

typedef __builtin_va_list va_list;

struct nums {
	_Bool b;
	double d;
	unsigned __int128 u;
	__int128 s;
	unsigned char small;
	long long wide;
};

struct kw {
	unsigned int int___;
	unsigned int default___;
};

struct warn_args {
	void *fmt;
	va_list args;
	long: 64;
	long: 64;
};

`);
});

test('BTF that C cannot express is a ParseError, not a crash', () => {
  // A struct that contains itself by value.
  throwsParse(() => bare(btfOf(struct('loop', 4, [mem('self', 1, 0)]))), /cycle/);
  // A qualifier that qualifies itself.
  throwsParse(() => bare(btfOf(int(), { kind: 'const', name: '', type: 2 }, { kind: 'typedef', name: 't', type: 2 })), /cycl|deep/);
});

// ------------------------------------------------------------------ raw format

test('raw format: one line per type, members, values and parameters indented (bpftool\'s layout)', () => {
  const btf = btfOf(
    int('unsigned int', 4, false), // 1
    ptr(3), // 2
    struct('pair', 8, [mem('a', 1, 0), mem('b', 1, 32, 5)]), // 3
    { kind: 'array', name: '', type: 1, indexType: 1, nelems: 4 }, // 4
    { kind: 'enum', name: 'e', size: 4, signed: true, values: [{ name: 'NEG', value: -1 }] }, // 5
    { kind: 'enum64', name: 'e64', size: 8, signed: false, values: [{ name: 'HUGE', value: 1n << 40n }] }, // 6
    { kind: 'fwd', name: 'opaque', union: true }, // 7
    { kind: 'typedef', name: 'u32', type: 1 }, // 8
    { kind: 'const', name: '', type: 8 }, // 9
    { kind: 'func_proto', name: '', returnType: 1, params: [{ name: 'p', type: 2 }] }, // 10
    { kind: 'func', name: 'f', type: 10, linkage: 1 }, // 11
    { kind: 'var', name: 'v', type: 1, linkage: 1 }, // 12
    { kind: 'datasec', name: '.data', size: 4, vars: [{ type: 12, offset: 0, size: 4 }] }, // 13
    { kind: 'float', name: 'double', size: 8 }, // 14
    { kind: 'decl_tag', name: 'tag', type: 11, componentIdx: -1 }, // 15
    { kind: 'type_tag', name: 'rcu', type: 3 }, // 16
    { kind: 'volatile', name: '', type: 1 }, // 17
    { kind: 'restrict', name: '', type: 2 }, // 18
  );
  assert.equal(dumpRaw(btf), `[1] INT 'unsigned int' size=4 bits_offset=0 nr_bits=32 encoding=(none)
[2] PTR '(anon)' type_id=3
[3] STRUCT 'pair' size=8 vlen=2
	'a' type_id=1 bits_offset=0
	'b' type_id=1 bits_offset=32 bitfield_size=5
[4] ARRAY '(anon)' type_id=1 index_type_id=1 nr_elems=4
[5] ENUM 'e' encoding=SIGNED size=4 vlen=1
	'NEG' val=-1
[6] ENUM64 'e64' encoding=UNSIGNED size=8 vlen=1
	'HUGE' val=1099511627776ULL
[7] FWD 'opaque' fwd_kind=union
[8] TYPEDEF 'u32' type_id=1
[9] CONST '(anon)' type_id=8
[10] FUNC_PROTO '(anon)' ret_type_id=1 vlen=1
	'p' type_id=2
[11] FUNC 'f' type_id=10 linkage=global
[12] VAR 'v' type_id=1, linkage=global
[13] DATASEC '.data' size=4 vlen=1
	type_id=12 offset=0 size=4 (VAR 'v')
[14] FLOAT 'double' size=8
[15] DECL_TAG 'tag' type_id=11 component_idx=-1
[16] TYPE_TAG 'rcu' type_id=3
[17] VOLATILE '(anon)' type_id=1
[18] RESTRICT '(anon)' type_id=2
`);
});

test("raw format of a fixture object is bpftool's, line for line", (t) => {
  const obj = join(ROOT, 'testdata', 'maps.bpf.o');
  // Debian installs bpftool in /usr/sbin, which a non-login PATH may lack.
  const bpftool = existsSync('/usr/sbin/bpftool') ? '/usr/sbin/bpftool' : 'bpftool';
  const r = spawnSync(bpftool, ['btf', 'dump', 'file', obj], { encoding: 'utf8' });
  if (r.error) {
    // scripts/test.sh installs it; only a bare `node --test` elsewhere may lack it.
    if (inCI) assert.fail(`bpftool, the reference, did not run: ${r.error.message}`);
    return t.skip('bpftool is not installed (scripts/test.sh installs it)');
  }
  assert.equal(r.status, 0, r.stderr);
  const btf = parseBtf(parseElf(new Uint8Array(readFileSync(obj))).sectionByName('.BTF')!.data);
  assert.equal(dumpRaw(btf), r.stdout);
});

// ------------------------------------------------------------------ command line

function tsbpf(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('tsbpf btf dump OBJECT: its types as C, struct slot with its members', () => {
  const r = tsbpf(['btf', 'dump', join(ROOT, 'testdata', 'maps.bpf.o')]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.includes('struct slot {\n\t__u64 sum;\n\t__u32 hits;\n\t__u32 last;\n};\n'), r.stdout);
  assert.ok(r.stdout.startsWith('#ifndef __VMLINUX_H__\n'));
  assert.equal(r.stderr, '');
});

test('tsbpf btf dump --format raw and -o', () => {
  const obj = join(ROOT, 'testdata', 'maps.bpf.o');
  const r = tsbpf(['btf', 'dump', obj, '--format', 'raw']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\[\d+\] STRUCT 'slot' size=16 vlen=3\n\t'sum' type_id=\d+ bits_offset=0\n\t'hits' type_id=\d+ bits_offset=64\n\t'last' type_id=\d+ bits_offset=96$/m);
  const out = join(mkdtempSync(join(tmpdir(), 'tsbpf-btfdump-')), 'x.h');
  const w = tsbpf(['btf', 'dump', obj, '-o', out]);
  assert.equal(w.status, 0, w.stderr);
  assert.equal(w.stdout, '');
  assert.equal(readFileSync(out, 'utf8'), tsbpf(['btf', 'dump', obj]).stdout);
});

needsTest('tsbpf btf dump with no FILE dumps the running kernel', { kernelBtf: true }, () => {
  const r = tsbpf(['btf', 'dump']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, kernelHeader().text);
});

test('tsbpf btf dump: a missing file, a file that is not BTF, corrupt BTF, an ELF without .BTF, a bad --format', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-btfdump-'));
  const cases: [string[], RegExp][] = [
    [['btf', 'dump', join(dir, 'nope.o')], /^tsbpf: .*nope\.o: no such file\n$/],
    [['btf', 'dump', join(ROOT, 'package.json')], /^tsbpf: .*package\.json: neither raw BTF .* nor an ELF object/],
    [['btf', 'dump', join(ROOT, 'testdata', 'maps.bpf.o'), '--format', 'xml'], /^tsbpf: --format: xml is not c or raw\n$/],
    [['btf', 'dump', process.execPath], /^tsbpf: .*: the ELF file has no \.BTF section/],
  ];
  const corrupt = join(dir, 'corrupt.btf');
  const good = parseElf(new Uint8Array(readFileSync(join(ROOT, 'testdata', 'maps.bpf.o')))).sectionByName('.BTF')!.data;
  writeFileSync(corrupt, good.subarray(0, 40));
  cases.push([['btf', 'dump', corrupt], /^tsbpf: .*corrupt\.btf: BTF: .*past the end/]);
  for (const [args, re] of cases) {
    const r = tsbpf(args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stdout, '');
  }
});

test('a 60 KiB name used by 2,000 members: the C and raw dumps stop at 64 MiB of text with one typed error', () => {
  const long = 'n'.repeat(60 * 1024);
  const members: Member[] = Array.from({ length: 2000 }, (_, i) => ({ name: long, type: 1, bitOffset: i * 32, bitfieldSize: 0 }));
  const btf = btfOf(int(), { kind: 'struct', name: 'wide', size: 8000, kflag: false, members });
  assert.throws(() => dumpRaw(btf), (e: unknown) => e instanceof Error && e.name === 'TsbpfError' && /^the raw dump would be more than 64 MiB of text/.test(e.message));
  assert.throws(() => dumpC(btf), (e: unknown) => e instanceof Error && e.name === 'TsbpfError' && /^the C dump would be more than 64 MiB of text/.test(e.message));
});
