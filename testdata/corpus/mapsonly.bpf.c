// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corpus: an object with maps and no programs (libbpf loads it: it creates the maps).
 *
 *   table    HASH   key u32, value u64, max_entries 16
 *   events   RINGBUF max_entries 8192
 *   mapsonly.data  the .data global `generation` = 7 (u32)
 *
 * `tsbpf check` lists these three maps and says "0 programs"; a test creates them and
 * reads generation == 7 through the .data map.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8192);
} events SEC(".maps");

__u32 generation = 7;
