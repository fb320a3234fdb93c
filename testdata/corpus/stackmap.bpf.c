// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corpus: a STACK_TRACE map whose value size user space must set (as libbpf-tools'
 * profile does with bpf_map__set_value_size): `stacks` declares key u32 and
 * max_entries 64 but no value size, so loading it unchanged fails, naming the map.
 * With value_size set (8 * depth, e.g. 8 * 127 = 1016) it loads.
 *
 * Program `record` (raw_tp/sys_enter): for a syscall of the thread group `target_tgid`
 * (a const volatile, set before load; 0 matches nothing) it calls
 * bpf_get_stackid(ctx, &stacks, 0) (the kernel stack) and, when that gives an id >= 0,
 * stores it in .bss `last_id` and adds 1 to `hits`; a negative id adds 1 to `errors`.
 * Returns 0. A test sets target_tgid to its own pid, makes syscalls, then reads
 * stacks[last_id]: the first ip is a kernel text address (inside _stext.._etext).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 64);
	__uint(key_size, sizeof(__u32));
} stacks SEC(".maps");

const volatile __u32 target_tgid = 0;
__u32 last_id = 0;
__u64 hits = 0;
__u64 errors = 0;

SEC("raw_tp/sys_enter")
int record(struct bpf_raw_tracepoint_args *ctx)
{
	long id;

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	id = bpf_get_stackid(ctx, &stacks, 0);
	if (id < 0) {
		__sync_fetch_and_add(&errors, 1);
		return 0;
	}
	last_id = (__u32)id;
	__sync_fetch_and_add(&hits, 1);
	return 0;
}
