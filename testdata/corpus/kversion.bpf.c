// kversion: the .kconfig extern LINUX_KERNEL_VERSION in the old-style version check that
// libbpf-tools make (biolatency: the block tracepoints' arguments changed in 5.11).
// get_version, SEC("raw_tp/sys_enter"), run with BPF_PROG_TEST_RUN or on any syscall:
// version = LINUX_KERNEL_VERSION (KERNEL_VERSION(major, minor, min(patch, 255)) of the
// running kernel, as libbpf computes it from uname's release), newer = 1 when that is
// >= 5.11.0, else 0; returns 2 on >= 5.11, 1 before.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern int LINUX_KERNEL_VERSION __kconfig;

u32 version;
u32 newer;

SEC("raw_tp/sys_enter")
int get_version(void *ctx)
{
	version = LINUX_KERNEL_VERSION;
	if (LINUX_KERNEL_VERSION < KERNEL_VERSION(5, 11, 0)) {
		newer = 0;
		return 1;
	}
	newer = 1;
	return 2;
}

char LICENSE[] SEC("license") = "GPL";
