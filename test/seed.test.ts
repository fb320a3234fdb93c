/**
 * The seed document's workflow end to end, in a fresh scratch directory: its own
 * exitsnoop.bpf.c and exitsnoop.h (../shared/seeds/exitsnoop) built with
 * `tsbpf build exitsnoop.bpf.c exitsnoop.h` (ecc's command line), the package checked
 * against the format reference (../shared/reference/eunomia-compat.md), then
 * `tsbpf run package.json` (ecli's) printing the seed's table byte for byte, and `-j`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { inflateSync } from 'node:zlib';
import { parseBtf } from '../src/btf/index.js';
import { parseElf } from '../src/elf/index.js';
import { kernelTest } from './kernel.js';
import { SEED } from './paths.js';
import { start, stop, tsbpf } from './tsbpf-cli.js';

const EXPECTED = readFileSync(join(SEED, 'expected-output.txt'), 'utf8');
const SEED_HEADER = EXPECTED.split('\n')[0]!;
const MEMBERS = ['pid', 'ppid', 'exit_code', 'duration_ns', 'comm'];

/**
 * A table row as the reference describes the seed's layout: each column starts where
 * its header name starts; the row is the time and one space, then per value: pad to the
 * column's start if shorter, else one space; then the value.
 */
function seedRow(header: string, time: string, values: (string | number)[]): string {
  const starts = [...header.matchAll(/\S+/g)].slice(1).map((m) => m.index!);
  let line = time + ' ';
  values.forEach((v, i) => {
    line = line.length < starts[i]! ? line.padEnd(starts[i]!) : line + ' ';
    line += String(v);
  });
  return line;
}

/** Polls until `cond` holds (events reach the ring buffer reader asynchronously). */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
}

/** Processes that exit with known codes; their comm is "sh", their parent this process. */
function exits(codes: number[]): { pid: number; code: number }[] {
  return codes.map((code) => {
    const r = spawnSync('/bin/sh', ['-c', `exit ${code}`]);
    assert.equal(r.status, code);
    return { pid: r.pid!, code };
  });
}

let scratch: string | undefined;
after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});
/** The seed's two files in a fresh directory, built once by `tsbpf build` there. */
function built(): string {
  if (scratch) return scratch;
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-seed-'));
  copyFileSync(join(SEED, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.bpf.c'));
  copyFileSync(join(SEED, 'exitsnoop.h'), join(dir, 'exitsnoop.h'));
  const r = tsbpf(['build', 'exitsnoop.bpf.c', 'exitsnoop.h'], { cwd: dir });
  assert.equal(r.status, 0, `tsbpf build failed (needs clang, llvm-strip, libbpf-dev):\n${r.stderr}`);
  // The progress lines the seed document shows for `ecc exitsnoop.bpf.c exitsnoop.h`.
  assert.match(r.stderr, /Compiling bpf object\.\.\.\nGenerating export types\.\.\.\nPacking ebpf object and config into package\.json\.\.\.\n/);
  return (scratch = dir);
}

test("the row layout helper reproduces the seed's own output byte for byte", () => {
  assert.equal(SEED_HEADER, 'TIME     PID     PPID    EXIT_CODE  DURATION_NS  COMM    ');
  const rows = EXPECTED.split('\n').slice(1).filter(Boolean);
  assert.equal(rows.length, 9);
  for (const row of rows) {
    const [time, ...values] = row.split(/ +/);
    assert.equal(seedRow(SEED_HEADER, time!, values), row);
  }
});

test('tsbpf build exitsnoop.bpf.c exitsnoop.h: the files, and package.json as the format reference says', () => {
  const dir = built();
  for (const f of ['exitsnoop.bpf.o', 'exitsnoop.skel.json', 'package.json']) assert.ok(existsSync(join(dir, f)), `${f} was not written`);
  const object = readFileSync(join(dir, 'exitsnoop.bpf.o'));
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

  // bpf_object: standard padded base64 of zlib deflate of the .bpf.o, size the inflated length.
  assert.equal(typeof pkg.bpf_object, 'string');
  assert.match(pkg.bpf_object, /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
  const compressed = Buffer.from(pkg.bpf_object, 'base64');
  assert.equal(compressed[0], 0x78, 'zlib header');
  const inflated = inflateSync(compressed);
  assert.equal(inflated.byteLength, pkg.bpf_object_size);
  assert.ok(inflated.equals(object), 'bpf_object inflates to the bytes of exitsnoop.bpf.o');

  const skel = pkg.meta.bpf_skel;
  assert.equal(skel.obj_name, 'exitsnoop_bpf');
  assert.deepEqual(skel.maps.map((m: { name: string }) => m.name), ['rb', 'exitsnoo.bss']);
  assert.deepEqual(skel.progs, [{ name: 'handle_exit', attach: 'tp/sched/sched_process_exit', link: true }]);
  assert.equal(pkg.meta.eunomia_version, '0.3.4');

  const ev = pkg.meta.export_types[0];
  assert.equal(ev.name, 'event');
  assert.equal(ev.size, 40);
  const types = ['int', 'int', 'unsigned int', 'unsigned long long', 'char[16]'];
  assert.deepEqual(ev.members, MEMBERS.map((name, i) => ({ name, type: types[i] })));

  // type_id names STRUCT event in the object's own BTF, with the reference's layout.
  const btfSection = parseElf(new Uint8Array(object)).sectionByName('.BTF');
  assert.ok(btfSection, 'the object has .BTF');
  const btf = parseBtf(btfSection.data);
  const t = btf.type(ev.type_id);
  assert.ok(t.kind === 'struct', `type_id ${ev.type_id} is ${t.kind}, not a struct`);
  assert.equal(t.name, 'event');
  assert.equal(t.size, 40);
  assert.deepEqual(
    t.members.map((m) => [m.name, m.bitOffset / 8, btf.typeName(m.type)]),
    [['pid', 0, 'int'], ['ppid', 4, 'int'], ['exit_code', 8, 'unsigned int'], ['duration_ns', 16, 'unsigned long long'], ['comm', 24, 'char[16]']],
  );

  // NAME.skel.json is the package's meta.
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'exitsnoop.skel.json'), 'utf8')), pkg.meta);
});

kernelTest("tsbpf run package.json: the seed's header byte for byte, and rows of the seed's layout", async () => {
  const dir = built();
  const { proc, out, err } = await start(['run', 'package.json'], /running/, { cwd: dir });
  const done = exits([7, 0, 255]);
  await until(() => done.every(({ pid }) => out().includes(` ${pid} `)));
  assert.equal(await stop(proc), 0, err());

  const text = out();
  assert.ok(text.endsWith('\n'));
  const lines = text.slice(0, -1).split('\n');
  assert.equal(lines[0], SEED_HEADER);
  for (const line of lines.slice(1)) assert.match(line, /^\d\d:\d\d:\d\d  \d+ +\d+ +\d+ +0 +.*$/);
  for (const { pid, code } of done) {
    const rows = lines.slice(1).filter((l) => l === seedRow(SEED_HEADER, l.slice(0, 8), [pid, process.pid, code, 0, 'sh']));
    assert.equal(rows.length, 1, `one row for pid ${pid} (exit ${code}) in:\n${text}`);
  }
  assert.doesNotMatch(text, /running/);
});

kernelTest('tsbpf run package.json -j: one JSON object per line, the exact event', async () => {
  const dir = built();
  const { proc, out, err } = await start(['run', 'package.json', '-j'], /running/, { cwd: dir });
  const done = exits([7, 0, 255]);
  await until(() => done.every(({ pid }) => out().includes(`"pid":${pid},`)));
  assert.equal(await stop(proc), 0, err());

  const events = out().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const { pid, code } of done) {
    const mine = events.filter((e) => e.pid === pid);
    assert.equal(mine.length, 1, `one event for pid ${pid}`);
    assert.deepEqual(Object.keys(mine[0]!), MEMBERS);
    // The seed's program sets duration_ns = 0 for every event (its expected output shows 0).
    assert.deepEqual(mine[0], { pid, ppid: process.pid, exit_code: code, duration_ns: 0, comm: 'sh' });
  }
  assert.match(err(), /running/);
});
