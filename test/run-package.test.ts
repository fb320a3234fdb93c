/**
 * `tsbpf run` on broken eunomia packages, through the CLI: every failure is exit status
 * 1, a `tsbpf: ...` message on stderr naming what is wrong, no stack trace, nothing on
 * stdout, and no BPF object left in the kernel. Packages come from `tsbpf build` of the
 * seed (or of a small program written here) in a scratch directory, or from the
 * committed testdata objects via writePackage, then have their JSON mutated.
 * Also: `maps`/`progs` null run normally (the reference: null means []), and a -j run
 * keeps stdout to JSON lines only.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { once } from 'node:events';
import { parseBtf } from '../src/btf/index.js';
import { parseElf } from '../src/elf/index.js';
import { parseObject } from '../src/object/index.js';
import { readPackage, writePackage } from '../src/package/index.js';
import { reportError } from '../src/cli/main.js';
import { VerifierError } from '../src/loader/index.js';
import { allGone, heldIds, kernelTest, liveIds } from './kernel.js';
import { CLI, ROOT, SEED } from './paths.js';
import { buildExample, jsonLines, start, stop, tsbpf } from './tsbpf-cli.js';

type Json = Record<string, any>;

const scratch = mkdtempSync(join(tmpdir(), 'tsbpf-run-package-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let seedDir: string | undefined;
/** The seed built by `tsbpf build` in its own scratch directory (once). */
function seedPackage(): Json {
  if (!seedDir) {
    const dir = join(scratch, 'seed');
    spawnSync('mkdir', [dir]);
    copyFileSync(join(SEED, 'exitsnoop.bpf.c'), join(dir, 'exitsnoop.bpf.c'));
    copyFileSync(join(SEED, 'exitsnoop.h'), join(dir, 'exitsnoop.h'));
    const r = tsbpf(['build', 'exitsnoop.bpf.c', 'exitsnoop.h'], { cwd: dir });
    assert.equal(r.status, 0, `tsbpf build failed (needs clang, llvm-strip, libbpf-dev):\n${r.stderr}`);
    seedDir = dir;
  }
  return JSON.parse(readFileSync(join(seedDir, 'package.json'), 'utf8'));
}

/** A package of a committed testdata object (no compiler needed). */
function fixturePackage(name: string): Json {
  const bytes = new Uint8Array(readFileSync(join(ROOT, 'testdata', `${name}.bpf.o`)));
  return JSON.parse(JSON.stringify(writePackage(bytes, parseObject(bytes, name), [], { objectFile: `${name}.bpf.o` })));
}

/** Writes `doc` (JSON, or raw text) into the scratch directory; returns its file name. */
function write(file: string, doc: Json | string): string {
  writeFileSync(join(scratch, file), typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
  return file;
}

/** `tsbpf run ARGS` in the scratch directory, to completion (a run that should fail, so with a time limit). */
function run(args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI, 'run', ...args], { cwd: scratch, encoding: 'utf8', timeout: 30_000 });
}

/**
 * A clear failure: status 1, nothing on stdout, stderr `tsbpf: MESSAGE` (one line unless
 * `log`: a verifier log follows), no stack trace, and every pattern found in it.
 */
function clearError(r: SpawnSyncReturns<string>, patterns: RegExp[], opts: { log?: boolean } = {}): string {
  assert.equal(r.error, undefined, `tsbpf run did not finish: ${r.error?.message}`);
  assert.equal(r.status, 1, `status ${r.status}, stderr:\n${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^tsbpf: \S/);
  assert.doesNotMatch(r.stderr, /\n\s+at \S|internal error|Error:/, 'no stack trace or raw exception');
  if (!opts.log) assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line:\n${r.stderr}`);
  for (const p of patterns) assert.match(r.stderr, p);
  return r.stderr;
}

/** Ids of live programs and maps whose names start with one of `prefixes`. */
function live(prefixes: string[]): { prog: number[]; map: number[] } {
  const mine = ({ name }: { name: string }) => prefixes.some((p) => name.startsWith(p));
  return { prog: liveIds('prog', mine), map: liveIds('map', mine) };
}

/**
 * After the run: none of its programs or maps is still live (freed after an RCU grace
 * period, so polled). Links hold their program, so no program means no link either.
 */
async function noneLeft(prefixes: string[], before: { prog: number[]; map: number[] }): Promise<void> {
  let left = { prog: [] as number[], map: [] as number[] };
  for (let i = 0; i < 150; i++) {
    const now = live(prefixes);
    left = { prog: now.prog.filter((id) => !before.prog.includes(id)), map: now.map.filter((id) => !before.map.includes(id)) };
    if (!left.prog.length && !left.map.length) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`BPF objects left loaded: programs ${left.prog.join(', ') || 'none'}, maps ${left.map.join(', ') || 'none'}`);
}

/** Replaces every occurrence of `from` in the package's object with `to` (same length). */
function patchObject(doc: Json, from: string, to: string): Json {
  assert.equal(from.length, to.length);
  const bytes = inflateSync(Buffer.from(doc.bpf_object, 'base64'));
  const a = Buffer.from(from, 'latin1');
  const b = Buffer.from(to, 'latin1');
  let n = 0;
  for (let at = bytes.indexOf(a); at >= 0; at = bytes.indexOf(a, at + 1), n++) b.copy(bytes, at);
  assert.ok(n > 0, `${from} is not in the object`);
  return { ...doc, bpf_object: deflateSync(bytes).toString('base64'), bpf_object_size: bytes.byteLength };
}

test('bpf_object_size that does not match the object', () => {
  const doc = seedPackage();
  const size: number = doc.bpf_object_size;
  doc.bpf_object_size = size + 1;
  clearError(run([write('size.json', doc)]), [new RegExp(`^tsbpf: size\\.json: package: bpf_object_size says ${size + 1} but the object is ${size} bytes\\n$`)]);
  doc.bpf_object_size = 'big';
  clearError(run([write('size-text.json', doc)]), [/bpf_object_size is "big", not a byte count/]);
});

test('corrupt base64 in bpf_object', () => {
  const doc = seedPackage();
  doc.bpf_object = doc.bpf_object.slice(0, 40) + '!' + doc.bpf_object.slice(41);
  clearError(run([write('base64.json', doc)]), [/package: bpf_object is not valid base64: character "!" at 40/]);
  doc.bpf_object = seedPackage().bpf_object.replace(/=+$/, '') + 'AB';
  if (doc.bpf_object.length % 4 === 0) doc.bpf_object += 'A';
  clearError(run([write('base64-length.json', doc)]), [/bpf_object is not valid base64: \d+ characters is not a padded multiple of 4/]);
});

test('corrupt zlib in bpf_object', () => {
  const doc = seedPackage();
  doc.bpf_object = Buffer.from('this is base64, but not of zlib data').toString('base64');
  clearError(run([write('zlib.json', doc)]), [/package: bpf_object is not zlib-compressed data \(incorrect header check\)/]);
  // A truncated deflate stream.
  doc.bpf_object = Buffer.from(seedPackage().bpf_object, 'base64').subarray(0, 300).toString('base64');
  clearError(run([write('zlib-short.json', doc)]), [/package: bpf_object is not zlib-compressed data/]);
});

test('an export type_id that is not a struct', () => {
  const doc = seedPackage();
  const btf = parseBtf(parseElf(inflateSync(Buffer.from(doc.bpf_object, 'base64'))).sectionByName('.BTF')!.data);
  const intId = btf.idByName('int', 'int')!;
  doc.meta.export_types[0].type_id = intId;
  clearError(run([write('not-struct.json', doc)]), [
    new RegExp(`package: meta\\.export_types\\[0\\] \\(event\\): type_id ${intId} is not a struct in the object's BTF \\(it is int int\\)`),
  ]);
  doc.meta.export_types[0].type_id = btf.count + 10;
  clearError(run([write('no-such-type.json', doc)]), [new RegExp(`type_id ${btf.count + 10} is not a struct in the object's BTF \\(it has ${btf.count - 1} types\\)`)]);
});

test('a package.json that is not JSON, or not an object', () => {
  seedPackage();
  clearError(run([write('truncated.json', '{"bpf_object": ')]), [/^tsbpf: truncated\.json: package: not JSON: /]);
  clearError(run([write('array.json', '[]')]), [/package: the document is an array, not a JSON object with bpf_object and meta/]);
  clearError(run([write('empty.json', '')]), [/package: not JSON/]);
});

test('a missing file', () => {
  clearError(run(['no-such-package.json']), [/^tsbpf: no-such-package\.json: no such file\n$/]);
});

test('a .o file that is not an ELF object is reported as one, not as a broken package', () => {
  writeFileSync(join(scratch, 'garbage.bpf.o'), 'garbage\n');
  clearError(run(['garbage.bpf.o']), [/^tsbpf: garbage\.bpf\.o: ELF: file is 8 bytes, too short for an ELF header\n$/]);
});

test('unknown program arguments', () => {
  write('seed.json', seedPackage());
  // The seed has no variables of its own (ecc's __eunomia_dummy_event_ptr is not one).
  clearError(run(['seed.json', '--nosuch', '1']), [/unknown program argument --nosuch; this program takes: none/]);
  write('globals.json', fixturePackage('globals'));
  clearError(run(['globals.json', '--nosuch', '1']), [/unknown program argument --nosuch; this program takes: --multiplier, --negate/]);
  clearError(run(['globals.json', 'stray']), [/unknown program argument stray/]);
});

test('a value of the wrong type for a variable', () => {
  write('globals.json', fixturePackage('globals'));
  clearError(run(['globals.json', '--multiplier', 'abc']), [/multiplier: expected an integer, got string "abc"/]);
  clearError(run(['globals.json', '--multiplier=1.5']), [/multiplier: expected an integer, got string "1\.5"/]);
  clearError(run(['globals.json', '--multiplier', '-1']), [/multiplier: -1 does not fit a(n)? unsigned 32-bit integer/]);
  clearError(run(['globals.json', '--negate=maybe']), [/negate: expected a boolean, got string "maybe"/]);
  clearError(run(['globals.json', '--multiplier']), [/--multiplier needs a value/]);
});

kernelTest('a program the verifier rejects: its name, the errno and the verifier log; nothing left loaded', async () => {
  const names = ['bad_deref', 'good', 'vals'];
  const before = live(names);
  const err = clearError(run([write('rejected.json', fixturePackage('rejected'))]), [
    /^tsbpf: program bad_deref: the kernel rejected it \(EACCES\)/,
    /invalid mem access 'map_value_or_null'/,
  ], { log: true });
  assert.ok(err.split('\n').length > 3, 'the verifier log follows the message');
  await noneLeft(names, before);
});

/** A tracepoint program, then one in SEC(SECTION), built by `tsbpf build` in a scratch directory. */
function twoPrograms(section: string): Json {
  const dir = join(scratch, 'rpk');
  spawnSync('mkdir', ['-p', dir]);
  writeFileSync(
    join(dir, 'rpk.bpf.c'),
    `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "Dual BSD/GPL";
__u64 rpk_hits;
SEC("tp/sched/sched_process_exit")
int rpk_tp_exit(void *ctx) { rpk_hits++; return 0; }
SEC("${section}")
int rpk_probe(void *ctx) { rpk_hits++; return 0; }
`,
  );
  const r = tsbpf(['build', 'rpk.bpf.c'], { cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
}

kernelTest('a section it cannot attach (kprobe): a clear error naming program and section; the program attached before it is detached, nothing left', async () => {
  const doc = twoPrograms('kprobe/tsbpf_no_such_function');
  assert.deepEqual(doc.meta.bpf_skel.progs.map((p: Json) => p.attach), ['tp/sched/sched_process_exit', 'kprobe/tsbpf_no_such_function']);
  const names = ['rpk_'];
  const before = live(names);
  const err = clearError(run([write('kprobe.json', doc)]), [
    // This kernel has no kprobes (no kprobe PMU); one with kprobes has no such function.
    /cannot attach program rpk_probe \(section kprobe\/tsbpf_no_such_function\)/,
    /kprobes: not supported by this kernel|to kprobe tsbpf_no_such_function/,
  ]);
  assert.ok(err);
  await noneLeft(names, before);
});

kernelTest('an unknown section: a clear error naming the program and the section; nothing loaded', async () => {
  // tsbpf build refuses an unknown section, so rename a built one inside the object.
  const doc = patchObject(twoPrograms('kprobe/tsbpf_no_such_function'), 'kprobe/tsbpf_no_such_function', 'xprobe/tsbpf_no_such_function');
  doc.meta.bpf_skel.progs[1].attach = 'xprobe/tsbpf_no_such_function';
  const names = ['rpk_'];
  const before = live(names);
  clearError(run([write('unknown-section.json', doc)]), [
    /program rpk_probe is in section "xprobe\/tsbpf_no_such_function", which names no known program type/,
  ]);
  await noneLeft(names, before);
});

kernelTest('maps and progs null mean [] (the reference): the package runs and prints events', async () => {
  const doc = seedPackage();
  doc.meta.bpf_skel.maps = null;
  doc.meta.bpf_skel.progs = null;
  const { proc, out, err } = await start(['run', write('null-lists.json', doc), '-j'], /running/, { cwd: scratch });
  const child = spawnSync('/bin/sh', ['-c', 'exit 3']);
  for (let i = 0; i < 250 && !out().includes(`"pid":${child.pid},`); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await stop(proc), 0, err());
  const events = out().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(events.filter((e) => e.pid === child.pid), [{ pid: child.pid, ppid: process.pid, exit_code: 3, duration_ns: 0, comm: 'sh' }]);
});

kernelTest('-j: stdout holds only JSON lines; diagnostics (running, -v attach lines) go to stderr', async () => {
  write('seed.json', seedPackage());
  const { proc, out, err } = await start(['run', 'seed.json', '-j', '-v'], /running/, { cwd: scratch });
  const child = spawnSync('/bin/true');
  for (let i = 0; i < 250 && !out().includes(`"pid":${child.pid},`); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await stop(proc), 0, err());
  const text = out();
  assert.ok(text.endsWith('\n'), 'complete lines');
  const lines = text.slice(0, -1).split('\n');
  for (const line of lines) {
    const value: unknown = JSON.parse(line);
    assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `not a JSON object: ${line}`);
  }
  assert.ok(lines.some((l) => JSON.parse(l).pid === child.pid), 'the event of /bin/true');
  assert.match(err(), /tsbpf: running/);
  assert.match(err(), /attached handle_exit \(tp\/sched\/sched_process_exit\)/);
  assert.doesNotMatch(text, /running|attached|tsbpf/);
});

kernelTest('a second Ctrl-C right after the first changes nothing: the run drains, detaches and exits 0', async () => {
  write('seed.json', seedPackage());
  const { proc, err } = await start(['run', 'seed.json', '-j'], /running/, { cwd: scratch });
  const objs = heldIds(proc.pid!);
  assert.equal(objs.link.length, 1, 'attached');
  proc.kill('SIGINT');
  proc.kill('SIGINT');
  const [status, signal] = await once(proc, 'exit');
  assert.deepEqual([status, signal], [0, null], err());
  assert.ok(await allGone('link', objs.link), 'link left attached');
  assert.ok(await allGone('prog', objs.prog), 'program left loaded');
});

/** Runs the seed package from `source` until an exit of ours is printed; returns that event. */
async function seedEventFrom(source: string, stdin?: string): Promise<Record<string, unknown>> {
  const { proc, out, err } = await start(['run', source, '-j'], /running/, { cwd: scratch, stdin });
  const child = spawnSync('/bin/sh', ['-c', 'exit 4']);
  for (let i = 0; i < 250 && !out().includes(`"pid":${child.pid},`); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await stop(proc), 0, err());
  const event = out().split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.pid === child.pid);
  assert.ok(event, `no event of pid ${child.pid} from ${source}: ${out()} ${err()}`);
  return event;
}

kernelTest('sources as ecli takes them: - reads the package from standard input, an http URL fetches it; errors name the source', async (t) => {
  const text = JSON.stringify(seedPackage());
  const fromStdin = await seedEventFrom('-', text);
  assert.equal(fromStdin.exit_code, 4);

  const server = createServer((req, res) => {
    if (req.url === '/pkg/package.json') res.end(text);
    else {
      res.statusCode = 404;
      res.end('no');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const fromUrl = await seedEventFrom(`http://127.0.0.1:${port}/pkg/package.json`);
  assert.equal(fromUrl.exit_code, 4);

  const missing = await runAsync(['run', `http://127.0.0.1:${port}/nope.json`]);
  assert.deepEqual([missing.status, missing.stderr], [1, `tsbpf: http://127.0.0.1:${port}/nope.json: HTTP 404 Not Found\n`]);
  server.close();
  await once(server, 'close');
  const refused = await runAsync(['run', `http://127.0.0.1:${port}/pkg/package.json`]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, new RegExp(`^tsbpf: cannot fetch http://127\\.0\\.0\\.1:${port}/pkg/package\\.json: .*ECONNREFUSED.*\\n$`));
  const empty = spawnSync(process.execPath, [CLI, 'run', '-'], { input: '', encoding: 'utf8' });
  assert.deepEqual([empty.status, empty.stderr], [1, 'tsbpf: standard input is empty: pipe a package.json or .bpf.o into tsbpf run -\n']);
});

/** tsbpf ARGS without blocking this process's event loop (the test's own server must answer). */
async function runAsync(args: string[]): Promise<{ status: number | null; stderr: string }> {
  const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += d));
  const [status] = (await once(p, 'exit')) as [number | null];
  return { status, stderr };
}

kernelTest('every ring buffer is read at once; multiple-export mode decodes each map as its export_config says (btf_type_id, custom_members, no_export)', async (t) => {
  const ex = buildExample('test/progs/multi_export', t);
  const built = JSON.parse(readFileSync(ex.package, 'utf8'));
  const btf = parseObject(readPackage(readFileSync(ex.package)).objectBytes, 'multi').btf;
  const u32 = btf.idByName('unsigned int', 'int')!;
  const execEv = btf.idByName('exec_ev', 'struct')!;
  const mapIndex = (name: string) => built.meta.bpf_skel.maps.findIndex((m: { name: string }) => m.name === name);

  /** Runs the package `doc` with -j around one /bin/true; returns the lines that name its pid. */
  const around = async (doc: Json, key: string) => {
    const file = join(ex.dir, `${key}.json`);
    writeFileSync(file, JSON.stringify(doc));
    const { proc, out, err } = await start(['run', file, '-j'], /running/, { cwd: ex.dir });
    const pid = spawnSync('/bin/true').pid!;
    const mine = () => jsonLines(out()).filter((l) => l.pid === pid || l.who === pid);
    for (let i = 0; i < 100 && mine().length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await stop(proc), 0, err());
    return { pid, lines: mine() };
  };

  // As built (single export mode): both ring buffers, each record decoded as the header struct of its size.
  const single = await around(built, 'single');
  const asSet = (lines: Record<string, unknown>[]) => new Set(lines.map((l) => JSON.stringify(l)));
  assert.deepEqual(asSet(single.lines), asSet([{ pid: single.pid, comm: 'true' }, { pid: single.pid, tag: 7 }]));

  const multi = structuredClone(built);
  multi.meta.enable_multiple_export_types = true;
  multi.meta.bpf_skel.maps[mapIndex('execs')].export_config = { btf_type_id: execEv };
  multi.meta.bpf_skel.maps[mapIndex('exits')].export_config = {
    custom_members: [{ name: 'who', offset: 0, btf_type_id: u32 }, { name: 'label', offset: 4, btf_type_id: u32 }],
  };
  const m = await around(multi, 'multi');
  assert.deepEqual(asSet(m.lines), asSet([{ pid: m.pid, comm: 'true' }, { who: m.pid, label: 7 }]));

  const quiet = structuredClone(multi);
  quiet.meta.bpf_skel.maps[mapIndex('exits')].export_config = 'no_export';
  const q = await around(quiet, 'quiet');
  assert.deepEqual(q.lines, [{ pid: q.pid, comm: 'true' }]);

  const overlap = structuredClone(multi);
  overlap.meta.bpf_skel.maps[mapIndex('exits')].export_config = {
    custom_members: [{ name: 'a', offset: 0, btf_type_id: u32 }, { name: 'b', offset: 2, btf_type_id: u32 }],
  };
  writeFileSync(join(ex.dir, 'overlap.json'), JSON.stringify(overlap));
  const r = tsbpf(['run', 'overlap.json'], { cwd: ex.dir });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `tsbpf: overlap.json: package: meta.bpf_skel.maps[${mapIndex('exits')}] (exits).export_config: member b (bytes 2..5) overlaps member a (bytes 0..3)\n`);
});

test('a long kernel log: its last 20 lines (where the kernel says why) after the message, with how many were left out; -v shows all', () => {
  const log = Array.from({ length: 1200 }, (_, i) => `line ${i + 1}`).join('\n') + '\nR1 invalid mem access \'scalar\'\n';
  const captured: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => (captured.push(s), true)) as typeof process.stderr.write;
  try {
    assert.equal(reportError(new VerifierError('p', 'EACCES', log)), 1);
    assert.equal(reportError(new VerifierError('p', 'EACCES', log), true), 1);
  } finally {
    process.stderr.write = write;
  }
  const [short, full] = captured.map((c) => c.trimEnd().split('\n'));
  assert.deepEqual(short!.slice(0, 2), ['tsbpf: program p: the kernel rejected it (EACCES); verifier log:', '(the last 20 of the kernel\'s 1201 log lines, where it says why; -v shows them all)']);
  assert.equal(short!.length, 22);
  assert.equal(short!.at(-1), 'R1 invalid mem access \'scalar\'');
  assert.equal(full!.length, 1202);
});
