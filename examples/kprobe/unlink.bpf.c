// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * unlink: a kprobe and a kretprobe on do_unlinkat(int dfd, struct filename *name).
 * The entry probe reads the file name through struct filename, the return probe
 * sends do_unlinkat's return value; both through a ring buffer.
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

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(do_unlinkat, int dfd, void *name)
{
	struct event *e;
	const char *fname = 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ret = 0;
	e->is_return = 0;
	/* struct filename's first member, const char *name (at offset 0 on every kernel). */
	bpf_probe_read_kernel(&fname, sizeof(fname), name);
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), fname);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(do_unlinkat_exit, long ret)
{
	struct event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ret = ret;
	e->is_return = 1;
	e->filename[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
