#!/usr/bin/env node
// Which programs of these BPF objects does libbpf load on this kernel, which does tsbpf,
// and do both keep the same number of instructions (xlated length)? As root.
//
//   node scripts/compare-libbpf.mjs DIR|OBJ.o ... [--markdown FILE] [--json FILE] [--no-each] [--tsbpf KEY=VALUE]
//
// Per object it runs `bpftool prog loadall` (libbpf, all or nothing), libbpf program by
// program (scripts/libbpf-each.c, compiled with cc -lbpf; --no-each skips it, and it is
// skipped when cc or libbpf-dev is missing) and tsbpf's Collection.load (each program
// alone, as libbpf-each does; with --no-each, the object's default load). It prints one row per program and a summary; --markdown writes the table and
// the error of every program libbpf loads and tsbpf does not. Exit status 1 when such a
// program exists. --tsbpf core=user passes LoadOptions to tsbpf (repeatable). Needs a build (npx tsc -p tsconfig.json): it runs dist/.
import { writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const lib = await import(`${ROOT}/dist/test/libbpf.js`).catch((e) => {
  console.error(`compare-libbpf: cannot load ${ROOT}/dist/test/libbpf.js (${e.message}); build first: npx tsc -p tsconfig.json`);
  process.exit(2);
});

const args = process.argv.slice(2);
const opts = { markdown: null, json: null, each: true, inputs: [], load: {} };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--markdown') opts.markdown = args[++i];
  else if (a === '--json') opts.json = args[++i];
  else if (a === '--no-each') opts.each = false;
  else if (a === '--tsbpf') {
    const [k, v] = (args[++i] ?? '').split('=');
    if (!k || v === undefined) {
      console.error('compare-libbpf: --tsbpf takes KEY=VALUE, e.g. core=user');
      process.exit(2);
    }
    opts.load[k] = v;
  }
  else if (a === '-h' || a === '--help') {
    console.log('usage: node scripts/compare-libbpf.mjs DIR|OBJ.o ... [--markdown FILE] [--json FILE] [--no-each] [--tsbpf KEY=VALUE]');
    process.exit(0);
  } else if (a.startsWith('-')) {
    console.error(`compare-libbpf: unknown option ${a}`);
    process.exit(2);
  } else opts.inputs.push(resolve(a));
}
if (!opts.inputs.length) {
  console.error('compare-libbpf: give a directory of objects or objects');
  process.exit(2);
}
if (lib.bpftoolVersion() === null) {
  console.error('compare-libbpf: bpftool does not run (apt-get install bpftool)');
  process.exit(2);
}
const each = opts.each ? lib.libbpfEachBinary(ROOT) : null;
if (opts.each && !each) console.error('compare-libbpf: cc or libbpf-dev missing, per-program libbpf verdicts skipped');

// Objects are named DIR/NAME: third-party trees have tools of the same name.
const label = (obj) => `${basename(dirname(obj))}/${lib.shortName(obj)}`;
const objects = opts.inputs.flatMap((p) => (statSync(p).isDirectory() ? lib.objectsIn(p) : [p]));
const rows = [];
for (const obj of objects) {
  const all = lib.libbpfLoadAll(obj, each ?? undefined);
  const one = each ? lib.libbpfEach(obj, each) : null;
  // Program by program on both sides when libbpf's side is (`?` programs included).
  const ts = one ? lib.tsbpfEach(obj, opts.load) : lib.tsbpfLoad(obj, undefined, opts.load);
  const names = [...new Set([...(one?.programs.keys() ?? []), ...all.programs.keys(), ...ts.programs.keys()])];
  if (!names.length) {
    // An object without programs (maps only): does each loader create it?
    const libOk = !all.error && !one?.error;
    rows.push({ object: label(obj), program: '(no programs)', section: null, loadall: all.error ? 'no' : 'yes', libbpf: libOk ? 'yes' : 'no', tsbpf: ts.error ? 'no' : 'yes', libbpfInsns: null, tsbpfInsns: null, libbpfError: libOk ? null : (one?.error ?? all.error), tsbpfError: ts.error ?? null });
  }
  for (const name of names) {
    const a = all.programs.get(name);
    const o = one?.programs.get(name);
    const t = ts.programs.get(name);
    const libLoaded = o ? o.loaded : !!a?.loaded;
    rows.push({
      object: label(obj),
      program: name,
      section: o?.section ?? t?.section ?? null,
      loadall: all.error ? 'no' : a ? 'yes' : 'not autoloaded',
      libbpf: libLoaded ? 'yes' : 'no',
      tsbpf: t?.loaded ? 'yes' : 'no',
      libbpfInsns: o?.xlatedInsns ?? a?.xlatedInsns ?? null,
      tsbpfInsns: t?.xlatedInsns ?? null,
      libbpfError: libLoaded ? null : (o?.error ?? one?.error ?? all.error ?? null),
      tsbpfError: t?.loaded ? null : (t?.error ?? ts.error ?? 'tsbpf does not see this program'),
    });
  }
}

const same = (r) => (r.libbpfInsns !== null && r.tsbpfInsns !== null ? (r.libbpfInsns === r.tsbpfInsns ? 'same' : 'DIFFERENT') : '');
const libOk = rows.filter((r) => r.libbpf === 'yes');
const bothOk = libOk.filter((r) => r.tsbpf === 'yes');
const missing = libOk.filter((r) => r.tsbpf !== 'yes');
const differ = bothOk.filter((r) => same(r) === 'DIFFERENT');
const tsOnly = rows.filter((r) => r.tsbpf === 'yes' && r.libbpf !== 'yes');
const pct = libOk.length ? ((100 * bothOk.length) / libOk.length).toFixed(1) : '-';
const summary =
  `${objects.length} objects, ${rows.length} programs; libbpf loads ${libOk.length}, tsbpf loads ${bothOk.length} of those (${pct} %), ` +
  `${differ.length} with a different instruction count; tsbpf loads ${tsOnly.length} that libbpf does not`;

const header = ['object', 'program', 'libbpf', 'loadall', 'tsbpf', 'insns libbpf', 'insns tsbpf', 'same'];
const cells = (r) => [r.object, r.program, r.libbpf, r.loadall, r.tsbpf, r.libbpfInsns ?? '', r.tsbpfInsns ?? '', same(r)].map(String);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => cells(r)[i].length)));
console.log(header.map((h, i) => h.padEnd(widths[i])).join('  '));
for (const r of rows) console.log(cells(r).map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
console.log(summary);
for (const r of missing) console.log(`MISSING ${r.object}/${r.program}: ${r.tsbpfError}`);

if (opts.markdown) {
  const md = [];
  md.push(`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`);
  for (const r of rows) md.push(`| ${cells(r).join(' | ')} |`);
  md.push('', summary, '');
  md.push('## Programs libbpf loads and tsbpf does not', '');
  for (const r of missing) md.push(`- \`${r.object}/${r.program}\` (${r.section ?? '?'}): ${r.tsbpfError}`);
  md.push('', '## Programs libbpf does not load (its reason)', '');
  for (const r of rows.filter((x) => x.libbpf !== 'yes')) md.push(`- \`${r.object}/${r.program}\` (${r.section ?? '?'}): ${r.libbpfError ?? '?'}; tsbpf: ${r.tsbpf === 'yes' ? 'loads' : r.tsbpfError}`);
  writeFileSync(opts.markdown, md.join('\n') + '\n');
}
if (opts.json) writeFileSync(opts.json, JSON.stringify({ summary, rows }, null, 1) + '\n');
process.exitCode = missing.length || differ.length ? 1 : 0;
