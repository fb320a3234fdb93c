/*
 * .ksyms externs that libbpf 1.1 (bpftool prog loadall) loads too. run_ksyms (syscall,
 * run with BPF_PROG_TEST_RUN, ctx = struct args {pid, cpu}) fills .bss `out`:
 *   schedule_addr = &schedule (typeless ksym) = its address in /proc/kallsyms
 *   task_pid, task_tgid = pid and tgid of bpf_task_from_pid(args.pid) (kfunc, released
 *                   with the kfunc bpf_task_release), both args.pid for a process's
 *                   main thread; -1 when no task has that pid
 *   locked        = 1 after bpf_rcu_read_lock()/bpf_rcu_read_unlock() (kfuncs)
 *   missing_addr  = &tsbpf_no_such_symbol (weak typeless ksym absent) = 0
 * and returns 0. (Typed ksyms are in ksym_typed.bpf.c: the kernel needs them in kallsyms.)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern const void schedule __ksym;
extern const void tsbpf_no_such_symbol __ksym __weak;
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

struct args {
	int pid;
	int cpu;
};

struct ksyms_out {
	u64 schedule_addr;
	u64 missing_addr;
	int task_pid;
	int task_tgid;
	int locked;
};

struct ksyms_out out = {};

SEC("syscall")
int run_ksyms(struct args *args)
{
	struct task_struct *task;

	out.schedule_addr = (u64)&schedule;
	out.missing_addr = (u64)&tsbpf_no_such_symbol;
	task = bpf_task_from_pid(args->pid);
	if (task) {
		out.task_pid = task->pid;
		out.task_tgid = task->tgid;
		bpf_task_release(task);
	} else {
		out.task_pid = out.task_tgid = -1;
	}
	bpf_rcu_read_lock();
	bpf_rcu_read_unlock();
	out.locked = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
