// ksyscall: kprobe-type programs written with libbpf's bpf_tracing.h macros, as the
// libbpf-tools and libbpf-bootstrap's ksyscall example write them. They load on any kernel
// (attaching needs CONFIG_KPROBES); test/corpus.test.ts asserts that libbpf and tsbpf load
// each with the same number of instructions.
// - enter_openat, SEC("ksyscall/openat"), BPF_KSYSCALL(dfd, path, flags, mode): calls[0] += 1,
//   last_flags = flags, last_mode = mode; returns 0. BPF_KSYSCALL reads the .kconfig extern
//   LINUX_HAS_SYSCALL_WRAPPER to choose between the wrapper's pt_regs and the context's.
// - exit_openat, SEC("kretsyscall/openat"), BPF_KRETPROBE(ret): calls[1] += 1, and
//   failures += 1 when ret < 0; returns 0.
// - enter_nanosleep, SEC("kprobe/do_nanosleep"), BPF_KPROBE(t, mode): calls[2] += 1,
//   last_mode = mode (the hrtimer mode, second argument); returns 0.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct hrtimer_sleeper;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, u32);
	__type(value, u64);
} calls SEC(".maps");

u64 failures;
int last_flags;
u32 last_mode;

static __always_inline void count(u32 slot)
{
	u64 *n = bpf_map_lookup_elem(&calls, &slot);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("ksyscall/openat")
int BPF_KSYSCALL(enter_openat, int dfd, const char *path, int flags, u32 mode)
{
	count(0);
	last_flags = flags;
	last_mode = mode;
	return 0;
}

SEC("kretsyscall/openat")
int BPF_KRETPROBE(exit_openat, long ret)
{
	count(1);
	if (ret < 0)
		__sync_fetch_and_add(&failures, 1);
	return 0;
}

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(enter_nanosleep, struct hrtimer_sleeper *t, int mode)
{
	count(2);
	last_mode = mode;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
