/* The event exitsnoop sends per process exit: the seed's struct, field for field. */
#ifndef __EXITSNOOP_H
#define __EXITSNOOP_H

#define TASK_COMM_LEN 16

struct event {
	int pid;
	int ppid;
	unsigned exit_code;
	unsigned long long duration_ns;
	char comm[TASK_COMM_LEN];
};

#endif /* __EXITSNOOP_H */
