/*
 * A call to a weak kfunc that this kernel lacks, not guarded by bpf_ksym_exists().
 * call_missing (syscall) is rejected: the call is reachable. The test asserts that
 * tsbpf's error names tsbpf_no_such_kfunc and that libbpf rejects the program too.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern void tsbpf_no_such_kfunc(void) __ksym __weak;

SEC("syscall")
int call_missing(void *ctx)
{
	tsbpf_no_such_kfunc();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
