/*
 * .kconfig externs. read_kconfig (raw_tp/sys_enter, run with BPF_PROG_TEST_RUN) copies
 * every extern into .bss `out` and returns 0. test/externs.test.ts asserts:
 *   version   = LINUX_KERNEL_VERSION = KERNEL_VERSION(a, b, min(c, 255)) of uname -r
 *   wrapper   = LINUX_HAS_SYSCALL_WRAPPER = 1 when kallsyms has __<arch>_sys_bpf
 *   cookie    = LINUX_HAS_BPF_COOKIE = 1 (kernel >= 5.15 has bpf_get_attach_cookie)
 *   and every CONFIG_* as /proc/config.gz says: bool BPF_SYSCALL=y -> 1, tristate
 *   BPF_JIT=y -> TRI_YES (1), char BPF_EVENTS=y -> 'y', int HZ, u8 LOG_BUF_SHIFT, hex u64
 *   ILLEGAL_POINTER_VALUE, hex u32 PHYSICAL_START, string LOCALVERSION (char[32]),
 *   DEFAULT_HOSTNAME in a char[4] (truncated to 3 chars + NUL, as libbpf does);
 *   weak absent ones read 0: tristate MODULES ("is not set"), bool KPROBES, int
 *   TSBPF_NO_SUCH_OPTION, virtual LINUX_TSBPF_UNKNOWN.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern bool LINUX_HAS_BPF_COOKIE __kconfig;
extern int LINUX_TSBPF_UNKNOWN __kconfig __weak;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;
extern char CONFIG_BPF_EVENTS __kconfig;
extern int CONFIG_HZ __kconfig;
extern u8 CONFIG_LOG_BUF_SHIFT __kconfig;
extern u64 CONFIG_ILLEGAL_POINTER_VALUE __kconfig;
extern u32 CONFIG_PHYSICAL_START __kconfig;
extern char CONFIG_LOCALVERSION[32] __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[4] __kconfig;
extern enum libbpf_tristate CONFIG_MODULES __kconfig __weak;
extern bool CONFIG_KPROBES __kconfig __weak;
extern int CONFIG_TSBPF_NO_SUCH_OPTION __kconfig __weak;

struct kconfig_out {
	u64 illegal_pointer_value;
	u32 version;
	u32 physical_start;
	int hz;
	int unknown_linux;
	int no_such_option;
	int bpf_jit;
	int modules;
	u8 wrapper;
	u8 cookie;
	u8 bpf_syscall;
	u8 kprobes;
	u8 log_buf_shift;
	char bpf_events;
	char localversion[32];
	char hostname[4];
};

struct kconfig_out out = {};

SEC("raw_tp/sys_enter")
int read_kconfig(void *ctx)
{
	out.version = LINUX_KERNEL_VERSION;
	out.wrapper = LINUX_HAS_SYSCALL_WRAPPER;
	out.cookie = LINUX_HAS_BPF_COOKIE;
	out.unknown_linux = LINUX_TSBPF_UNKNOWN;
	out.bpf_syscall = CONFIG_BPF_SYSCALL;
	out.bpf_jit = CONFIG_BPF_JIT;
	out.bpf_events = CONFIG_BPF_EVENTS;
	out.hz = CONFIG_HZ;
	out.log_buf_shift = CONFIG_LOG_BUF_SHIFT;
	out.illegal_pointer_value = CONFIG_ILLEGAL_POINTER_VALUE;
	out.physical_start = CONFIG_PHYSICAL_START;
	__builtin_memcpy(out.localversion, CONFIG_LOCALVERSION, sizeof(out.localversion));
	__builtin_memcpy(out.hostname, CONFIG_DEFAULT_HOSTNAME, sizeof(out.hostname));
	out.modules = CONFIG_MODULES;
	out.kprobes = CONFIG_KPROBES;
	out.no_such_option = CONFIG_TSBPF_NO_SUCH_OPTION;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
