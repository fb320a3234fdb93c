// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corpus: map-in-map with __array(values, struct inner) and static initialisation
 * (relocations in .rel.maps against the inner maps' symbols).
 *
 *   inner_a, inner_b  ARRAY key u32, value u32, max_entries 1 (user space writes [0])
 *   outer_arr   ARRAY_OF_MAPS max_entries 4, .values = { [1] = &inner_a, [3] = &inner_b }
 *   outer_hash  HASH_OF_MAPS  max_entries 4, .values = { [2] = &inner_b }  (key 2)
 *
 * Programs (raw_tp, BPF_PROG_TEST_RUN with ctx args[0] = i):
 *   via_array (raw_tp/sys_enter): m = outer_arr[i]; returns m[0], or -1 when slot i is
 *     empty (or m[0] is absent).
 *   via_hash (raw_tp/sys_exit): the same through outer_hash[i].
 * With inner_a[0] = 111 and inner_b[0] = 222: via_array 1 -> 111, 3 -> 222, 0 -> -1,
 * 2 -> -1; via_hash 2 -> 222, 1 -> -1.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct inner inner_a SEC(".maps");
struct inner inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_arr SEC(".maps") = {
	.values = { [1] = &inner_a, [3] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps") = {
	.values = { [2] = &inner_b },
};

static __always_inline int through(void *outer, __u32 i)
{
	__u32 zero = 0, *v;
	void *m = bpf_map_lookup_elem(outer, &i);

	if (!m)
		return -1;
	v = bpf_map_lookup_elem(m, &zero);
	return v ? (int)*v : -1;
}

SEC("raw_tp/sys_enter")
int via_array(struct bpf_raw_tracepoint_args *ctx)
{
	return through(&outer_arr, (__u32)ctx->args[0]);
}

SEC("raw_tp/sys_exit")
int via_hash(struct bpf_raw_tracepoint_args *ctx)
{
	return through(&outer_hash, (__u32)ctx->args[0]);
}
