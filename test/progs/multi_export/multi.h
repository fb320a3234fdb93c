/* Two event structs, each through a ring buffer of its own. */
#ifndef MULTI_H
#define MULTI_H

struct exec_ev {
	unsigned int pid;
	char comm[16];
};

struct exit_ev {
	unsigned int pid;
	unsigned int tag;
};

#endif
