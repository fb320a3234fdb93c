// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * exitsnoop: one ring buffer record per process exit (or per thread exit in threads mode),
 * filtered in the kernel before a record is reserved, with every failed reservation counted.
 *
 * When is a process's exit? sched_process_exit fires once per exiting thread. On kernels
 * whose tracepoint has `group_dead` (6.18 does), the process ends with the thread that sees
 * group_dead true: the last one, whichever it is. Without it the main thread's exit stands
 * in (the seed's rule), which is wrong when the main thread calls pthread_exit() early.
 *
 * The status is what the parent's wait() sees: signal->group_exit_code after exit_group()
 * or a fatal signal (SIGNAL_GROUP_EXIT), else the main thread's exit_code.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "exitsnoop.h"

/* A macro, so not in BTF: the vmlinux.h that tsbpf build generates from the kernel's BTF
 * lacks it (the project's own header has it). include/linux/sched/signal.h. */
#ifndef SIGNAL_GROUP_EXIT
#define SIGNAL_GROUP_EXIT 0x00000004
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Settings, written by user space before load (the verifier prunes what they turn off). */
const volatile bool threads = false;		/* one record per thread */
const volatile bool filter_pids = false;	/* only the tgids in `pids` */
const volatile int targ_ppid = 0;		/* only children of this tgid (0: any) */
const volatile bool filter_uid = false;
const volatile unsigned int targ_uid = 0;
const volatile bool filter_comm = false;
const volatile char targ_comm[TASK_COMM_LEN] = {};
const volatile bool filter_cgroup = false;	/* only tasks under the cgroup in `cgroup` */
const volatile bool failed_only = false;	/* non-zero exit code or any signal */
const volatile unsigned long long min_age_ns = 0;
/* Wake the reader only once this many bytes wait (it also drains on a short timer);
 * 0: wake it for every record the kernel would (the default). */
const volatile unsigned long long wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* Records the ring had no room for, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(u32));	/* fd arrays take no BTF key/value types */
	__uint(value_size, sizeof(u32));
} cgroup SEC(".maps");

/* Puts struct event into the object's BTF, so user space decodes records from it. */
const volatile struct event *__eunomia_dummy_event_ptr __attribute__((unused));

static __always_inline bool comm_matches(const char *comm)
{
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return false;
		if (!comm[i])
			return true;
	}
	return true;
}

static __always_inline int pid_in_own_ns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	int nr = 0;

	/* numbers[level]: the offset of numbers comes from the kernel's BTF, upid is 16 bytes */
	bpf_probe_read_kernel(&nr, sizeof(nr),
			      (void *)pid + bpf_core_field_offset(struct pid, numbers) +
			      (u64)(level & 63) * sizeof(struct upid));
	return nr;
}

SEC("tp/sched/sched_process_exit")
int handle_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	struct task_struct *subject = threads ? task : leader;
	u64 id = bpf_get_current_pid_tgid();
	u32 pid = id >> 32, tid = (u32)id, zero = 0, status;
	u64 now, age, *count;
	char comm[TASK_COMM_LEN];
	struct event *e;

	if (!threads) {
		if (bpf_core_field_exists(ctx->group_dead)) {
			if (!BPF_CORE_READ(ctx, group_dead))
				return 0;
		} else if (pid != tid) {
			return 0;
		}
	}

	if (filter_pids && !bpf_map_lookup_elem(&pids, &pid))
		return 0;
	if (targ_ppid && BPF_CORE_READ(task, real_parent, tgid) != targ_ppid)
		return 0;
	if (filter_uid && (u32)bpf_get_current_uid_gid() != targ_uid)
		return 0;
	if (threads)
		bpf_get_current_comm(comm, sizeof(comm));
	else
		BPF_CORE_READ_STR_INTO(&comm, leader, comm);
	if (filter_comm && !comm_matches(comm))
		return 0;
	if (filter_cgroup && bpf_current_task_under_cgroup(&cgroup, 0) != 1)
		return 0;

	if (BPF_CORE_READ(task, signal, flags) & SIGNAL_GROUP_EXIT)
		status = BPF_CORE_READ(task, signal, group_exit_code);
	else if (threads)
		status = BPF_CORE_READ(task, exit_code);
	else
		status = BPF_CORE_READ(leader, exit_code);
	if (failed_only && status == 0)
		return 0;
	now = bpf_ktime_get_ns();
	age = now - BPF_CORE_READ(subject, start_time);
	if (age < min_age_ns)
		return 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count = bpf_map_lookup_elem(&lost, &zero);
		if (count)
			__sync_fetch_and_add(count, 1);
		return 0;
	}
	e->ts_ns = now;
	e->duration_ns = age;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = pid;
	e->tid = tid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->ns_pid = pid_in_own_ns(subject);
	e->uid = (u32)bpf_get_current_uid_gid();
	e->status = status;
	__builtin_memcpy(e->comm, comm, sizeof(comm));
	if (wakeup_bytes)
		bpf_ringbuf_submit(e, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
					      BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	else
		bpf_ringbuf_submit(e, 0);
	return 0;
}
