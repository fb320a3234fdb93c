/* The record exitsnoop's BPF program sends per exit, and its filter settings. */
#ifndef __EXITSNOOP_H
#define __EXITSNOOP_H

#define TASK_COMM_LEN 16

struct event {
	unsigned long long ts_ns;	/* bpf_ktime_get_ns() at the exit: CLOCK_MONOTONIC */
	unsigned long long duration_ns;	/* age: exit time minus the process's (thread's) start */
	unsigned long long cgroup_id;	/* cgroup v2 id of the exiting task */
	int pid;			/* process id (tgid) */
	int tid;			/* the thread whose exit this is */
	int ppid;			/* real_parent's tgid: the process that wait()s */
	int ns_pid;			/* pid inside the process's own pid namespace */
	unsigned int uid;		/* real uid */
	unsigned int status;		/* wait(2) status the parent sees: code << 8 | 0x80 core | signal */
	char comm[TASK_COMM_LEN];	/* the process's name (its main thread's comm) */
};

#endif /* __EXITSNOOP_H */
