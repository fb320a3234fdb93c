/* Two structs in one header: export_types lists both, and the records are the second. */
#ifndef TWO_H
#define TWO_H

struct other {
	int a;
	int b;
};

struct event {
	unsigned int pid;
	unsigned int magic;
	char comm[16];
};

#endif
