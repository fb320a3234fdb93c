/*
 * Externs that cannot be resolved. helper (a __weak global in .text, as usdt.bpf.h's are)
 * reads CONFIG_TSBPF_NEVER_SET, which no config has, but no program calls it: loading
 * ok (raw_tp/sys_enter, returns 42) must work. strong (raw_tp/sys_exit) reads the
 * non-weak CONFIG_TSBPF_ALSO_NEVER_SET: loading it fails with one line naming that
 * extern.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern int CONFIG_TSBPF_NEVER_SET __kconfig;
extern int CONFIG_TSBPF_ALSO_NEVER_SET __kconfig;

__weak __attribute__((noinline)) int helper(int x)
{
	return x + CONFIG_TSBPF_NEVER_SET;
}

SEC("raw_tp/sys_enter")
int ok(void *ctx)
{
	return 42;
}

SEC("raw_tp/sys_exit")
int strong(void *ctx)
{
	return CONFIG_TSBPF_ALSO_NEVER_SET;
}

char LICENSE[] SEC("license") = "GPL";
