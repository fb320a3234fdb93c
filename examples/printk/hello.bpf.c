// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* hello: no export map; each exec is reported with bpf_printk, read from trace_pipe. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp/sched/sched_process_exec")
int handle_exec(void *ctx)
{
	bpf_printk("tsbpf hello: exec of pid %d\n", bpf_get_current_pid_tgid() >> 32);
	return 0;
}
