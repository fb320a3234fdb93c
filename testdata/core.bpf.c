// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fixture: CO-RE field reads and field-existence checks on struct task_struct.
 *
 * Program `read_task` (SEC "raw_tp/sys_enter"; ctx unused, BPF_PROG_TEST_RUN needs none)
 * fills the .bss global
 *   struct task_facts { __u32 pid; __u32 tgid; __u32 ppid; __u32 has_pid;
 *                       __u32 has_bogus; __u32 comm_ok; __u64 start_time; } facts;
 *   (32 bytes: offsets 0, 4, 8, 12, 16, 20, 24)
 * from task = bpf_get_current_task(), the thread that runs the program (under
 * BPF_PROG_TEST_RUN: the thread that made the bpf(2) call):
 *   pid        = task->pid                 thread id (== tgid on a process's main thread)
 *   tgid       = task->tgid                process id
 *   ppid       = task->real_parent->tgid   parent process id (getppid())
 *   has_pid    = bpf_core_field_exists(task->pid)                          -> 1
 *   has_bogus  = bpf_core_field_exists(task_struct___fake.no_such_field)   -> 0
 *   comm_ok    = 1 when task->comm (read with CO-RE) equals bpf_get_current_comm()
 *                up to and including the first NUL, else 0                 -> 1
 *   start_time = task->start_time  (thread start, CLOCK_MONOTONIC ns, > 0)
 * and returns (int)tgid.
 *
 * CO-RE relocations (BPF_CORE_FIELD_BYTE_OFFSET unless said): task_struct.pid,
 * .tgid, .real_parent, then task_struct.tgid through the parent pointer,
 * task_struct.comm, task_struct.start_time; BPF_CORE_FIELD_EXISTS for task_struct.pid
 * and for task_struct___fake.no_such_field (a "flavor": the ___fake suffix is ignored
 * when matching, so the candidate is the kernel's task_struct, which lacks the field:
 * the exists-relocation must resolve to 0, not fail the load).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct task_facts {
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 has_pid;
	__u32 has_bogus;
	__u32 comm_ok;
	__u64 start_time;
};

struct task_facts facts;

struct task_struct___fake {
	int no_such_field;
} __attribute__((preserve_access_index));

SEC("raw_tp/sys_enter")
int read_task(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	char comm[16] = {}, cur[16] = {};
	__u32 ok = 1;
	int i;

	facts.pid = BPF_CORE_READ(task, pid);
	facts.tgid = BPF_CORE_READ(task, tgid);
	facts.ppid = BPF_CORE_READ(task, real_parent, tgid);
	facts.has_pid = bpf_core_field_exists(task->pid);
	facts.has_bogus = bpf_core_field_exists(((struct task_struct___fake *)task)->no_such_field);
	facts.start_time = BPF_CORE_READ(task, start_time);

	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	bpf_get_current_comm(&cur, sizeof(cur));
#pragma clang loop unroll(full)
	for (i = 0; i < 16; i++) {
		if (comm[i] != cur[i]) {
			ok = 0;
			break;
		}
		if (comm[i] == 0)
			break;
	}
	facts.comm_ok = ok;

	return (int)facts.tgid;
}
