// usdt: a SEC("usdt") program written with libbpf's usdt.bpf.h, which brings two maps
// (__bpf_usdt_specs, ARRAY of 256 specs; __bpf_usdt_ip_to_spec_id, HASH), the .kconfig
// extern LINUX_HAS_BPF_COOKIE and __weak __hidden subprograms (bpf_usdt_arg_cnt, left
// uncalled here, bpf_usdt_arg, bpf_usdt_cookie). A kprobe-type program: it loads without
// any probe; attaching it needs the USDT spec set up in those maps.
// on_probe, BPF_USDT(on_probe, long a, long b): hits += 1, sum_a += a, sum_b += b,
// last_cookie = bpf_usdt_cookie(ctx); returns 0. test/corpus.test.ts asserts that libbpf
// and tsbpf load it with the same number of instructions.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

u64 hits;
long sum_a;
long sum_b;
long last_cookie;

SEC("usdt")
int BPF_USDT(on_probe, long a, long b)
{
	__sync_fetch_and_add(&hits, 1);
	__sync_fetch_and_add(&sum_a, a);
	__sync_fetch_and_add(&sum_b, b);
	last_cookie = bpf_usdt_cookie(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
