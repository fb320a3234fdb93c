#ifndef __EXITS_H
#define __EXITS_H

struct event {
	int pid;
	int ppid;
	int exit_code;
	char comm[16];
};

#endif /* __EXITS_H */
