// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corpus: one map of every type that takes no BTF key/value types (libbpf creates them
 * without btf_key_type_id/btf_value_type_id; the kernel answers ENOTSUPP when given them).
 * Each is declared with __type(key/value) so its BTF types ARE in the object.
 *
 *   perf        PERF_EVENT_ARRAY  key int, value int,  no max_entries (= possible CPUs)
 *   cgroups     CGROUP_ARRAY      key u32, value u32,  max_entries 4
 *   stacks      STACK_TRACE       key u32, value u64[127] (1016 bytes), max_entries 32
 *   inner_arr   ARRAY_OF_MAPS     key u32, inner ARRAY(u32 -> u32, 1), max_entries 2
 *   inner_hash  HASH_OF_MAPS      key u32, inner ARRAY(u32 -> u32, 1), max_entries 2
 *   devs        DEVMAP            key u32, value u32,  max_entries 2
 *   devs_hash   DEVMAP_HASH       key u32, value u32,  max_entries 2
 *   cpus        CPUMAP            key u32, value u32,  max_entries 2
 *   xsks        XSKMAP            key u32, value u32,  max_entries 2
 *   socks       SOCKMAP           key u32, value u32,  max_entries 2
 *   sock_hash   SOCKHASH          key u32, value u32,  max_entries 2
 *   fifo        QUEUE             no key, value u32,   max_entries 8
 *   lifo        STACK             no key, value u32,   max_entries 8
 *   ring        RINGBUF           max_entries 4096
 *
 * Program `touch` (raw_tp/sys_enter, BPF_PROG_TEST_RUN with ctx args[0] = v) pushes v
 * into fifo and lifo, then returns peek(fifo) * 1000 + peek(lifo) (-1 when a peek
 * fails): from empty maps, 41 -> 41041, then 42 -> 41042 (the queue's head stays 41, the
 * stack's top is 42). It references most maps (cpus, xsks, socks and sock_hash cannot be
 * used from raw_tp: they are only created).
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

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__type(key, int);
	__type(value, int);
} perf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64[127]);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} inner_arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} inner_hash SEC(".maps");

#define SIMPLE(TYPE, NAME)                 \
	struct {                           \
		__uint(type, TYPE);        \
		__uint(max_entries, 2);    \
		__type(key, __u32);        \
		__type(value, __u32);      \
	} NAME SEC(".maps")

SIMPLE(BPF_MAP_TYPE_DEVMAP, devs);
SIMPLE(BPF_MAP_TYPE_DEVMAP_HASH, devs_hash);
SIMPLE(BPF_MAP_TYPE_CPUMAP, cpus);
SIMPLE(BPF_MAP_TYPE_XSKMAP, xsks);
SIMPLE(BPF_MAP_TYPE_SOCKMAP, socks);
SIMPLE(BPF_MAP_TYPE_SOCKHASH, sock_hash);

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, __u32);
} fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, __u32);
} lifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

SEC("raw_tp/sys_enter")
int touch(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 v = (__u32)ctx->args[0];
	__u32 k = 0, head = 0, top = 0;

	bpf_map_push_elem(&fifo, &v, 0);
	bpf_map_push_elem(&lifo, &v, 0);
	bpf_map_lookup_elem(&inner_arr, &k);
	bpf_map_lookup_elem(&inner_hash, &k);
	bpf_map_lookup_elem(&devs, &k);
	bpf_map_lookup_elem(&devs_hash, &k);
	bpf_get_stackid(ctx, &stacks, 0);
	bpf_current_task_under_cgroup(&cgroups, 0);
	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &v, sizeof(v));
	bpf_ringbuf_output(&ring, &v, sizeof(v), 0);
	if (bpf_map_peek_elem(&fifo, &head) || bpf_map_peek_elem(&lifo, &top))
		return -1;
	return (int)(head * 1000 + top);
}
