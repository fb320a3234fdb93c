/* One record per exec, sent through a perf event array. */
#ifndef __EXECS_H
#define __EXECS_H

struct event {
	int pid;
	int ppid;
	char comm[16];
};

#endif /* __EXECS_H */
