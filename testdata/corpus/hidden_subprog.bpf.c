// hidden_subprog: a __hidden non-static subprogram, as libbpf's usdt.bpf.h writes its
// helpers (__weak __hidden). libbpf marks such a function static in the BTF it loads,
// so the verifier checks it in its caller's context (here: with a pointer to the
// caller's stack) instead of on its own, where a pointer argument may be NULL.
// - store(res, v): *res = v; returns 0. Verified on its own it would be rejected
//   ("invalid mem access 'mem_or_null'"), as it writes through res unchecked.
// - run, SEC("raw_tp/sys_enter"), run with BPF_PROG_TEST_RUN: out = 0; store(&out, 7)
//   then returns out + 35 = 42; seen (.bss) = 7.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

long seen;

__weak __hidden int store(long *res, long v)
{
	*res = v;
	return 0;
}

SEC("raw_tp/sys_enter")
int run(void *ctx)
{
	long out = 0;

	store(&out, 7);
	seen = out;
	return out + 35;
}

char LICENSE[] SEC("license") = "GPL";
