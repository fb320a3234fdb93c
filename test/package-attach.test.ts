/**
 * eunomia's per-program attach parameters: `tsbpf build` copies @ifindex, @flags,
 * @xdpopts, @tchook and @tcopts from doc comments into the package's progs entries as
 * ecc does, and `tsbpf run` turns them into attach options.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDocComments } from '../src/build/index.js';
import { packageAttachOptions } from '../src/package/index.js';
import { throwsTsbpf } from './throws.js';
import { tsbpf } from './tsbpf-cli.js';

const SOURCE = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/// Counts packets on ingress
/// @tchook {"ifindex": 1, "attach_point": "BPF_TC_EGRESS"}
/// @tcopts {"handle": 7,
///          "priority": 3}
SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	return 0;
}

/// @ifindex 1
/// @flags 2
/// @xdpopts {"old_prog_fd": 0}
SEC("xdp") int xdp_pass(void *ctx) { return 2; }

char LICENSE[] SEC("license") = "GPL";
`;

test('doc comments on program functions: attach tags and a description, by function name', () => {
  const docs = parseDocComments(SOURCE, 'net.bpf.c');
  assert.deepEqual(docs.get('tc_count'), {
    description: 'Counts packets on ingress',
    attach: { tchook: { ifindex: 1, attach_point: 'BPF_TC_EGRESS' }, tcopts: { handle: 7, priority: 3 } },
  });
  assert.deepEqual(docs.get('xdp_pass'), { attach: { ifindex: 1, flags: 2, xdpopts: { old_prog_fd: 0 } } });
  // BPF_PROG-style definitions are named by the macro's first argument.
  const macro = parseDocComments('/// @ifindex 3\nSEC("fentry/do_unlinkat")\nint BPF_PROG(on_unlink, int dfd)\n{\n\treturn 0;\n}\n');
  assert.deepEqual(macro.get('on_unlink'), { attach: { ifindex: 3 } });
  throwsTsbpf(() => parseDocComments('/// @ifindex lo\nSEC("xdp") int x(void *c) { return 2; }', 'a.bpf.c'), /^a\.bpf\.c:1: @ifindex needs an unsigned integer, not "lo"$/);
  throwsTsbpf(() => parseDocComments('/// @tchook 3\nSEC("tc") int x(void *c) { return 0; }', 'a.bpf.c'), /^a\.bpf\.c:1: @tchook needs a JSON object$/);
});

test('package progs entries -> attach options, with errors that name the entry', () => {
  assert.deepEqual(packageAttachOptions({ name: 't', attach: 'tc', link: true, tchook: { ifindex: 2, attach_point: 'BPF_TC_EGRESS' }, tcopts: { handle: 7, priority: 3 } }), {
    interface: 2,
    tc: { attachPoint: 'egress', handle: 7, priority: 3 },
  });
  assert.deepEqual(packageAttachOptions({ name: 'x', attach: 'xdp', link: true, ifindex: 1, flags: 2, xdpopts: { old_prog_fd: 0 } }), { interface: 1, xdpFlags: 2 });
  assert.deepEqual(packageAttachOptions({ name: 'p', attach: 'tp/sched/x', link: true }), {});
  throwsTsbpf(() => packageAttachOptions({ name: 't', attach: 'tc', link: true, tchook: { attach_point: 'INGRESS' } }), /^package: program t: tchook\.attach_point is "INGRESS"; use "BPF_TC_INGRESS" or "BPF_TC_EGRESS"$/);
  throwsTsbpf(() => packageAttachOptions({ name: 'x', attach: 'xdp', link: true, ifindex: -1 }), /^package: program x: ifindex is -1, not an unsigned integer$/);
  throwsTsbpf(() => packageAttachOptions({ name: 'x', attach: 'xdp', link: true, xdpopts: { old_prog_fd: 5 } }), /old_prog_fd 5 names a file descriptor of another process/);
});

test('tsbpf build writes the attach tags into package.json progs as ecc does', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-netpkg-'));
  const src = join(dir, 'net.bpf.c');
  writeFileSync(src, SOURCE);
  const r = tsbpf(['build', src, '-o', dir]);
  assert.equal(r.status, 0, r.stderr);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const progs = pkg.meta.bpf_skel.progs;
  assert.deepEqual(progs.find((p: { name: string }) => p.name === 'tc_count'), {
    name: 'tc_count', attach: 'tc', link: true, description: 'Counts packets on ingress',
    tchook: { ifindex: 1, attach_point: 'BPF_TC_EGRESS' }, tcopts: { handle: 7, priority: 3 },
  });
  assert.deepEqual(progs.find((p: { name: string }) => p.name === 'xdp_pass'), {
    name: 'xdp_pass', attach: 'xdp', link: true, ifindex: 1, flags: 2, xdpopts: { old_prog_fd: 0 },
  });
});

test('tsbpf run: attach flags are checked before anything loads', () => {
  const r = tsbpf(['run', 'nonexistent.json', '--xdp-mode', 'fast']);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim(), 'tsbpf: --xdp-mode is generic or driver, not "fast"');
  const f = tsbpf(['run', 'nonexistent.json', '--freq', '0']);
  assert.equal(f.stderr.trim(), 'tsbpf: --freq is a whole number of samples per second >= 1, not "0"');
});
