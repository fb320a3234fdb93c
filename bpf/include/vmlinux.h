/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tsbpf's minimal, hand-written vmlinux.h for CO-RE BPF programs.
 *
 * Why it is small and hand-written instead of `bpftool btf dump file
 * /sys/kernel/btf/vmlinux format c`:
 *   The compiled fixture objects (testdata/NAME.bpf.o, tools/NAME/NAME.bpf.o) are committed, and
 *   `scripts/build-bpf.mjs --check` verifies that rebuilding them gives the same bytes on
 *   any machine. The BTF that clang embeds in an object describes the types the program
 *   uses, as this header spells them; a header dumped from the running kernel would make
 *   the objects depend on which kernel built them. So this file holds only what the
 *   project's programs and libbpf's bpf_helpers.h / bpf_tracing.h / bpf_core_read.h need.
 *
 * Kernel structs are declared inside the preserve_access_index region below, with only the
 * fields our programs read. CO-RE relocates field offsets against the running kernel's
 * BTF at load time, so the layout here need NOT match the kernel: the struct names, field
 * names and field kinds (integer / pointer / array / struct) must. Field names and types
 * were checked against Linux 6.18's /sys/kernel/btf/vmlinux.
 *
 * UAPI structs (stable layout: bpf_raw_tracepoint_args) are declared outside the CO-RE
 * region, so reading a raw tracepoint's args needs no relocation.
 *
 * To add a field: check it exists with
 *   bpftool btf dump file /sys/kernel/btf/vmlinux format c | awk '/^struct NAME \{/,/^\};/'
 * and add it with the same name and kind. For fields that only some kernels have, use a
 * local "flavor" struct (struct NAME___suffix) and bpf_core_field_exists().
 */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

/* ---------------------------------------------------------------- basic types */

typedef signed char __s8;
typedef unsigned char __u8;
typedef short int __s16;
typedef short unsigned int __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long int __s64;
typedef long long unsigned int __u64;

typedef __s8 s8;
typedef __u8 u8;
typedef __s16 s16;
typedef __u16 u16;
typedef __s32 s32;
typedef __u32 u32;
typedef __s64 s64;
typedef __u64 u64;

typedef __u16 __le16;
typedef __u16 __be16;
typedef __u32 __le32;
typedef __u32 __be32;
typedef __u64 __le64;
typedef __u64 __be64;
typedef __u16 __sum16;
typedef __u32 __wsum;

typedef _Bool bool;
enum {
	false = 0,
	true = 1,
};

typedef int __kernel_pid_t;
typedef __kernel_pid_t pid_t;
typedef unsigned int __kernel_uid32_t;
typedef unsigned int __kernel_gid32_t;
typedef __kernel_uid32_t uid_t;
typedef __kernel_gid32_t gid_t;
typedef long unsigned int __kernel_ulong_t;
typedef long int __kernel_long_t;
typedef __kernel_ulong_t __kernel_size_t;
typedef __kernel_long_t __kernel_ssize_t;
typedef __kernel_size_t size_t;
typedef __kernel_ssize_t ssize_t;

typedef struct {
	uid_t val;
} kuid_t;

typedef struct {
	gid_t val;
} kgid_t;

/* ---------------------------------------------------------------- UAPI (linux/bpf.h) */

/* Values as in the kernel's enum bpf_map_type (linux/bpf.h, unchanged across kernels). */
enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PROG_ARRAY = 3,
	BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_STACK_TRACE = 7,
	BPF_MAP_TYPE_CGROUP_ARRAY = 8,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_LRU_PERCPU_HASH = 10,
	BPF_MAP_TYPE_LPM_TRIE = 11,
	BPF_MAP_TYPE_ARRAY_OF_MAPS = 12,
	BPF_MAP_TYPE_HASH_OF_MAPS = 13,
	BPF_MAP_TYPE_DEVMAP = 14,
	BPF_MAP_TYPE_SOCKMAP = 15,
	BPF_MAP_TYPE_CPUMAP = 16,
	BPF_MAP_TYPE_XSKMAP = 17,
	BPF_MAP_TYPE_SOCKHASH = 18,
	BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED = 19,
	BPF_MAP_TYPE_CGROUP_STORAGE = 19,
	BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20,
	BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE_DEPRECATED = 21,
	BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE = 21,
	BPF_MAP_TYPE_QUEUE = 22,
	BPF_MAP_TYPE_STACK = 23,
	BPF_MAP_TYPE_SK_STORAGE = 24,
	BPF_MAP_TYPE_DEVMAP_HASH = 25,
	BPF_MAP_TYPE_STRUCT_OPS = 26,
	BPF_MAP_TYPE_RINGBUF = 27,
	BPF_MAP_TYPE_INODE_STORAGE = 28,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
	BPF_MAP_TYPE_BLOOM_FILTER = 30,
	BPF_MAP_TYPE_USER_RINGBUF = 31,
	BPF_MAP_TYPE_CGRP_STORAGE = 32,
	BPF_MAP_TYPE_ARENA = 33,
	__MAX_BPF_MAP_TYPE = 34,
};

/* flags for BPF_MAP_UPDATE_ELEM (bpf_map_update_elem) */
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
	BPF_F_LOCK = 4,
};

/* flags for BPF_MAP_CREATE (map_flags) */
enum {
	BPF_F_NO_PREALLOC = 1,
	BPF_F_NO_COMMON_LRU = 2,
	BPF_F_NUMA_NODE = 4,
	BPF_F_RDONLY = 8,
	BPF_F_WRONLY = 16,
	BPF_F_STACK_BUILD_ID = 32,
	BPF_F_ZERO_SEED = 64,
	BPF_F_RDONLY_PROG = 128,
	BPF_F_WRONLY_PROG = 256,
	BPF_F_CLONE = 512,
	BPF_F_MMAPABLE = 1024,
	BPF_F_PRESERVE_ELEMS = 2048,
	BPF_F_INNER_MAP = 4096,
	BPF_F_LINK = 8192,
	BPF_F_PATH_FD = 16384,
	BPF_F_VTYPE_BTF_OBJ_FD = 32768,
	BPF_F_TOKEN_FD = 65536,
	BPF_F_SEGV_ON_FAULT = 131072,
	BPF_F_NO_USER_CONV = 262144,
};

/* flags for bpf_perf_event_output / bpf_perf_event_read* */
enum {
	BPF_F_INDEX_MASK = 4294967295ULL,
	BPF_F_CURRENT_CPU = 4294967295ULL,
	BPF_F_CTXLEN_MASK = 4503595332403200ULL,
};

/* flags for bpf_get_stackid / bpf_get_stack */
enum {
	BPF_F_SKIP_FIELD_MASK = 255,
	BPF_F_USER_STACK = 256,
	BPF_F_FAST_STACK_CMP = 512,
	BPF_F_REUSE_STACKID = 1024,
	BPF_F_USER_BUILD_ID = 2048,
};

/* flags for bpf_ringbuf_output / bpf_ringbuf_submit / bpf_ringbuf_discard */
enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};

/* bpf_ringbuf_query */
enum {
	BPF_RB_AVAIL_DATA = 0,
	BPF_RB_RING_SIZE = 1,
	BPF_RB_CONS_POS = 2,
	BPF_RB_PROD_POS = 3,
};

/* bpf_{task,inode,sk,cgrp}_storage_get */
enum {
	BPF_LOCAL_STORAGE_GET_F_CREATE = 1,
	BPF_SK_STORAGE_GET_F_CREATE = 1,
};

/* bpf_timer_start */
enum {
	BPF_F_TIMER_ABS = 1,
	BPF_F_TIMER_CPU_PIN = 2,
};

/* Context of raw_tp/ programs: the tracepoint's arguments, each widened to u64. */
struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

/* ---------------------------------------------------------------- kernel-internal #defines */

/* include/linux/sched/signal.h: signal_struct.flags bit, set by exit_group() or a fatal
 * signal; then signal->group_exit_code is the status the parent's wait() sees. */
#define SIGNAL_GROUP_EXIT 0x00000004

/* ---------------------------------------------------------------- kernel structs (CO-RE) */

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

/* Only used through pointers here; CO-RE resolves them by name. */
struct nsproxy;
struct pid_namespace;

/* A pid as each pid namespace from the root down to `level` sees it: numbers[level] is the
 * innermost view (the pid inside the task's own namespace). */
struct upid {
	int nr;
	struct pid_namespace *ns;
};

struct pid {
	unsigned int level;
	struct upid numbers[0];
};
struct kernfs_node;

/* x86_64 register frame, kernel field names (arch/x86/include/asm/ptrace.h). bpf_tracing.h's
 * PT_REGS_* macros for __TARGET_ARCH_x86 read di, si, dx, cx, r8, r9, sp, bp, ax, ip. */
struct pt_regs {
	long unsigned int r15;
	long unsigned int r14;
	long unsigned int r13;
	long unsigned int r12;
	long unsigned int bp;
	long unsigned int bx;
	long unsigned int r11;
	long unsigned int r10;
	long unsigned int r9;
	long unsigned int r8;
	long unsigned int ax;
	long unsigned int cx;
	long unsigned int dx;
	long unsigned int si;
	long unsigned int di;
	long unsigned int orig_ax;
	long unsigned int ip;
	union {
		u16 cs;		/* unsigned long cs before FRED (6.9) */
		u64 csx;
	};
	long unsigned int flags;
	long unsigned int sp;
	union {
		u16 ss;
		u64 ssx;
	};
};

/* arm64's register frame as bpf_tracing.h expects it for __TARGET_ARCH_arm64. */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};

struct kernfs_node {
	u64 id;
	const char *name;
};

struct cgroup {
	struct kernfs_node *kn;
};

struct css_set {
	struct cgroup *dfl_cgrp;
};

struct cred {
	kuid_t uid;
	kgid_t gid;
	kuid_t euid;
	kgid_t egid;
};

struct signal_struct {
	int group_exit_code;
	unsigned int flags;	/* SIGNAL_GROUP_EXIT ... */
};

struct task_struct {
	unsigned int __state;
	unsigned int flags;	/* PF_* */
	int exit_code;		/* wait(2) status: exit status << 8 | signal (| 0x80 core) */
	int exit_signal;
	pid_t pid;		/* thread id */
	pid_t tgid;		/* process id */
	struct task_struct *real_parent;	/* the parent that wait()s */
	struct task_struct *parent;	/* the tracer while ptraced */
	struct task_struct *group_leader;
	struct pid *thread_pid;
	u64 start_time;		/* CLOCK_MONOTONIC ns */
	u64 start_boottime;	/* CLOCK_BOOTTIME ns */
	const struct cred *real_cred;
	const struct cred *cred;
	char comm[16];
	struct nsproxy *nsproxy;
	struct signal_struct *signal;
	struct css_set *cgroups;
};

/* Common header of every tracepoint record (tp/ programs' ctx). */
struct trace_entry {
	short unsigned int type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};

/*
 * Event class of sched_process_free, sched_wait_task, sched_kthread_stop ... (and of
 * sched_process_exit on kernels before it got its own class).
 * Older kernels: `char comm[16]`. Linux 6.18's BTF has `u32 __data_loc_comm` instead (the
 * comm is a dynamic string: offset in the low 16 bits, length in the high 16 bits, from the
 * record's start). Both are listed so a program can test which one the running kernel has
 * with bpf_core_field_exists(); only the fields a program accesses must exist.
 */
struct trace_event_raw_sched_process_template {
	struct trace_entry ent;
	char comm[16];
	u32 __data_loc_comm;
	pid_t pid;
	int prio;
	char __data[0];
};

/* sched_process_exit's own class (Linux 6.18): group_dead is true for the last thread of
 * the process. Older kernels lack group_dead: test with bpf_core_field_exists(). */
struct trace_event_raw_sched_process_exit {
	struct trace_entry ent;
	char comm[16];
	pid_t pid;
	int prio;
	bool group_dead;
	char __data[0];
};

struct trace_event_raw_sched_process_exec {
	struct trace_entry ent;
	u32 __data_loc_filename;
	pid_t pid;
	pid_t old_pid;
	char __data[0];
};

/* Linux 6.18: parent and child comm are dynamic strings (__data_loc). */
struct trace_event_raw_sched_process_fork {
	struct trace_entry ent;
	u32 __data_loc_parent_comm;
	pid_t parent_pid;
	u32 __data_loc_child_comm;
	pid_t child_pid;
	char __data[0];
};

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */

/* Appended for examples/kprobe and examples/fentry (do_unlinkat's argument). */
#ifndef __TSBPF_STRUCT_FILENAME
#define __TSBPF_STRUCT_FILENAME
struct audit_names;
struct filename {
	const char *name;
	const char *uptr;
	int refcnt;
	struct audit_names *aname;
} __attribute__((preserve_access_index));
#endif
