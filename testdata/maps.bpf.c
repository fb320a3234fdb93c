// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fixture: BTF-defined maps (SEC(".maps")), a hash and an array, updated by one program.
 *
 * Maps:
 *   counts  BPF_MAP_TYPE_HASH   key __u32, value __u64,          max_entries 64
 *   slots   BPF_MAP_TYPE_ARRAY  key __u32, value struct slot,    max_entries 8
 *           struct slot { __u64 sum; __u32 hits; __u32 last; }   (16 bytes, no padding)
 *
 * Program `count` (SEC "raw_tp/sys_enter", run it with BPF_PROG_TEST_RUN and a ctx of at
 * least two u64: args[0], args[1]):
 *   key = (__u32)args[0]; add = args[1];
 *   counts[key] += add, or counts[key] = add when key is absent (inserted with BPF_ANY);
 *   if that insert fails (the hash already holds 64 other keys) it returns -1 and changes
 *   nothing else;
 *   otherwise slot = slots[key % 8]: slot.sum += add; slot.hits += 1; slot.last = key;
 *   and it returns the new counts[key] truncated to int (its low 32 bits).
 * Example from empty maps: (3, 10) -> 10; (3, 5) -> 15; (11, 1) -> 1;
 *   then counts = {3: 15, 11: 1} and slots[3] = { sum 16, hits 3, last 11 }.
 * Not atomic: concurrent runs on several CPUs may lose updates (tests run it serially).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct slot {
	__u64 sum;
	__u32 hits;
	__u32 last;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct slot);
} slots SEC(".maps");

SEC("raw_tp/sys_enter")
int count(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 key = (__u32)ctx->args[0];
	__u64 add = ctx->args[1];
	__u32 idx = key % 8;
	__u64 total, *val;
	struct slot *slot;

	val = bpf_map_lookup_elem(&counts, &key);
	if (val) {
		total = *val + add;
		*val = total;
	} else {
		total = add;
		if (bpf_map_update_elem(&counts, &key, &total, BPF_ANY))
			return -1;
	}

	slot = bpf_map_lookup_elem(&slots, &idx);
	if (slot) {
		slot->sum += add;
		slot->hits += 1;
		slot->last = key;
	}
	return (int)total;
}
