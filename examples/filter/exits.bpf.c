// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * exits: process exits through a ring buffer, filtered in the kernel by two
 * `const volatile` settings that `tsbpf run` exposes as options:
 *   --target_ppid N   only children of N (0: all)
 *   --failed_only     only non-zero exit codes
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "exits.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile int target_ppid = 0;
const volatile bool failed_only = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

SEC("tp/sched/sched_process_exit")
int handle_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	u64 id = bpf_get_current_pid_tgid();
	int ppid, code;
	struct event *e;

	if ((u32)id != id >> 32)
		return 0; /* threads */
	ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (target_ppid && ppid != target_ppid)
		return 0;
	code = (BPF_CORE_READ(task, exit_code) >> 8) & 0xff;
	if (failed_only && code == 0)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = id >> 32;
	e->ppid = ppid;
	e->exit_code = code;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
