// SPDX-License-Identifier: GPL-2.0
/*
 * Stack samples for eunomia's stack_trace interpreter: the kernel and user stacks of
 * every getppid() a process makes (raw syscall enter), sizes in bytes as
 * bpf_get_stack() returns them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "stacks.h"

char LICENSE[] SEC("license") = "GPL";

#define NR_GETPPID 110 /* x86_64 */

/// @intepreter {"stack_trace": {"with_symbols": true}}
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("raw_tp/sys_enter")
int sample(struct bpf_raw_tracepoint_args *ctx)
{
	struct stacktrace_event *e;

	if (ctx->args[1] != NR_GETPPID)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->cpu_id = bpf_get_smp_processor_id();
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	e->kstack_sz = bpf_get_stack(ctx, e->kstack, sizeof(e->kstack), 0);
	e->ustack_sz = bpf_get_stack(ctx, e->ustack, sizeof(e->ustack), BPF_F_USER_STACK);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
