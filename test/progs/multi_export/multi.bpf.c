// Two ring buffers with records of different structs, for test/run-package.test.ts: tsbpf run
// reads every ring buffer at once, and in multiple-export mode each as its export_config says.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "multi.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} execs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} exits SEC(".maps");

SEC("tp/sched/sched_process_exec")
int on_exec(void *ctx)
{
	struct exec_ev *e = bpf_ringbuf_reserve(&execs, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp/sched/sched_process_exit")
int on_exit(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct exit_ev *e;

	if ((u32)id != id >> 32)
		return 0; /* threads other than the main one */
	e = bpf_ringbuf_reserve(&exits, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = id >> 32;
	e->tag = 7;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
