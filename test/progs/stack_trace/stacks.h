#ifndef __STACKS_H
#define __STACKS_H

#define MAX_STACK_DEPTH 128

typedef __u64 stack_trace_t[MAX_STACK_DEPTH];

/* eunomia's stack_trace interpreter reads these fields by name. */
struct stacktrace_event {
	__u32 pid;
	__u32 cpu_id;
	char comm[16];
	__s32 kstack_sz;
	__s32 ustack_sz;
	stack_trace_t kstack;
	stack_trace_t ustack;
};

#endif /* __STACKS_H */
