/* sleeplat: per-process histogram of how long clock_nanosleep calls took. */
#ifndef SLEEPLAT_H
#define SLEEPLAT_H

#define MAX_SLOTS 27

struct hist {
	unsigned int slots[MAX_SLOTS];
	char comm[16];
};

#endif
