/**
 * The conformance corpus (testdata/corpus/*.bpf.o, every object found there, so objects
 * added later are covered) loaded by libbpf 1.1 and by tsbpf on the running kernel:
 *
 *  A. when `bpftool prog loadall` (libbpf, all programs or none) loads the object, tsbpf's
 *     default load loads every program it pinned, with the same xlated instruction count;
 *  B. every program that libbpf loads alone (scripts/libbpf-each.c; `?` programs too),
 *     tsbpf loads alone (LoadOptions.programs), with the same xlated instruction count;
 *  C. when libbpf refuses the object entirely (no program loads; legacy maps, which
 *     libbpf >= 1.0 rejects), the test says so and tsbpf must still load each program,
 *     except what REFUSED lists: objects that are meant to be refused, where tsbpf's
 *     error must be the one line named there. Where the running kernel lacks what a
 *     program needs (a program type, a kfunc: the kernel matrix's 5.10 guest), tsbpf's one
 *     line must say so instead.
 *
 * No load leaves pins behind: maps pinned by name go to private bpffs directories
 * (LoadOptions.pinPath; libbpf-each --pin-root, which also stands in for bpftool's
 * loadall on such objects, since bpftool would pin them under /sys/fs/bpf).
 *
 * One divergence is allowed, and said: libbpf 1.1 decides LINUX_HAS_SYSCALL_WRAPPER by
 * creating a kprobe on __<arch>_sys_bpf, so on a kernel without CONFIG_KPROBES it says 0
 * where tsbpf (kallsyms) says 1, and BPF_KSYSCALL programs keep other instructions; there
 * the counts of programs of objects that use that extern are not compared (they still
 * must load).
 *
 * Needs root, bpftool and a C compiler with libbpf-dev (for libbpf-each); without them
 * the tests skip, except under CI=true, where that is a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { heldIds, kernelTest } from './kernel.js';
import { bpftoolVersion, kernelHasKprobes, libbpfEach, libbpfEachBinary, libbpfLoadAll, tsbpfEach, tsbpfLoad } from './libbpf.js';
import { ROOT } from './paths.js';
import { loadObjectFile } from '../src/object/index.js';
import { kernelBtf } from '../src/btf/index.js';

const CORPUS = join(ROOT, 'testdata', 'corpus');
const inCI = process.env.CI === 'true';
const objects = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => f.endsWith('.bpf.o')).sort() : [];

/**
 * Objects (or object/program) that libbpf refuses on purpose, and the error tsbpf must
 * give for them instead of loading them. Consulted only when libbpf refuses the object
 * entirely (rule C); on a kernel where libbpf loads them, A and B apply.
 */
const REFUSED: Record<string, RegExp> = {
  'pinbad.bpf.o': /map odd: pinning 2/, // a pinning value libbpf does not know
  'stackmap.bpf.o': /map stacks .*value_size 0/, // STACK_TRACE value size left to user space
  'ksym_unguarded.bpf.o/call_missing': /tsbpf_no_such_kfunc/, // reachable call to a missing weak kfunc
  'externs_unused.bpf.o/strong': /CONFIG_TSBPF_ALSO_NEVER_SET/, // an unresolvable strong extern
  'ksym_typed.bpf.o/read_rq': /runqueues|ENOENT/, // kernels without CONFIG_KALLSYMS_ALL
};

const wrapperMayDiffer = !kernelHasKprobes();

/**
 * True when tsbpf's error says the running kernel lacks what the object needs (a program
 * or map type, a kfunc that is truly absent from its BTF), as on the 5.10 guest of the
 * kernel matrix. Only consulted where libbpf refused too.
 */
function kernelLacks(error: string): boolean {
  if (/NotSupportedError: .* not supported by this kernel/.test(error)) return true;
  const kfunc = /extern (\w+) \(\.ksyms kfunc\) is not a kfunc in the kernel's BTF/.exec(error)?.[1];
  return kfunc !== undefined && kernelBtf().idByName(kfunc, 'func') === undefined;
}

function missingTool(): string | null {
  if (bpftoolVersion() === null) return 'bpftool, the reference loader (apt-get install bpftool)';
  if (libbpfEachBinary(ROOT) === null) return 'a C compiler and libbpf-dev to build scripts/libbpf-each.c';
  return null;
}

test('the corpus is there: each object beside its source, the third-party-style ones included', () => {
  for (const f of objects) assert.ok(existsSync(join(CORPUS, f.replace(/\.o$/, '.c'))), `${f} has no source ${f.replace(/\.o$/, '.c')}`);
  for (const name of ['ksyscall', 'perfarray', 'usdt', 'runqlat-like', 'kversion', 'hidden_subprog']) {
    assert.ok(objects.includes(`${name}.bpf.o`), `testdata/corpus/${name}.bpf.o is missing (node scripts/build-bpf.mjs)`);
  }
});

for (const f of objects) {
  kernelTest(`corpus ${f}: what libbpf loads, tsbpf loads, with the same xlated instruction count`, (t) => {
    const missing = missingTool();
    if (missing) {
      if (inCI) assert.fail(`needs ${missing}, and CI=true forbids skipping`);
      return t.skip(`needs ${missing}`);
    }
    const path = join(CORPUS, f);
    // Maps pinned by name must not land in /sys/fs/bpf (the loads use private pin roots).
    let pinnedNames: string[] = [];
    try {
      pinnedNames = loadObjectFile(path).maps.filter((m) => (m as { pinning?: number }).pinning === 1).map((m) => m.name);
    } catch {
      // an object tsbpf cannot parse is judged below
    }
    const absentBefore = pinnedNames.filter((n) => !existsSync(join('/sys/fs/bpf', n)));
    const all = libbpfLoadAll(path, libbpfEachBinary(ROOT)!);
    const each = libbpfEach(path, libbpfEachBinary(ROOT)!);
    const mine = tsbpfLoad(path);
    const mineEach = tsbpfEach(path);
    const skipCounts = wrapperMayDiffer && readFileSync(path).includes('LINUX_HAS_SYSCALL_WRAPPER');
    const sameCount = (name: string, mineN: number | undefined, libN: number | undefined, what: string) => {
      if (mineN === libN) return;
      if (skipCounts) t.diagnostic(`${f}: ${name} keeps ${mineN} instructions (tsbpf) vs ${libN} (libbpf): libbpf's LINUX_HAS_SYSCALL_WRAPPER probe needs kprobes, which this kernel lacks`);
      else assert.equal(mineN, libN, `${f}: ${name}${what} keeps ${mineN} instructions loaded by tsbpf, ${libN} by libbpf`);
    };

    // A: the whole object, as bpftool loads it.
    if (all.error === undefined) {
      assert.equal(mine.error, undefined, `libbpf loads ${f}, tsbpf does not: ${mine.error}`);
      for (const [name, ref] of all.programs) {
        const p = mine.programs.get(name);
        assert.ok(p, `${f}: libbpf loads program ${name}, which tsbpf does not see (programs: ${[...mine.programs.keys()].join(', ')})`);
        assert.ok(p.loaded, `${f}: libbpf loads ${name}, tsbpf does not: ${p.error}`);
        sameCount(name, p.xlatedInsns, ref.xlatedInsns, '');
      }
    }

    // B: program by program.
    const libLoaded = [...each.programs.values()].filter((p) => p.loaded);
    for (const ref of libLoaded) {
      const p = mineEach.programs.get(ref.name);
      assert.ok(p?.loaded, `${f}: libbpf loads ${ref.name} alone, tsbpf does not: ${p?.error ?? mineEach.error}`);
      sameCount(ref.name, p.xlatedInsns, ref.xlatedInsns, ' alone');
    }

    // C: libbpf refuses the object entirely.
    if (all.error !== undefined && libLoaded.length === 0) {
      const why = each.error ?? [...each.programs.values()].map((p) => p.error).find(Boolean) ?? all.error;
      t.diagnostic(`libbpf refuses ${f}: ${why}`);
      const objectRule = REFUSED[f];
      if (mine.error !== undefined && kernelLacks(mine.error)) {
        t.diagnostic(`${f}: this kernel lacks what it needs; tsbpf says: ${mine.error}`);
      } else if (mine.error !== undefined || objectRule) {
        assert.ok(objectRule, `libbpf refuses ${f}; tsbpf must load it, but: ${mine.error}`);
        assert.match(mine.error ?? '(tsbpf loaded it)', objectRule, `${f} is meant to be refused with one line matching ${objectRule}`);
      } else {
        for (const p of mineEach.programs.values()) {
          const rule = REFUSED[`${f}/${p.name}`];
          if (!p.loaded && kernelLacks(p.error!)) t.diagnostic(`${f}: ${p.name}: this kernel lacks what it needs; tsbpf says: ${p.error}`);
          else if (rule) assert.match(p.loaded ? '(tsbpf loaded it)' : p.error!, rule, `${f}: ${p.name} is meant to be refused with one line matching ${rule}`);
          else assert.ok(p.loaded, `libbpf refuses ${f}; tsbpf must load ${p.name}, but: ${p.error}`);
        }
      }
    }
    const extra = [...mineEach.programs.values()].filter((p) => p.loaded && !each.programs.get(p.name)?.loaded);
    if (extra.length) t.diagnostic(`${f}: tsbpf also loads ${extra.map((p) => p.name).join(', ')}, which libbpf does not`);

    for (const n of absentBefore) assert.ok(!existsSync(join('/sys/fs/bpf', n)), `${f}: the comparison left a pin at /sys/fs/bpf/${n}`);
    // Everything either loader made is gone from this process (pins removed, fds closed).
    const held = heldIds(process.pid);
    assert.deepEqual({ prog: held.prog, map: held.map, link: held.link }, { prog: [], map: [], link: [] }, `${f}: BPF objects still held after the comparison`);
  });
}
