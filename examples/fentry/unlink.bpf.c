// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * unlink: an fentry and an fexit on do_unlinkat(int dfd, struct filename *name), with
 * BPF_PROG. fexit sees the arguments and the return value; both send through a ring buffer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "unlink.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* One event: the pid, the file name (struct filename's first member, const char *name,
 * at offset 0 on every kernel) and, for fexit, do_unlinkat's return value. */
static __always_inline int submit(void *name, long ret, int is_return)
{
	struct event *e;
	const char *fname = 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ret = ret;
	e->is_return = is_return;
	bpf_probe_read_kernel(&fname, sizeof(fname), name);
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), fname);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("fentry/do_unlinkat")
int BPF_PROG(do_unlinkat, int dfd, void *name)
{
	return submit(name, 0, 0);
}

SEC("fexit/do_unlinkat")
int BPF_PROG(do_unlinkat_exit, int dfd, struct filename *name, long ret)
{
	return submit(name, ret, 1);
}
