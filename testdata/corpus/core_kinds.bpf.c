// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corpus: every CO-RE relocation kind clang 14 can emit, each stored as a number that
 * test/core-user.test.ts compares with the kernel's BTF (kernelBtf()).
 *
 * Program `kinds` (SEC "raw_tp/sys_enter"; ctx unused, run with BPF_PROG_TEST_RUN)
 * fills the .bss global `struct kinds out` (all __u64, in this order) and returns 0:
 *   pid_off       bpf_core_field_offset(task_struct.pid)          FIELD_BYTE_OFFSET
 *   comm3_off     offset of task_struct.comm[3] (array element)   FIELD_BYTE_OFFSET
 *   comm_size     bpf_core_field_size(task_struct.comm) = 16      FIELD_BYTE_SIZE
 *   pid_exists    bpf_core_field_exists(task_struct.pid) = 1      FIELD_EXISTS
 *   old_state     bpf_core_field_exists(task_struct___old.state)  FIELD_EXISTS, flavour:
 *                 0 on Linux >= 5.14 (state became __state), 1 before
 *   new_state     bpf_core_field_exists(task_struct___new.__state) the other way round
 *   state         the current task's state through whichever flavour exists: 0
 *                 (TASK_RUNNING, it is running this program). The read through the
 *                 missing flavour is poisoned (libbpf's call to helper 0xbad2310) and
 *                 dead code, so the verifier accepts the program.
 *   pid_signed    FIELD_SIGNED of task_struct.pid = 1 (pid_t is int)
 *   flags_signed  FIELD_SIGNED of task_struct.flags = 0 (unsigned int)
 *   prec_lshift   FIELD_LSHIFT_U64 of perf_event_attr.precise_ip (2-bit bitfield)
 *   prec_rshift   FIELD_RSHIFT_U64 of perf_event_attr.precise_ip = 62
 *   prec_size     FIELD_BYTE_SIZE of the precise_ip load = 8
 *   freq_off      offset of perf_event_attr.sample_freq, which the kernel keeps in an
 *                 anonymous union (the local struct has it as a direct member) = 16
 *   precise_ip, inherit, sample_id_all, sample_freq
 *                 read with BPF_CORE_READ_BITFIELD_PROBED / BPF_CORE_READ from the .bss
 *                 buffer `attr_image` (136 bytes) that the test fills as a kernel
 *                 struct perf_event_attr (precise_ip = 2, inherit = 1, sample_id_all = 1,
 *                 sample_freq = 4000)
 *   local_id      bpf_core_type_id_local(struct task_struct): its id in this object's BTF
 *   target_id     bpf_core_type_id_kernel(struct task_struct): its id in vmlinux BTF
 *   task_exists   bpf_core_type_exists(struct task_struct) = 1     TYPE_EXISTS
 *   absent_exists bpf_core_type_exists(struct tsbpf_absent) = 0
 *   task_size     bpf_core_type_size(struct task_struct)           TYPE_SIZE
 *   sid_value     bpf_core_enum_value(enum pid_type, PIDTYPE_SID) = 3 in the kernel
 *                 (the local enum says 7 on purpose, so the relocation must change it)
 *   sid_exists    bpf_core_enum_value_exists(enum pid_type, PIDTYPE_SID) = 1
 *   none_exists   bpf_core_enum_value_exists(enum pid_type, PIDTYPE_TSBPF_NONE) = 0
 * Not here: TYPE_MATCHES (bpf_core_type_matches): clang 14 aborts on it ("Incorrect
 * flag for llvm.bpf.preserve.type.info intrinsic"); unit tests cover it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct kinds {
	__u64 pid_off, comm3_off, comm_size, pid_exists, old_state, new_state, state;
	__u64 pid_signed, flags_signed, prec_lshift, prec_rshift, prec_size, freq_off;
	__u64 precise_ip, inherit, sample_id_all, sample_freq;
	__u64 local_id, target_id, task_exists, absent_exists, task_size;
	__u64 sid_value, sid_exists, none_exists;
};

struct kinds out;
__u8 attr_image[136];

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

struct task_struct___new {
	unsigned int __state;
} __attribute__((preserve_access_index));

/* Laid out unlike the kernel's on purpose: every offset and shift must be relocated. */
struct perf_event_attr {
	__u32 type;
	__u64 sample_freq;
	__u64 inherit: 1, sample_id_all: 1, precise_ip: 2;
} __attribute__((preserve_access_index));

struct tsbpf_absent {
	int nothing;
} __attribute__((preserve_access_index));

enum pid_type {
	PIDTYPE_PID = 0,
	PIDTYPE_SID = 7,
	PIDTYPE_TSBPF_NONE = 9,
};

SEC("raw_tp/sys_enter")
int kinds(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct perf_event_attr *attr = (struct perf_event_attr *)attr_image;

	out.pid_off = bpf_core_field_offset(task->pid);
	out.comm3_off = __builtin_preserve_field_info(task->comm[3], BPF_FIELD_BYTE_OFFSET);
	out.comm_size = bpf_core_field_size(task->comm);
	out.pid_exists = bpf_core_field_exists(task->pid);
	out.old_state = bpf_core_field_exists(((struct task_struct___old *)task)->state);
	out.new_state = bpf_core_field_exists(((struct task_struct___new *)task)->__state);
	if (bpf_core_field_exists(((struct task_struct___new *)task)->__state))
		out.state = BPF_CORE_READ((struct task_struct___new *)task, __state);
	else
		out.state = BPF_CORE_READ((struct task_struct___old *)task, state);
	out.pid_signed = __builtin_preserve_field_info(task->pid, BPF_FIELD_SIGNED);
	out.flags_signed = __builtin_preserve_field_info(task->flags, BPF_FIELD_SIGNED);
	out.prec_lshift = __builtin_preserve_field_info(attr->precise_ip, BPF_FIELD_LSHIFT_U64);
	out.prec_rshift = __builtin_preserve_field_info(attr->precise_ip, BPF_FIELD_RSHIFT_U64);
	out.prec_size = __builtin_preserve_field_info(attr->precise_ip, BPF_FIELD_BYTE_SIZE);
	out.freq_off = bpf_core_field_offset(attr->sample_freq);
	out.precise_ip = BPF_CORE_READ_BITFIELD_PROBED(attr, precise_ip);
	out.inherit = BPF_CORE_READ_BITFIELD_PROBED(attr, inherit);
	out.sample_id_all = BPF_CORE_READ_BITFIELD_PROBED(attr, sample_id_all);
	out.sample_freq = BPF_CORE_READ(attr, sample_freq);
	out.local_id = bpf_core_type_id_local(struct task_struct);
	out.target_id = bpf_core_type_id_kernel(struct task_struct);
	out.task_exists = bpf_core_type_exists(struct task_struct);
	out.absent_exists = bpf_core_type_exists(struct tsbpf_absent);
	out.task_size = bpf_core_type_size(struct task_struct);
	out.sid_value = bpf_core_enum_value(enum pid_type, PIDTYPE_SID);
	out.sid_exists = bpf_core_enum_value_exists(enum pid_type, PIDTYPE_SID);
	out.none_exists = bpf_core_enum_value_exists(enum pid_type, PIDTYPE_TSBPF_NONE);
	return 0;
}
