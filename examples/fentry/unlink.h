/* One record per unlink (do_unlinkat): who, which file, and on return its result. */
#ifndef __UNLINK_H
#define __UNLINK_H

struct event {
	int pid;		/* the unlinking process */
	int ret;		/* 0 on entry; do_unlinkat's return value on return */
	int is_return;		/* 0 entry probe, 1 return probe */
	char filename[256];	/* the file name as given (entry and, for fexit, return) */
};

#endif /* __UNLINK_H */
