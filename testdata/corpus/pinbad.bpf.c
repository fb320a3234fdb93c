// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corpus: a map with a pinning value libbpf does not know (2; only LIBBPF_PIN_NONE 0 and
 * LIBBPF_PIN_BY_NAME 1 exist). Parsing it fails with one line naming map `odd`; libbpf
 * 1.1 refuses it too. Program `nothing` (raw_tp/sys_enter) returns 0.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, 2);
} odd SEC(".maps");

SEC("raw_tp/sys_enter")
int nothing(void *ctx)
{
	return 0;
}
