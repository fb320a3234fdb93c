// perfarray: execsnoop-style event output through a BPF_MAP_TYPE_PERF_EVENT_ARRAY declared
// the way libbpf-tools declare it: key_size and value_size, no BTF key/value types and no
// max_entries (the loader makes it one slot per possible CPU, as libbpf does).
// on_exec, SEC("tp/sched/sched_process_exec"): for every exec, sends one 24-byte record
// struct event { u32 pid; u32 ppid; char comm[16]; } with bpf_perf_event_output(ctx,
// &events, BPF_F_CURRENT_CPU, ...): pid = the exec'ing process's tgid, ppid = its
// real_parent's tgid, comm = its name after the exec; when targ_ppid (const volatile,
// default 0) is set, only children of that pid are sent. Returns 0.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct event {
	u32 pid;
	u32 ppid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} events SEC(".maps");

const volatile u32 targ_ppid = 0;

SEC("tp/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct event e = {};

	e.pid = bpf_get_current_pid_tgid() >> 32;
	e.ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (targ_ppid && e.ppid != targ_ppid)
		return 0;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
