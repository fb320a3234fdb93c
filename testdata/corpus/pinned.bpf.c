// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corpus: a map pinned by name (LIBBPF_PIN_BY_NAME): loaded twice, both loads share the
 * map at <pin root>/shared (the second reuses the first's pin).
 *
 *   shared  HASH key u32, value u64, max_entries 8, pinned by name
 *   local   ARRAY key u32, value u64, max_entries 1, not pinned (each load has its own)
 *
 * Program `add` (raw_tp/sys_enter, BPF_PROG_TEST_RUN with ctx args[0] = k, args[1] = n):
 *   shared[k] += n (inserted as n when absent); local[0] += n; returns the new shared[k].
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} local SEC(".maps");

SEC("raw_tp/sys_enter")
int add(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 k = (__u32)ctx->args[0], zero = 0;
	__u64 n = ctx->args[1], *v;

	v = bpf_map_lookup_elem(&local, &zero);
	if (v)
		*v += n;
	v = bpf_map_lookup_elem(&shared, &k);
	if (v) {
		*v += n;
		return (int)*v;
	}
	bpf_map_update_elem(&shared, &k, &n, BPF_ANY);
	return (int)n;
}
