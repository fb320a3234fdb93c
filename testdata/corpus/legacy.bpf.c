// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corpus: legacy map definitions in SEC("maps") (struct bpf_map_def, which libbpf >= 1.0
 * rejects and tsbpf accepts, as cilium/ebpf and libbpf 0.x do).
 *
 *   hits   HASH   key_size 4, value_size 8, max_entries 32
 *   slots  ARRAY  key_size 4, value_size 4, max_entries 4
 *
 * Each def is 32 bytes: struct bpf_map_def's five u32 (type, key_size, value_size,
 * max_entries, map_flags) and three more u32 left zero, as longer defs (iproute2's)
 * are laid out; zero extra bytes are accepted, non-zero ones are an error.
 * libbpf 1.1 refuses the object ("legacy map definitions ... not supported").
 * Program `bump` (raw_tp/sys_enter, BPF_PROG_TEST_RUN with ctx args[0]):
 *   key = (u32)args[0]; hits[key] += 1 (inserted as 1 when absent);
 *   slots[key % 4] = key; returns the new hits[key].
 * From empty maps: 5 -> 1, 5 -> 2, 6 -> 1; then slots[1] = 5, slots[2] = 6.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct legacy_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
	unsigned int extra[3];
};

struct legacy_def hits SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 32,
};

struct legacy_def slots SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 4,
	.max_entries = 4,
};

SEC("raw_tp/sys_enter")
int bump(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 key = (__u32)ctx->args[0];
	__u32 slot = key % 4;
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(&hits, &key);
	if (v)
		*v += 1;
	else if (bpf_map_update_elem(&hits, &key, &one, BPF_ANY))
		return -1;
	bpf_map_update_elem(&slots, &slot, &key, BPF_ANY);
	v = bpf_map_lookup_elem(&hits, &key);
	return v ? (int)*v : -1;
}
