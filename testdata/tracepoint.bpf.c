// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fixture: a classic tracepoint program with a ring buffer, for attach tests.
 *
 *   events  BPF_MAP_TYPE_RINGBUF, max_entries 65536 (64 KiB data area)
 *   execs   __u64 in .bss
 *
 * Program `on_exec` (SEC "tp/sched/sched_process_exec"), on every successful execve():
 *   execs += 1 (atomic: __sync_fetch_and_add);
 *   then reserves a 20-byte record
 *     struct exec_event { __u32 pid; char comm[16]; }
 *   with pid = the exec'ing process's id (bpf_get_current_pid_tgid() >> 32, the same
 *   as the tracepoint's pid field) and comm = bpf_get_current_comm(), i.e. the NEW
 *   program's name (first 15 bytes of the file name's basename, NUL padded),
 *   and submits it; when the ring buffer is full the record is dropped (execs still
 *   counts it). Returns 0.
 * The ctx is not read, so this program needs no CO-RE relocation.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct exec_event {
	__u32 pid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

__u64 execs;

SEC("tp/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct exec_event *e;

	__sync_fetch_and_add(&execs, 1);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
