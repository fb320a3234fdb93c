/**
 * `tsbpf check` end to end, on the seed's exitsnoop compiled by clang and on the
 * project's fixtures, and the errors users see for bad input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Collection } from '../src/loader/index.js';
import { loadObjectFile } from '../src/object/index.js';
import * as C from '../src/sys/constants.js';
import { allGone, heldAnywhere, isRoot, kernelTest, liveIds, UNPRIVILEGED } from './kernel.js';
import { compileBpf } from './compile.js';
import { CLI, ROOT, SEED } from './paths.js';

function tsbpf(args: string[], opts: { asNobody?: boolean } = {}) {
  const cmd = opts.asNobody
    ? [...UNPRIVILEGED, process.execPath, CLI, ...args]
    : [process.execPath, CLI, ...args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const compileSeed = () => compileBpf(join(SEED, 'exitsnoop.bpf.c'));

const named = (name: string) => (info: { name: string }) => info.name === name;
const gone = (kind: 'prog' | 'map', _name: string, ids: number[]) => allGone(kind, ids);

kernelTest("seed's exitsnoop: loaded, the kernel lists its program and ring buffer; closed, nothing remains", async () => {
  const obj = compileSeed();
  const progsBefore = liveIds('prog', named('handle_exit'));
  const mapsBefore = liveIds('map', named('rb'));
  const coll = Collection.load(loadObjectFile(obj));
  const progId = coll.program('handle_exit').info().id;
  const rb = coll.map('rb').info();
  assert.ok(liveIds('prog', named('handle_exit')).includes(progId));
  assert.ok(liveIds('map', named('rb')).includes(rb.id));
  assert.equal(rb.type, C.BPF_MAP_TYPE_RINGBUF);
  assert.equal(rb.maxEntries, 256 * 1024);
  assert.equal(coll.program('handle_exit').info().type, C.BPF_PROG_TYPE_TRACEPOINT);
  assert.deepEqual([...coll.maps.keys()], ['rb']);
  coll.close();
  assert.ok(await gone('prog', 'handle_exit', [progId]), 'program still loaded after close');
  assert.ok(await gone('map', 'rb', [rb.id]), 'ring buffer still exists after close');

  // The CLI: a table row for the program, exit 0, and afterwards no new program or map.
  const r = tsbpf(['check', obj]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^PROGRAM\s+TYPE\s+SECTION\s+INSNS\s+VERIFIED$/m);
  const row = r.stdout.split('\n').find((l) => l.startsWith('handle_exit'))!;
  const [, type, section, insns, verified] = row.split(/\s+/);
  assert.equal(type, 'tracepoint');
  assert.equal(section, 'tp/sched/sched_process_exit');
  assert.equal(Number(insns), loadObjectFile(obj).programs[0]!.insns.byteLength / 8);
  assert.ok(Number(verified) >= Number(insns) / 2, row);
  assert.match(r.stdout, /maps: rb \(ringbuf\)\n/);
  assert.match(r.stdout, /1 program accepted, 0 rejected/);
  // New objects of these names that a live process holds belong to tests running alongside.
  const held = heldAnywhere();
  assert.ok(await gone('prog', 'handle_exit', liveIds('prog', named('handle_exit')).filter((id) => !progsBefore.includes(id) && !held.prog.has(id))));
  assert.ok(await gone('map', 'rb', liveIds('map', named('rb')).filter((id) => !mapsBefore.includes(id) && !held.map.has(id))));
});

kernelTest('tsbpf check: a rejected program exits 1 with the verifier log on stderr', () => {
  const r = tsbpf(['check', join(ROOT, 'testdata', 'rejected.bpf.o')]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^bad_deref\s+raw_tracepoint\s+raw_tp\/sys_enter\s+9\s+REJECTED$/m);
  assert.match(r.stdout, /^good\s+raw_tracepoint\s+raw_tp\/sys_exit\s+2\s+\d+$/m);
  assert.match(r.stdout, /1 program accepted, 1 rejected/);
  assert.match(r.stderr, /program bad_deref rejected \(EACCES\); verifier log:/);
  assert.match(r.stderr, /invalid mem access 'map_value_or_null'/);
});

kernelTest('tsbpf check -v prints the verifier log of accepted programs', () => {
  const r = tsbpf(['check', '-v', join(ROOT, 'testdata', 'subprog.bpf.o')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /3 programs accepted, 0 rejected/);
  assert.match(r.stderr, /--- verifier log of calls\n/);
  assert.match(r.stderr, /processed \d+ insns/);
});

kernelTest('without root: a clear error that says to run as root', () => {
  const r = tsbpf(['check', join(ROOT, 'testdata', 'maps.bpf.o')], { asNobody: true });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^tsbpf: .*EPERM \(Operation not permitted\).*run as root/m);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/); // no stack trace
});

test('bad input: typed, readable errors and exit status 1, never a crash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-bad-'));
  const good = readFileSync(join(ROOT, 'testdata', 'maps.bpf.o'));
  const write = (name: string, bytes: Uint8Array) => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  };
  // Every occurrence: ELF string tables share tails (".relraw_tp/..." holds "raw_tp/...").
  const renamed = (from: string, to: string) => {
    const b = Buffer.from(good);
    let n = 0;
    for (let at = b.indexOf(from + '\0'); at >= 0; at = b.indexOf(from + '\0', at + 1), n++) b.write(to, at);
    assert.ok(n > 0, from);
    return b;
  };
  copyFileSync('/bin/true', join(dir, 'true'));
  const cases: [string, RegExp][] = [
    [join(dir, 'missing.bpf.o'), /missing\.bpf\.o: no such file/],
    [write('empty.bpf.o', new Uint8Array(0)), /ELF: file is 0 bytes, too short/],
    [write('text.bpf.o', Buffer.from('hello, not an object\n')), /ELF: not an ELF file/],
    [write('truncated.bpf.o', good.subarray(0, good.length >> 1)), /ELF: .*run past the end/],
    [join(dir, 'true'), /ELF: object is for machine x86-64, not BPF/],
    [write('nobtf.bpf.o', renamed('.BTF', '.XXX')), /a \.BTF\.ext section but no \.BTF section: the object is damaged; rebuild it with clang -g/],
    [write('badsec.bpf.o', renamed('raw_tp/sys_enter', 'rxw_tp/sys_enter')), /program count is in section "rxw_tp\/sys_enter", which names no known program type; use one of: .*tp\//],
  ];
  for (const [file, want] of cases) {
    const r = tsbpf(['check', file]);
    assert.equal(r.status, 1, `${file}: ${r.stderr}`);
    assert.match(r.stderr, want, file);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, file);
    assert.equal(r.stdout, '', file);
  }
  const usage = tsbpf(['check']);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /missing required argument 'object'/);
});

test('kernel tests are not silently skipped in CI', () => {
  if (process.env.CI === 'true') assert.ok(isRoot, 'CI must run as root so kernel tests run');
});
