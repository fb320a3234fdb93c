// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corpus: BTF kinds newer than Linux 5.8, which the loader must rewrite (as libbpf
 * sanitizes BTF) for kernels that do not know them: FLOAT (5.13), DECL_TAG (5.16) and
 * TYPE_TAG (5.17). clang 14 cannot emit ENUM64. The object's BTF holds
 *   - FLOAT:     the .data global `float ratio = 1.5f`
 *   - DECL_TAG:  "tsbpf" on struct pair's member `b`, and on the global `tagged`
 *   - TYPE_TAG:  "user" on the pointee of the global `const int *tagged_ptr`
 * Program `sum` (SEC "raw_tp/sys_enter"; ctx unused, run with BPF_PROG_TEST_RUN)
 * returns tagged.a + tagged.b = 7 + 35 = 42, reading the .data global through its map.
 * test/core-user.test.ts loads it on a kernel that refuses these kinds (the real kernel
 * with BPF_BTF_LOAD rejecting them) and asserts it still loads and returns 42.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct pair {
	int a;
	int b __attribute__((btf_decl_tag("tsbpf")));
};

float ratio = 1.5f;
struct pair tagged __attribute__((btf_decl_tag("tsbpf"))) = { .a = 7, .b = 35 };
const int __attribute__((btf_type_tag("user"))) *tagged_ptr;

SEC("raw_tp/sys_enter")
int sum(void *ctx)
{
	return tagged.a + tagged.b;
}
