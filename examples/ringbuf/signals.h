/* One record per signal sent (the signal_generate tracepoint), through a ring buffer. */
#ifndef __SIGNALS_H
#define __SIGNALS_H

struct event {
	int pid;	/* sender: the process that was running when the signal was generated */
	int tpid;	/* target thread */
	int sig;
	int result;	/* 0 delivered, 1 ignored, 2 already pending, 3 queue full, 4 info lost */
	char comm[16];	/* sender's command name */
};

#endif /* __SIGNALS_H */
