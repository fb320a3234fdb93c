// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fixture: BPF-to-BPF calls (static and global subprograms) and a bpf_loop callback.
 *
 * Subprograms, all in .text:
 *   add3(a)    = a + 3            static  (__noinline)
 *   mul2(x)    = 2 * x            global  (__noinline; the kernel verifies a global
 *                                          function on its own, for any int argument)
 *   sq_plus(x) = x * x + add3(0)  static  (__noinline; a call from .text into .text)
 *   sum_cb(i, data): data->sum += i; return 0   static, bpf_loop callback
 *
 * Programs (int arithmetic, 32-bit, wraps):
 *   calls     SEC "raw_tp/sys_enter":   x = (int)args[0];
 *             returns mul2(add3(x)) + sq_plus(x) = 2(x+3) + x*x + 3.
 *             x=5 -> 44; x=0 -> 9; x=-3 -> 12; x=10 -> 129.
 *   second    SEC "raw_tp/sys_exit":    returns add3((int)args[0]) * 10.
 *             x=5 -> 80; x=0 -> 30; x=-3 -> 0.
 *   loop_sum  SEC "raw_tp/sched_switch": n = (__u32)args[0];
 *             bpf_loop(n, sum_cb, &ctx, 0) with ctx.sum = 0; returns (int)ctx.sum
 *             = 0 + 1 + ... + (n-1) = n(n-1)/2.  n=10 -> 45; n=0 -> 0; n=100 -> 4950.
 *             (n > 1<<23: bpf_loop refuses with -E2BIG, nothing is added, returns 0.)
 *             Needs bpf_loop (Linux 5.17+).
 *
 * Relocations each exercises (as clang 14 emits them; see testdata/README.md):
 *   - calls -> add3, calls -> sq_plus, second -> add3: calls from a program section to a
 *     STATIC function in .text: R_BPF_64_32 against the SECTION symbol .text; the callee's
 *     place is in the call's imm: callee insn index in .text = imm + 1 (add3: imm 2).
 *   - calls -> mul2: call to a GLOBAL function: R_BPF_64_32 against the FUNC symbol mul2
 *     (imm = -1; callee = the symbol's value / 8).
 *   - sq_plus -> add3: a call inside .text needs no relocation at all: clang resolves it
 *     pc-relative (call -7); the loader must keep it pointing at add3 when it copies
 *     .text functions after a program.
 *   - loop_sum: `r2 = sum_cb ll` (ld_imm64 of a function address, which the loader marks
 *     BPF_PSEUDO_FUNC): R_BPF_64_64 against the section symbol .text, with the callee's
 *     BYTE offset in .text in the ld_imm64's imm (96 = sum_cb).
 *   So every program needs .text subprograms appended, and the call / ld_imm64 offsets
 *   rewritten relative to the program's own final instruction stream.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __noinline int add3(int a)
{
	return a + 3;
}

__noinline int mul2(int x)
{
	return 2 * x;
}

static __noinline int sq_plus(int x)
{
	return x * x + add3(0);
}

SEC("raw_tp/sys_enter")
int calls(struct bpf_raw_tracepoint_args *ctx)
{
	int x = (int)ctx->args[0];

	return mul2(add3(x)) + sq_plus(x);
}

SEC("raw_tp/sys_exit")
int second(struct bpf_raw_tracepoint_args *ctx)
{
	return add3((int)ctx->args[0]) * 10;
}

struct loop_ctx {
	__u64 sum;
};

static int sum_cb(__u32 index, void *data)
{
	struct loop_ctx *lc = data;

	lc->sum += index;
	return 0;
}

SEC("raw_tp/sched_switch")
int loop_sum(struct bpf_raw_tracepoint_args *ctx)
{
	struct loop_ctx lc = { .sum = 0 };

	bpf_loop((__u32)ctx->args[0], sum_cb, &lc, 0);
	return (int)lc.sum;
}
