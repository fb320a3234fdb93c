// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fixture: a program the verifier rejects, next to one it accepts.
 *
 *   vals  BPF_MAP_TYPE_ARRAY key __u32 value __u64 max_entries 4
 *
 *   bad_deref  SEC "raw_tp/sys_enter": v = bpf_map_lookup_elem(&vals, &(__u32)args[0]);
 *              returns (int)*v WITHOUT checking v for NULL. The load fails (EACCES) and the
 *              verifier log contains "invalid mem access 'map_value_or_null'".
 *              The key comes from args[0], not a constant: recent verifiers (about
 *              6.14 on; checked on 6.18) know that an array lookup with a constant
 *              in-range key cannot return NULL, and accept the program with key = 0.
 *   good       SEC "raw_tp/sys_exit": returns 1; loads fine.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} vals SEC(".maps");

SEC("raw_tp/sys_enter")
int bad_deref(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 key = (__u32)ctx->args[0];
	__u64 *v = bpf_map_lookup_elem(&vals, &key);

	return (int)*v; /* no NULL check: rejected */
}

SEC("raw_tp/sys_exit")
int good(struct bpf_raw_tracepoint_args *ctx)
{
	return 1;
}
