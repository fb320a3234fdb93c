/**
 * Strings from input reach a terminal escaped: a package's doc, names and values in
 * `tsbpf run -h`, and names quoted in errors. (exitsnoop's process names have their own
 * kernel test in exitsnoop.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { messageText, printable, printableLines, quoted } from '../src/text.js';
import { buildExample, tsbpf } from './tsbpf-cli.js';

const ESC = '\x1b]0;owned\x07\x1b[2J\x9b31m';
const SHOWN = '\\x1b]0;owned\\x07\\x1b[2J\\x9b31m';

test('printable escapes C0, DEL and C1 controls as \\xNN; printableLines keeps newlines and tabs; quoted cuts at 80 characters', () => {
  assert.equal(printable(`a${ESC}\n\tb\x7f`), `a${SHOWN}\\x0a\\x09b\\x7f`);
  assert.equal(printableLines(`a${ESC}\n\tb`), `a${SHOWN}\n\tb`);
  assert.equal(printable('exécution ✓'), 'exécution ✓', 'printable text is left alone');
  assert.equal(quoted('x'.repeat(80)), `"${'x'.repeat(80)}"`);
  assert.equal(quoted('x'.repeat(1_000_000)), `"${'x'.repeat(80)}..." (999920 more characters)`);
  assert.equal(quoted(ESC), `"\\u001b]0;owned\\u0007\\u001b[2J\\x9b31m"`);
  assert.equal(quoted({ a: [1, 2n] }), '{"a":[1,2]}');
  let deep: unknown = 0;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.match(quoted(deep), /^\[\[\[/, 'a value too deep to stringify still quotes');
  assert.ok(quoted(deep).length <= 120);
  const long = messageText(`start ${'y'.repeat(50_000)} end\nnext${ESC}`);
  const [first, second] = long.split('\n');
  assert.ok(first!.length <= 4000 && first!.startsWith('start yyy') && first!.endsWith('yyy end'), first);
  // What it says was left out is what was: 3,900 characters shown at the start, 60 at the end.
  assert.equal(Number(/\((\d+) characters left out\)/.exec(first!)![1]), 50_010 - 3_900 - 60);
  assert.equal(second, `next${SHOWN}`);
});

test('run -h of a package whose doc and version hold terminal escapes prints them as \\xNN, keeping the doc\'s lines', (t) => {
  const ex = buildExample('filter', t);
  const pkg = JSON.parse(readFileSync(ex.package, 'utf8'));
  pkg.meta.bpf_skel.doc = { description: `Trace${ESC}`, version: `1.0${ESC}`, details: `line one${ESC}\nline two` };
  writeFileSync(ex.package, JSON.stringify(pkg));
  const help = tsbpf(['run', 'package.json', '-h'], { cwd: ex.dir });
  assert.equal(help.status, 0, help.stderr);
  assert.doesNotMatch(help.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, 'no control character but newlines');
  const lines = help.stdout.split('\n');
  assert.equal(lines[2], `Trace${SHOWN} (version 1.0${SHOWN})`);
  assert.deepEqual(lines.slice(-3), [`line one${SHOWN}`, 'line two', '']);
});

test('an error quoting a name from the package escapes it and cuts it at 80 characters', (t) => {
  const ex = buildExample('filter', t);
  const pkg = JSON.parse(readFileSync(ex.package, 'utf8'));
  const key = `k${ESC}${'z'.repeat(10_000)}`;
  pkg.meta.export_types = undefined;
  pkg.meta.bpf_skel.maps[0].sample = undefined;
  const maps = pkg.meta.bpf_skel.maps as { name: string; print?: unknown }[];
  const rb = maps.find((m) => m.name === 'events') ?? maps[0]!;
  (rb as Record<string, unknown>).intepreter = { stack_trace: { field_map: { [key]: 'x' }, with_symbols: true } };
  writeFileSync(ex.package, JSON.stringify(pkg));
  const r = tsbpf(['run', 'package.json'], { cwd: ex.dir });
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  assert.ok(lines[0]!.length < 300, `one short line, not the 10,000-character name: ${lines[0]!.length} characters`);
  assert.ok(lines[0]!.includes(`"k\\u001b]0;owned`), lines[0]);
});
