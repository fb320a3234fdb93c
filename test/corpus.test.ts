/**
 * The conformance corpus (testdata/corpus/*.bpf.o, every object found there, so objects
 * added later are covered) loaded by libbpf and by tsbpf on the running kernel: every
 * program that libbpf (Debian's bpftool prog loadall) loads, tsbpf loads, and the kernel
 * keeps the same number of instructions for both (xlated length). An object that libbpf
 * refuses as a whole (legacy maps: libbpf >= 1.0 rejects them) is said so, and tsbpf must
 * still load every program of it.
 *
 * Needs root and bpftool; without bpftool the tests skip, except under CI=true, where a
 * missing bpftool is a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { heldIds, kernelTest } from './kernel.js';
import { bpftoolVersion, libbpfLoadAll, tsbpfLoad } from './libbpf.js';
import { ROOT } from './paths.js';

const CORPUS = join(ROOT, 'testdata', 'corpus');
const inCI = process.env.CI === 'true';
const objects = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => f.endsWith('.bpf.o')).sort() : [];
const bpftool = bpftoolVersion();

test('the corpus is there: each object beside its source, the third-party-style ones included', () => {
  for (const f of objects) assert.ok(existsSync(join(CORPUS, f.replace(/\.o$/, '.c'))), `${f} has no source ${f.replace(/\.o$/, '.c')}`);
  for (const name of ['ksyscall', 'perfarray', 'usdt', 'runqlat-like', 'kversion']) {
    assert.ok(objects.includes(`${name}.bpf.o`), `testdata/corpus/${name}.bpf.o is missing (node scripts/build-bpf.mjs)`);
  }
});

for (const f of objects) {
  kernelTest(`corpus ${f}: every program libbpf loads, tsbpf loads, with the same xlated instruction count`, (t) => {
    if (bpftool === null) {
      if (inCI) assert.fail('bpftool, the reference loader, does not run, and CI=true forbids skipping (apt-get install bpftool)');
      return t.skip('bpftool is not installed (scripts/test.sh installs it)');
    }
    const path = join(CORPUS, f);
    const lib = libbpfLoadAll(path);
    const mine = tsbpfLoad(path);
    assert.equal(mine.error, undefined, `tsbpf cannot load ${f}: ${mine.error}`);
    if (lib.error !== undefined) {
      t.diagnostic(`libbpf (${bpftool}) refuses ${f}: ${lib.error}; tsbpf must load all of it`);
      for (const p of mine.programs.values()) assert.ok(p.loaded, `${f}: tsbpf does not load ${p.name}: ${p.error}`);
    } else {
      for (const [name, ref] of lib.programs) {
        const p = mine.programs.get(name);
        assert.ok(p, `${f}: libbpf loads program ${name}, which tsbpf does not see (programs: ${[...mine.programs.keys()].join(', ')})`);
        assert.ok(p.loaded, `${f}: libbpf loads ${name}, tsbpf does not: ${p.error}`);
        assert.equal(p.xlatedInsns, ref.xlatedInsns, `${f}: ${name} has ${p.xlatedInsns} instructions loaded by tsbpf, ${ref.xlatedInsns} by libbpf`);
      }
      const extra = [...mine.programs.values()].filter((p) => p.loaded && !lib.programs.has(p.name));
      if (extra.length) t.diagnostic(`${f}: tsbpf also loads ${extra.map((p) => p.name).join(', ')}, which libbpf does not load by default`);
    }
    // Everything either loader made is gone from this process (pins removed, fds closed).
    const held = heldIds(process.pid);
    assert.deepEqual({ prog: held.prog, map: held.map, link: held.link }, { prog: [], map: [], link: [] }, `${f}: BPF objects still held after the comparison`);
  });
}
