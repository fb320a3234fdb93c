// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * compute: a uprobe and a uretprobe on `long compute(long a, long b)` of ./uprobe-target
 * (build it from target.c; a path with a slash is relative to where `tsbpf run` runs).
 * The entry probe keeps the arguments per thread; the return probe sends them with the
 * result through a ring buffer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "compute.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct call_args {
	long a;
	long b;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);		/* thread id */
	__type(value, struct call_args);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

SEC("uprobe/./uprobe-target:compute")
int BPF_KPROBE(compute_entry, long a, long b)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct call_args args = { .a = a, .b = b };

	bpf_map_update_elem(&calls, &tid, &args, BPF_ANY);
	return 0;
}

SEC("uretprobe/./uprobe-target:compute")
int BPF_KRETPROBE(compute_exit, long ret)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct call_args *args;
	struct event *e;

	args = bpf_map_lookup_elem(&calls, &tid);
	if (!args)
		return 0; /* entered before the probes were attached */
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->pid = id >> 32;
		e->a = args->a;
		e->b = args->b;
		e->result = ret;
		bpf_get_current_comm(&e->comm, sizeof(e->comm));
		bpf_ringbuf_submit(e, 0);
	}
	bpf_map_delete_elem(&calls, &tid);
	return 0;
}
