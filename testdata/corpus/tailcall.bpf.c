// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corpus: a PROG_ARRAY statically initialised with programs
 * (__array(values, int (void *)), .values = { [0] = &tail_a, [2] = &tail_b }), so tail
 * calls work without user space writing the slots.
 *
 * Program `entry` (raw_tp/sys_enter, BPF_PROG_TEST_RUN with ctx args[0] = i):
 *   bpf_tail_call(ctx, &jumps, i); returns 99 when slot i is empty.
 * tail_a returns 11, tail_b returns 22 (both raw_tp, never attached).
 * So entry: 0 -> 11, 2 -> 22, 1 -> 99, 3 -> 99.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("raw_tp/sys_enter")
int tail_a(void *ctx)
{
	return 11;
}

SEC("raw_tp/sys_enter")
int tail_b(void *ctx)
{
	return 22;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} jumps SEC(".maps") = {
	.values = { [0] = (void *)&tail_a, [2] = (void *)&tail_b },
};

SEC("raw_tp/sys_enter")
int entry(struct bpf_raw_tracepoint_args *ctx)
{
	bpf_tail_call(ctx, &jumps, (__u32)ctx->args[0]);
	return 99;
}
