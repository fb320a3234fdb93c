/**
 * Map creation rules and object forms against FakeSys (no root): which attributes reach
 * BPF_MAP_CREATE per map type, the ENOTSUPP retry, slot initialisation order, autoload,
 * and that an object's fault is named without probing the kernel.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Collection, NO_BTF_MAP_TYPES, mapDefinitionFault, setMapSizes } from '../src/loader/index.js';
import { loadObjectFile, type MapSpec } from '../src/object/index.js';
import * as C from '../src/sys/constants.js';
import { EINVAL, ENOTSUPP, SysError } from '../src/sys/errors.js';
import { FakeSys } from '../src/sys/fake.js';
import { defaultSys } from '../src/sys/index.js';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';
import { throwsTsbpf } from './throws.js';

const corpus = (name: string) => loadObjectFile(join(ROOT, 'testdata', 'corpus', `${name}.bpf.o`));

test('types without BTF key/value are created without them on the first try; others with them', () => {
  const sys = new FakeSys();
  using coll = Collection.load(corpus('maptypes'), { sys });
  const calls = sys.callsOf('mapCreate').map(([a]) => a);
  // One call per map plus the two inner-map templates: nothing was retried.
  assert.equal(calls.length, coll.maps.size + 2);
  for (const a of calls) {
    const name = a.mapName!;
    if (NO_BTF_MAP_TYPES.has(a.mapType)) {
      assert.deepEqual([a.btfFd, a.btfKeyTypeId, a.btfValueTypeId], [undefined, undefined, undefined], `${name} without BTF`);
    } else {
      // Kernel names have 15 characters: "inner_hash.inner" is "inner_hash.inne".
      assert.ok(a.mapType === C.BPF_MAP_TYPE_ARRAY && /^inner_(arr|hash)\.inne/.test(name), `${name}: only the inner templates (ARRAY) get BTF here`);
      assert.ok(a.btfValueTypeId! > 0);
    }
  }
  // PERF_EVENT_ARRAY without max_entries: one slot per possible CPU.
  assert.equal(calls.find((a) => a.mapName === 'perf')!.maxEntries, sys.possibleCpus());
  // Map-in-map: the outer map gets the fd of an inner template of the declared shape.
  const outer = calls.find((a) => a.mapName === 'inner_hash')!;
  assert.ok(outer.innerMapFd! > 0);
  const tmpl = calls.find((a) => a.mapName === 'inner_hash.inne')!;
  assert.deepEqual([tmpl.mapType, tmpl.keySize, tmpl.valueSize, tmpl.maxEntries], [C.BPF_MAP_TYPE_ARRAY, 4, 4, 1]);
});

test('ENOTSUPP for BTF key/value (any other type) retries without BTF, as EINVAL does', () => {
  const sys = new FakeSys().failNext('mapCreate', ENOTSUPP);
  using coll = loadUnpinned(sys);
  const [first, second] = sys.callsOf('mapCreate').map(([a]) => a);
  assert.equal(first!.mapName, 'local');
  assert.ok(first!.btfValueTypeId! > 0);
  assert.equal(second!.mapName, 'local');
  assert.equal(second!.btfFd, undefined);
  assert.ok(coll);
});

/** pinned.bpf.o without its pinning, so FakeSys needs no bpffs. */
function loadUnpinned(sys: FakeSys): Collection {
  const s = corpus('pinned');
  for (const m of s.maps) m.pinning = 0;
  return Collection.load(s, { sys });
}

test('an object fault is named without probing: STACK_TRACE without value size, max_entries 0', () => {
  const sys = new FakeSys().failNext('mapCreate', EINVAL);
  throwsTsbpf(() => Collection.load(corpus('stackmap'), { sys }), /^map stacks \(BPF_MAP_TYPE_STACK_TRACE\): value_size 0 is not a whole number of 8-byte frames/);
  assert.equal(sys.callsOf('mapCreate').length, 1, 'no probe: the definition is at fault');
  assert.equal(sys.openFds.size, 0);

  const def = (over: Partial<MapSpec>): MapSpec => ({
    name: 'm', type: C.BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, numaNode: 0, pinning: 0, mapExtra: 0n,
    keyTypeId: 0, valueTypeId: 0, ...over,
  });
  assert.equal(mapDefinitionFault(def({}), 4096), undefined);
  assert.match(mapDefinitionFault(def({ maxEntries: 0 }), 4096)!, /^map m \(BPF_MAP_TYPE_HASH\): max_entries is 0: the object must set it .*--max-entries m=N\)$/);
  assert.match(mapDefinitionFault(def({ type: C.BPF_MAP_TYPE_QUEUE, keySize: 4 }), 4096)!, /takes no key, but key_size is 4/);
  assert.match(mapDefinitionFault(def({ type: C.BPF_MAP_TYPE_RINGBUF, keySize: 0, valueSize: 0, maxEntries: 5000 }), 4096)!, /power of 2 and a multiple of the page size \(4096\)/);
  assert.equal(mapDefinitionFault(def({ type: C.BPF_MAP_TYPE_RINGBUF, keySize: 0, valueSize: 0, maxEntries: 8192 }), 4096), undefined);
  assert.match(mapDefinitionFault(def({ type: C.BPF_MAP_TYPE_ARRAY, keySize: 8 }), 4096)!, /key_size must be 4 \(a u32 index\), not 8/);
  assert.match(mapDefinitionFault(def({ type: C.BPF_MAP_TYPE_SK_STORAGE, maxEntries: 4 }), 4096)!, /max_entries must be 0 for local storage maps/);
  assert.equal(mapDefinitionFault(def({ type: C.BPF_MAP_TYPE_SK_STORAGE, maxEntries: 0 }), 4096), undefined);

  // A valid definition the kernel refuses: the probe (valid attributes) decides.
  const lacks = new FakeSys().failNext('mapCreate', EINVAL).failNext('mapCreate', EINVAL).failNext('mapCreate', EINVAL);
  throwsTsbpf(() => Collection.load(corpus('mapsonly'), { sys: lacks }), /^BPF_MAP_TYPE_HASH maps: not supported by this kernel \(map table\)$/);
  const probe = lacks.callsOf('mapCreate').map(([a]) => a)[2]!;
  assert.deepEqual([probe.mapType, probe.keySize, probe.valueSize, probe.maxEntries], [C.BPF_MAP_TYPE_HASH, 4, 4, 1]);
});

test('slots: inner maps stored before the program loads, programs stored after; autoload honoured', () => {
  const sys = new FakeSys();
  using coll = Collection.load(corpus('tailcall'), { sys });
  const order = sys.calls.map((c) => c.method).filter((m) => m === 'progLoad' || m === 'mapUpdateElem');
  assert.deepEqual(order, ['progLoad', 'progLoad', 'progLoad', 'mapUpdateElem', 'mapUpdateElem']);
  const updates = sys.callsOf('mapUpdateElem').map(([fd, k, v]) => [fd, new DataView(k.buffer, k.byteOffset).getUint32(0, true), new DataView(v.buffer, v.byteOffset).getUint32(0, true)]);
  assert.deepEqual(updates, [[coll.map('jumps').fd, 0, coll.program('tail_a').fd], [coll.map('jumps').fd, 2, coll.program('tail_b').fd]]);

  const sys2 = new FakeSys();
  using mm = Collection.load(corpus('mapinmap'), { sys: sys2 });
  const order2 = sys2.calls.map((c) => c.method).filter((m) => m === 'progLoad' || m === 'mapUpdateElem');
  assert.deepEqual(order2, ['mapUpdateElem', 'mapUpdateElem', 'mapUpdateElem', 'progLoad', 'progLoad']);
  const u2 = sys2.callsOf('mapUpdateElem').map(([fd, k, v]) => [fd, new DataView(k.buffer, k.byteOffset).getUint32(0, true), new DataView(v.buffer, v.byteOffset).getUint32(0, true)]);
  assert.deepEqual(u2, [
    [mm.map('outer_arr').fd, 1, mm.map('inner_a').fd],
    [mm.map('outer_arr').fd, 3, mm.map('inner_b').fd],
    [mm.map('outer_hash').fd, 2, mm.map('inner_b').fd],
  ]);

  const sys3 = new FakeSys();
  using al = Collection.load(corpus('autoload'), { sys: sys3 });
  assert.deepEqual(sys3.callsOf('progLoad').map(([a]) => a.progName), ['always']);
  assert.deepEqual([...al.programs.keys()], ['always']);
});

test('setMapSizes reaches BPF_MAP_CREATE', () => {
  const sys = new FakeSys();
  const s = corpus('stackmap');
  setMapSizes(s, 'stacks', { valueSize: 8 * 20, maxEntries: 1000 });
  using coll = Collection.load(s, { sys });
  const a = sys.callsOf('mapCreate').map(([x]) => x).find((x) => x.mapName === 'stacks')!;
  assert.deepEqual([a.keySize, a.valueSize, a.maxEntries], [4, 160, 1000]);
  assert.equal(coll.map('stacks').valueSize, 160);
});

test('RLIMIT_MEMLOCK is raised once before loading on kernels < 5.11 (which charge BPF memory to it), never on newer ones', () => {
  const spec = loadObjectFile(join(ROOT, 'testdata', 'maps.bpf.o'));
  const old = new FakeSys({ kernelRelease: '5.10.0-46-amd64' });
  Collection.load(spec, { sys: old }).close();
  Collection.load(spec, { sys: old }).close();
  assert.equal(old.callsOf('raiseMemlockLimit').length, 1);
  const calls = old.calls.map((c) => c.method);
  assert.ok(calls.indexOf('raiseMemlockLimit') < calls.indexOf('mapCreate'), 'raised before the first map');
  const now = new FakeSys({ kernelRelease: '6.1.0-18-amd64' });
  Collection.load(spec, { sys: now }).close();
  assert.equal(now.callsOf('raiseMemlockLimit').length, 0);
});

kernelTest('raiseMemlockLimit: the real setrlimit gives unlimited with CAP_SYS_RESOURCE, EPERM without it', () => {
  // These machines' root lacks CAP_SYS_RESOURCE (kernel-notes.md); a Debian guest has it.
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
  const CAP_SYS_RESOURCE = 24n;
  if ((capEff >> CAP_SYS_RESOURCE) & 1n) {
    defaultSys().raiseMemlockLimit();
    assert.match(readFileSync('/proc/self/limits', 'utf8'), /^Max locked memory\s+unlimited\s+unlimited\s+bytes\s*$/m);
  } else {
    const before = readFileSync('/proc/self/limits', 'utf8');
    assert.throws(() => defaultSys().raiseMemlockLimit(), (e: unknown) => e instanceof SysError && e.code === 'EPERM' && /setrlimit\(RLIMIT_MEMLOCK\)/.test(e.message));
    assert.equal(readFileSync('/proc/self/limits', 'utf8'), before, 'the limit is unchanged');
  }
});
