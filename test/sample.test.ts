/**
 * Sample maps and program options from a package: BCC-style histograms, `///` doc
 * comments (descriptions, @cmdarg, @sample) written by `tsbpf build`, and the
 * histogram example run through `tsbpf build` and `tsbpf run`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDocComments } from '../src/build/index.js';
import { usage } from '../src/cli/program-args.js';
import { applyArgs, programOptions } from '../src/runner/index.js';
import { MapSampler } from '../src/runner/index.js';
import { linearHistogram, log2Histogram, SampleFormatter, type Sample } from '../src/decode/index.js';

const sampleText = (s: Sample, json = false) => new SampleFormatter(json).text(s, '12:34:56');
import { Collection } from '../src/loader/index.js';
import { loadObjectFile } from '../src/object/index.js';
import type { BpfSkel } from '../src/package/index.js';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';
import { start, stop, tsbpf } from './tsbpf-cli.js';
import { throwsTsbpf } from './throws.js';

test('log2Histogram: BCC layout, buckets up to the last non-empty one, bars scaled to the largest', () => {
  assert.equal(
    log2Histogram([1, 0, 4, 2], 'usecs'),
    [
      '     usecs               : count    distribution',
      '         0 -> 1          : 1        |**********                              |',
      '         2 -> 3          : 0        |                                        |',
      '         4 -> 7          : 4        |****************************************|',
      '         8 -> 15         : 2        |********************                    |',
      '',
    ].join('\n'),
  );
  assert.equal(log2Histogram([0, 0, 0], 'usecs'), '');
  // Past 32 buckets the ranges are wider and the bars half as long.
  const wide = log2Histogram([...new Array(33).fill(0), 3n], 'nsecs').split('\n');
  assert.equal(wide[0], `${' '.repeat(15)}${'nsecs'.padEnd(29)} : count    distribution`);
  assert.equal(wide[34], `${'8589934592'.padStart(20)} -> ${'17179869183'.padEnd(20)} : 3        |${'*'.repeat(20)}|`);
});

test('linearHistogram: one row per value from 0', () => {
  assert.equal(
    linearHistogram([0, 2, 1], 'cpu'),
    [
      '     cpu           : count     distribution',
      '            0 : 0        |                                        |',
      '            1 : 2        |****************************************|',
      '            2 : 1        |********************                    |',
      '',
    ].join('\n'),
  );
});

test('doc comments: descriptions, @cmdarg and @description on variables, @sample on maps; a program function\'s description (ecc\'s progs description)', () => {
  const src = [
    '/// Only this process',
    '/// (0: every process)',
    'const volatile int targ_pid = 0;',
    '/// @cmdarg {"long": "min", "short": "m", "default": 5}',
    'const volatile unsigned long long min_us SEC(".rodata") = 1;',
    '/// @description "Names to trace"',
    'char names[4][16];',
    '/// @sample {"interval": 500,',
    '///          "type": "log2_hist", "unit": "msecs", "clear_map": true}',
    'struct {',
    '\t__uint(type, BPF_MAP_TYPE_HASH);',
    '\t__type(value, struct hist);',
    '} hists SEC(".maps");',
    '/// Handles the exit',
    'SEC("tp/sched/sched_process_exit")',
    'int handle_exit(void *ctx)',
    '{',
    '\treturn 0;',
    '}',
    '/// a prototype',
    'static int helper(int x);',
  ].join('\n');
  const docs = parseDocComments(src);
  assert.deepEqual(Object.fromEntries(docs), {
    targ_pid: { description: 'Only this process (0: every process)' },
    min_us: { cmdarg: { long: 'min', short: 'm', default: 5 } },
    names: { description: 'Names to trace' },
    hists: { sample: { interval: 500, type: 'log2_hist', unit: 'msecs', clear_map: true } },
    handle_exit: { description: 'Handles the exit' },
  });
  throwsTsbpf(() => parseDocComments('/// @sample {"interval": 1000\nstruct {} m SEC(".maps");', 'x.bpf.c'), /x\.bpf\.c:1: @sample is not valid JSON/);
  throwsTsbpf(() => parseDocComments('/// @sample {"type": "log2_hist"}\nstruct {} m SEC(".maps");'), /needs a JSON object with a numeric "interval"/);
});

test('program options: cmdarg long and short names, help text, defaults written before the command line', () => {
  const spec = loadObjectFile(join(ROOT, 'testdata', 'globals.bpf.o'));
  const skel = {
    obj_name: 'globals', maps: [], progs: [],
    data_sections: [{ name: '.rodata', variables: [
      { name: 'multiplier', type: 'unsigned int', cmdarg: { long: 'mul', short: 'm', default: 7 }, description: 'ignored: cmdarg.help wins' },
      { name: 'negate', type: 'bool', description: 'Negate the result' },
    ] }],
  } as BpfSkel;
  const opts = programOptions(spec, skel);
  assert.deepEqual(opts.map((o) => [o.long, o.short, o.help, o.bool]).slice(0, 2), [
    ['mul', 'm', 'ignored: cmdarg.help wins', false],
    ['negate', undefined, 'Negate the result', true],
  ]);
  const help = usage(spec, skel);
  assert.match(help, /-m, --mul <__u32>\s+ignored: cmdarg.help wins \(__u32, in \.rodata, default 7\)/);
  assert.match(help, /--negate\s+Negate the result \(bool, in \.rodata, default false\)/);
  assert.match(help, /--limit <__u32>\s+__u32, in \.rodata\.limits, default 1000/);

  const value = (name: string) => {
    const m = spec.maps.find((x) => x.data?.variables.some((v) => v.name === name))!.data!;
    const v = m.variables.find((x) => x.name === name)!;
    return new DataView(m.bytes.buffer, m.bytes.byteOffset + v.offset, v.size).getUint32(0, true);
  };
  applyArgs(spec, [], skel);
  assert.equal(value('multiplier'), 7); // cmdarg.default
  applyArgs(spec, ['-m', '9', '--limit=3'], skel);
  assert.equal(value('multiplier'), 9);
  assert.equal(value('limit'), 3);
  throwsTsbpf(() => applyArgs(spec, ['--multiplier', '1'], skel), /unknown program argument --multiplier; this program takes: --mul, --negate, --bias, --custom, --limit, --calls/);
  // A bool takes a bare --NAME, --NAME=true|false, and ecli's --enable-NAME / --disable-NAME.
  const negate = () => {
    const m = spec.maps.find((x) => x.data?.variables.some((v) => v.name === 'negate'))!.data!;
    return m.bytes[m.variables.find((x) => x.name === 'negate')!.offset];
  };
  applyArgs(spec, ['--enable-negate'], skel);
  assert.equal(negate(), 1);
  applyArgs(spec, ['--disable-negate'], skel);
  assert.equal(negate(), 0);
  applyArgs(spec, ['--negate'], skel);
  assert.equal(negate(), 1);
  applyArgs(spec, ['--negate=false'], skel);
  assert.equal(negate(), 0);
  throwsTsbpf(() => applyArgs(spec, ['--enable-mul'], skel), /unknown program argument --enable-mul/);

  // A variable's package "value" (what ecc writes as its initial value) is its default
  // when there is no cmdarg.default, as with ecli: written before the command line.
  const valued = { ...skel, data_sections: [{ name: '.rodata', variables: [{ name: 'negate', type: 'bool', value: true }] }] } as BpfSkel;
  assert.match(usage(spec, valued), /--negate\s+bool, in \.rodata, default true/);
  applyArgs(spec, [], valued);
  assert.equal(negate(), 1);
  applyArgs(spec, ['--disable-negate'], valued);
  assert.equal(negate(), 0);
  const bad = { ...skel, data_sections: [{ name: '.rodata', variables: [{ name: 'negate', type: 'bool', value: 'maybe' }] }] } as BpfSkel;
  throwsTsbpf(() => applyArgs(spec, [], bad), /package variable negate \(bool\): its "value" "maybe" does not fit/);
});

/** Builds examples/histogram with `tsbpf build` in a scratch directory. */
function buildHistogram(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-hist-'));
  cpSync(join(ROOT, 'examples', 'histogram'), dir, { recursive: true });
  const b = tsbpf(['build', 'sleeplat.bpf.c', 'sleeplat.h'], { cwd: dir });
  assert.equal(b.status, 0, b.stderr);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  assert.deepEqual(pkg.meta.bpf_skel.maps.find((m: { name: string }) => m.name === 'hists').sample, { interval: 1000, type: 'log2_hist', unit: 'usecs' });
  assert.equal(pkg.meta.bpf_skel.data_sections[0].variables[0].description, 'Only trace this process (0: all)');
  return dir;
}

/** Runs `sleep SECONDS` and resolves with its pid once it has ended. */
async function sleeper(seconds: string): Promise<number> {
  const p = spawn('/bin/sleep', [seconds]);
  await once(p, 'exit');
  return p.pid!;
}

kernelTest('histogram example: a log2 histogram per process from a sample map, as JSON and as a BCC table', async () => {
  const dir = buildHistogram();
  // Bucket 11 is 2048..4095 us, bucket 15 is 32768..65535 us: both sleeps sit well inside.
  let run = await start(['run', 'package.json', '-j'], /running/, { cwd: dir });
  const short = await sleeper('0.0029');
  const long = await sleeper('0.045');
  assert.equal(await stop(run.proc), 0);
  const lines = run.out().trim().split('\n').map((l) => JSON.parse(l));
  // The last print of each key holds its totals (the map is not cleared).
  const last = (pid: number) => lines.filter((l) => l.key === pid).at(-1);
  const expect = (slot: number) => Array.from({ length: 27 }, (_, i) => (i === slot ? 1 : 0));
  assert.deepEqual(last(short), { key: short, value: { slots: expect(11), comm: 'sleep' } });
  assert.deepEqual(last(long), { key: long, value: { slots: expect(15), comm: 'sleep' } });

  run = await start(['run', 'package.json', '--targ_pid', String(process.pid + 1e6)], /running/, { cwd: dir });
  await sleeper('0.001');
  assert.equal(await stop(run.proc), 0);
  assert.equal(run.out(), '', 'a filter no process matches prints nothing');

  run = await start(['run', 'package.json'], /running/, { cwd: dir });
  const pid = await sleeper('0.045');
  assert.equal(await stop(run.proc), 0);
  const text = run.out();
  const at = text.lastIndexOf(`key =  ${pid}\n`);
  assert.ok(at >= 0, text);
  const block = text.slice(at).split('\n').slice(0, 21);
  assert.deepEqual(block.slice(0, 4), [`key =  ${pid}`, 'comm = sleep', '', '     usecs               : count    distribution']);
  assert.equal(block[4], '         0 -> 1          : 0        |                                        |');
  assert.equal(block[19], '     32768 -> 65535      : 1        |****************************************|');
  assert.equal(block[20], '');
});

kernelTest('default_kv: every key and value each walk, sorted by key; clear_map empties a hash and zeroes an array', () => {
  const spec = loadObjectFile(join(ROOT, 'testdata', 'maps.bpf.o'));
  using coll = Collection.load(spec);
  const counts = coll.map('counts');
  counts.update(11, 1n);
  counts.update(3, 15n);
  const kv = new MapSampler(spec, 'counts', { interval: 1000, type: 'default_kv' });
  // ecli's default_kv layout: TIME and the key's and value's columns once (a type's name
  // for a key or value that is not a struct), then the time, key and value as JSON.
  const f = new SampleFormatter();
  assert.equal(f.text(kv.read(counts), '12:34:56'), 'TIME     __U32  __U64  \n12:34:56 {"__u32":3} {"__u64":15}\n12:34:56 {"__u32":11} {"__u64":1}\n');
  assert.equal(f.text(kv.read(counts), '12:34:57'), '12:34:57 {"__u32":3} {"__u64":15}\n12:34:57 {"__u32":11} {"__u64":1}\n');
  assert.equal(sampleText(kv.read(counts), true), '{"key":3,"value":15}\n{"key":11,"value":1}\n');
  const clearing = new MapSampler(spec, 'counts', { interval: 1000, type: 'default_kv', clear_map: true });
  assert.equal(sampleText(clearing.read(counts)), 'TIME     __U32  __U64  \n12:34:56 {"__u32":3} {"__u64":15}\n12:34:56 {"__u32":11} {"__u64":1}\n');
  assert.deepEqual([...counts.keys()], []);

  const slots = coll.map('slots');
  slots.update(2, { sum: 16n, hits: 3, last: 11 });
  const arr = new MapSampler(spec, 'slots', { interval: 1000, type: 'default_kv', clear_map: true });
  assert.match(sampleText(arr.read(slots)), /^TIME     __U32  SUM    HITS   LAST   \n12:34:56 \{"__u32":0\} \{"sum":0,"hits":0,"last":0\}\n(.*\n)*12:34:56 \{"__u32":2\} \{"sum":16,"hits":3,"last":11\}\n/);
  assert.deepEqual(slots.lookup(2), { sum: 0n, hits: 0, last: 0 });

  throwsTsbpf(() => new MapSampler(spec, 'counts', { interval: 1000, type: 'log2_hist' }), /sample map counts: log2_hist needs a BTF value type that is a struct with a "slots" array/);
  throwsTsbpf(() => new MapSampler(spec, 'nosuch', { interval: 1000, type: 'default_kv' }), /sample map nosuch: the object has no map of that name/);
  throwsTsbpf(() => new MapSampler(spec, 'counts', { interval: 0, type: 'default_kv' }), /interval must be a positive number of ms/);
});

kernelTest('log2_hist: an entry whose slots are all zero still prints its key and other members, as ecli does', () => {
  const dir = buildHistogram();
  const spec = loadObjectFile(join(dir, 'sleeplat.bpf.o'));
  using coll = Collection.load(spec);
  const hists = coll.map('hists');
  const zero = Array.from({ length: 27 }, () => 0);
  hists.update(147, { slots: zero, comm: 'quiet' });
  const sampler = new MapSampler(spec, 'hists', { interval: 1000, type: 'log2_hist', unit: 'usecs' });
  // ecli's key line: `key =` and each key value after a space.
  assert.equal(sampleText(sampler.read(hists)), 'key =  147\ncomm = quiet\n\n');
  assert.equal(sampleText(sampler.read(hists), true), `{"key":147,"value":{"slots":${JSON.stringify(zero)},"comm":"quiet"}}\n`);
});

kernelTest('every sample map prints, each at its own interval: the histogram and a default_kv map of the same package', async () => {
  const dir = buildHistogram();
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  pkg.meta.bpf_skel.maps.find((m: { name: string }) => m.name === 'start').sample = { interval: 200, type: 'default_kv' };
  writeFileSync(join(dir, 'two.json'), JSON.stringify(pkg));
  const run = await start(['run', 'two.json'], /running/, { cwd: dir });
  const pid = await sleeper('1.5');
  assert.equal(await stop(run.proc), 0);
  assert.match(run.err(), /printing map start every 200 ms, map hists every 1000 ms/);
  // While it slept, the start map held its tid (== pid) and the time it went to sleep.
  assert.match(run.out(), new RegExp(`^\\d\\d:\\d\\d:\\d\\d \\{"u32":${pid}\\} \\{"u64":\\d+\\}$`, 'm'));
  assert.equal(run.out().match(/^TIME     U32    U64    $/gm)?.length, 1, 'one default_kv header');
  assert.match(run.out(), new RegExp(`^key =  ${pid}\\ncomm = sleep\\n`, 'm'));
});

kernelTest('linear_hist with clear_map, from the command line: one row per slot up to the last non-empty one, and the entry gone after its print (table and -j)', async () => {
  const dir = buildHistogram();
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  pkg.meta.bpf_skel.maps.find((m: { name: string }) => m.name === 'hists').sample = { interval: 300, type: 'linear_hist', unit: 'slot', clear_map: true };
  writeFileSync(join(dir, 'linear.json'), JSON.stringify(pkg));
  for (const json of [false, true]) {
    const run = await start(['run', 'linear.json', ...(json ? ['-j'] : [])], /running/, { cwd: dir });
    const pid = await sleeper('0.045'); // log2 bucket 15 of the program, row 15 here
    await new Promise((r) => setTimeout(r, 1000)); // printed, cleared, then printed no more
    assert.equal(await stop(run.proc), 0);
    const out = run.out();
    if (json) {
      const mine = out.trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.key === pid);
      assert.deepEqual(mine, [{ key: pid, value: { slots: Array.from({ length: 27 }, (_, i) => (i === 15 ? 1 : 0)), comm: 'sleep' } }]);
      continue;
    }
    const at = out.indexOf(`key =  ${pid}\n`);
    assert.ok(at >= 0, out);
    assert.equal(out.indexOf(`key =  ${pid}\n`, at + 1), -1, 'cleared after its print');
    const block = out.slice(at).split('\n').slice(0, 21);
    assert.deepEqual(block, [
      `key =  ${pid}`,
      'comm = sleep',
      '',
      '     slot          : count     distribution',
      ...Array.from({ length: 16 }, (_, i) => `${String(i).padStart(13)} : ${String(i === 15 ? 1 : 0).padEnd(8)} |${(i === 15 ? '*' : ' ').repeat(40)}|`),
      '',
    ]);
  }
});
