// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * signals: every signal generated on the machine (kill(2), SIGCHLD to a parent, ...),
 * who sent it to whom and what became of it, sent with bpf_ringbuf_reserve/submit.
 * The tracepoint's own record is read through its vmlinux.h type, with CO-RE.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "signals.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

SEC("tp/signal/signal_generate")
int handle_signal(struct trace_event_raw_signal_generate *ctx)
{
	struct event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->tpid = ctx->pid;
	e->sig = ctx->sig;
	e->result = ctx->result;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
