// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corpus: a program in SEC("?...") is not loaded unless asked (libbpf's autoload off).
 *
 *   always    SEC("raw_tp/sys_enter")   returns 1
 *   optional  SEC("?raw_tp/sys_exit")   returns 2 (section "raw_tp/sys_exit" once parsed)
 *
 * Loaded as is, only `always` is in the kernel (libbpf 1.1 does the same); with
 * optional's autoload set (or asked by name) both load and BPF_PROG_TEST_RUN of
 * optional returns 2.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("raw_tp/sys_enter")
int always(void *ctx)
{
	return 1;
}

SEC("?raw_tp/sys_exit")
int optional(void *ctx)
{
	return 2;
}
