// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sleeplat: a log2 histogram, per process, of the time each clock_nanosleep(2) call
 * spent in the kernel, in microseconds. `tsbpf run` prints it every second and on
 * Ctrl-C, because the doc comment on `hists` makes it a sample map.
 *   --targ_pid N   only process N (0: every process)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sleeplat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NR_clock_nanosleep 230 /* x86_64 */

/// Only trace this process (0: all)
const volatile int targ_pid = 0;

/* thread id -> when its clock_nanosleep started (ns) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} start SEC(".maps");

/// @sample {"interval": 1000, "type": "log2_hist", "unit": "usecs"}
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, struct hist);
} hists SEC(".maps");

static const struct hist zero;

/* Index of the highest set bit: the log2 bucket of v (0 for 0 and 1). */
static __always_inline u32 log2l(u64 v)
{
	u32 r = 0;

	for (int i = 0; i < 64 && v > 1; i++) {
		v >>= 1;
		r++;
	}
	return r;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = id, pid = id >> 32;
	u64 ts;

	if (ctx->id != NR_clock_nanosleep || (targ_pid && pid != targ_pid))
		return 0;
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &tid, &ts, BPF_ANY);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = id, pid = id >> 32;
	struct hist *h;
	u64 *tsp, us;
	u32 slot;

	if (ctx->id != NR_clock_nanosleep)
		return 0;
	tsp = bpf_map_lookup_elem(&start, &tid);
	if (!tsp)
		return 0;
	us = (bpf_ktime_get_ns() - *tsp) / 1000;
	bpf_map_delete_elem(&start, &tid);

	h = bpf_map_lookup_elem(&hists, &pid);
	if (!h) {
		bpf_map_update_elem(&hists, &pid, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &pid);
		if (!h)
			return 0;
		bpf_get_current_comm(&h->comm, sizeof(h->comm));
	}
	slot = log2l(us);
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	__sync_fetch_and_add(&h->slots[slot], 1);
	return 0;
}
