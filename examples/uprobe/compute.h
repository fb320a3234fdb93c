/* One record per completed call of compute(a, b) in ./uprobe-target. */
#ifndef __COMPUTE_H
#define __COMPUTE_H

struct event {
	int pid;
	long a;
	long b;
	long result;
	char comm[16];
};

#endif /* __COMPUTE_H */
