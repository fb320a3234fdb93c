// The attach types the host's 6.18 cannot run, for test/matrix/hooks.test.ts in the
// kernel-matrix guests (5.10, 6.1, 6.12):
// - deny_lsm, SEC("lsm/path_unlink"): an unlink by a process named tsbpf-deny-rm fails
//   with EPERM; others are left alone.
// - deny_fmod, SEC("fmod_ret/security_path_unlink"): the same, with ENOTEMPTY, by
//   returning early from the security hook (fmod_ret takes security_* functions).
// - enter_kill, SEC("ksyscall/kill"), and exit_kill, SEC("kretsyscall/kill"): for a
//   kill(KILL_MAGIC, sig) record the caller, the signal and the return value.
// - count_kprobe, SEC("kprobe/do_nanosleep"): counts calls by the process kill_caller.
// - count_multi, SEC("kprobe.multi/do_nanosleep*"): the same, through one multi link.
// - count_exec, SEC("tp_btf/sched_process_exec"): counts execs of tsbpf-mx-calls, keeps
//   the last one's pid (the tracepoint's old_pid argument).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define EPERM 1
#define ENOTEMPTY 39
#define KILL_MAGIC 2147483600

struct path;
struct dentry;

u32 kill_caller;
int kill_sig;
long kill_ret = 1; /* 1: no return seen yet */
u64 kprobe_hits;
u64 multi_hits;

static __always_inline int comm_is(const char *want, int len)
{
	char comm[16];

	if (bpf_get_current_comm(comm, sizeof(comm)))
		return 0;
	for (int i = 0; i < len; i++)
		if (comm[i] != want[i])
			return 0;
	return 1;
}

static __always_inline int is_deny_rm(void)
{
	const char want[] = "tsbpf-deny-rm";

	return comm_is(want, sizeof(want));
}

u64 exec_hits;
int exec_old_pid;

/* The exec'd process's comm is already the new program's name here. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(count_exec, struct task_struct *p, int old_pid)
{
	const char want[] = "tsbpf-mx-calls";

	if (comm_is(want, sizeof(want))) {
		__sync_fetch_and_add(&exec_hits, 1);
		exec_old_pid = old_pid;
	}
	return 0;
}

/* Two returns of constants, kept apart: clang would fold `cond ? -EPERM : 0` into -(cond & 1),
 * whose range 6.12's verifier loses, and it checks an LSM program's return is in [-4095, 0]. */
#define KEEP_BRANCH() asm volatile("" ::: "memory")

SEC("lsm/path_unlink")
int BPF_PROG(deny_lsm, const struct path *dir, struct dentry *dentry)
{
	if (!is_deny_rm())
		return 0;
	KEEP_BRANCH();
	return -EPERM;
}

SEC("fmod_ret/security_path_unlink")
int BPF_PROG(deny_fmod, const struct path *dir, struct dentry *dentry, int ret)
{
	if (!is_deny_rm())
		return 0;
	KEEP_BRANCH();
	return -ENOTEMPTY;
}

SEC("ksyscall/kill")
int BPF_KSYSCALL(enter_kill, int pid, int sig)
{
	if (pid == KILL_MAGIC) {
		kill_caller = bpf_get_current_pid_tgid() >> 32;
		kill_sig = sig;
	}
	return 0;
}

SEC("kretsyscall/kill")
int BPF_KRETPROBE(exit_kill, long ret)
{
	if (kill_caller && kill_caller == bpf_get_current_pid_tgid() >> 32)
		kill_ret = ret;
	return 0;
}

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(count_kprobe)
{
	if (kill_caller && kill_caller == bpf_get_current_pid_tgid() >> 32)
		__sync_fetch_and_add(&kprobe_hits, 1);
	return 0;
}

SEC("kprobe.multi/do_nanosleep*")
int BPF_KPROBE(count_multi)
{
	if (kill_caller && kill_caller == bpf_get_current_pid_tgid() >> 32)
		__sync_fetch_and_add(&multi_hits, 1);
	return 0;
}
