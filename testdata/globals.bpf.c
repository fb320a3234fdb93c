// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fixture: global variables in every kind of global-data section.
 *
 *   multiplier  const volatile __u32 = 2      .rodata          (set before load, frozen)
 *   negate      const volatile bool = false   .rodata
 *   calls       __u64 (zero)                  .bss
 *   bias        __u32 = 7                     .data
 *   custom      __u32 = 11                    .data.custom     (custom data section)
 *   limit       const volatile __u32 = 1000   .rodata.limits   (custom rodata section)
 *
 * `const volatile` keeps clang from folding the initial values into the code: each is
 * loaded from its map at run time, so a loader that rewrites .rodata before load changes
 * the result.
 *
 * Program `compute` (SEC "raw_tp/sys_enter", ctx: at least one u64, args[0]):
 *   x = (__u32)args[0];
 *   calls += 1;                                (not atomic)
 *   r = x * multiplier + bias + custom;        (__u32 arithmetic, wraps mod 2^32)
 *   if (r > limit) r = limit;                  (unsigned compare)
 *   return negate ? -(int)r : (int)r;
 * With the initial values: x=5 -> 28; x=0 -> 18; x=491 -> 1000; x=1000 -> 1000 (clamped).
 * With negate = true: x=5 -> -28. With multiplier = 3: x=5 -> 33.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 multiplier = 2;
const volatile bool negate = false;
__u64 calls;
__u32 bias = 7;
SEC(".data.custom") __u32 custom = 11;
SEC(".rodata.limits") const volatile __u32 limit = 1000;

SEC("raw_tp/sys_enter")
int compute(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 x = (__u32)ctx->args[0];
	__u32 r;

	calls += 1;
	r = x * multiplier + bias + custom;
	if (r > limit)
		r = limit;
	return negate ? -(int)r : (int)r;
}
