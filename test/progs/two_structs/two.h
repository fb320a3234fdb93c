/* Two structs in one header: export_types lists both, and the records are the second. */
#ifndef TWO_H
#define TWO_H

struct other {
	int a;
	int b;
};

enum ev_kind {
	EV_NONE,
	EV_EXEC,
};

struct event {
	unsigned int pid;
	unsigned int magic;
	char comm[16];
	enum ev_kind kind;	/* printed as ecli does: EV_EXEC(1) */
};

#endif
