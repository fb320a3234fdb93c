/*
 * A typed .ksyms variable: the per-cpu runqueues, read through bpf_per_cpu_ptr() and
 * bpf_this_cpu_ptr(). read_rq (syscall, run with BPF_PROG_TEST_RUN, ctx = int cpu)
 * sets in .bss `out`: rq_cpu = bpf_per_cpu_ptr(&runqueues, cpu)->cpu = cpu (-1 when
 * cpu is not possible), this_rq_cpu = bpf_this_cpu_ptr(&runqueues)->cpu =
 * smp_id = bpf_get_smp_processor_id(); returns 0. The kernel resolves the variable's
 * address by name in kallsyms: without CONFIG_KALLSYMS_ALL it rejects the program
 * (ENOENT, "failed to find the address"), for libbpf as for tsbpf.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct rq {
	int cpu;
} __attribute__((preserve_access_index));

extern const struct rq runqueues __ksym;

struct rq_out {
	int rq_cpu;
	int this_rq_cpu;
	int smp_id;
};

struct rq_out out = {};

SEC("syscall")
int read_rq(int *cpu)
{
	struct rq *rq;

	rq = bpf_per_cpu_ptr(&runqueues, *cpu);
	out.rq_cpu = rq ? rq->cpu : -1;
	rq = bpf_this_cpu_ptr(&runqueues);
	out.this_rq_cpu = rq->cpu;
	out.smp_id = bpf_get_smp_processor_id();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
