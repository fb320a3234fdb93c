// One record per exec through a ring buffer, of the header's second struct (struct event),
// for test/run.test.ts: tsbpf run picks the struct by the records' size.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "two.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb SEC(".maps");

SEC("tp/sched/sched_process_exec")
int on_exec(void *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->magic = 0xabcd;
	e->kind = EV_EXEC;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
