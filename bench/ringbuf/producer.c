// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * User-space driver of the BPF producer for the concurrent runs of bench/ringbuf: takes
 * the loaded `produce` program by id (whoever loaded it: tsbpf or libbpf), optionally pins
 * itself to one CPU, and calls BPF_PROG_TEST_RUN in a loop, asking for BATCH records each
 * time, until TOTAL records were written. A run that writes nothing means the ring is full
 * (the consumer is behind): it counts a stall and tries again at once (busy producer).
 *
 *   producer PROG_ID TOTAL BATCH [CPU]
 *
 * Prints one JSON line: {"produced":N,"calls":C,"stalls":S,"seconds":T}.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: producer PROG_ID TOTAL BATCH [CPU]\n");
		return 2;
	}
	unsigned id = strtoul(argv[1], NULL, 10);
	unsigned long long total = strtoull(argv[2], NULL, 10);
	unsigned batch = strtoul(argv[3], NULL, 10);
	if (argc > 4) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(atoi(argv[4]), &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			perror("producer: sched_setaffinity");
	}
	int fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0) {
		fprintf(stderr, "producer: program id %u: %s\n", id, strerror(errno));
		return 1;
	}
	unsigned long long produced = 0, calls = 0, stalls = 0;
	double t0 = now();
	while (produced < total) {
		unsigned long long want = total - produced < batch ? total - produced : batch;
		unsigned long long args[1] = { want };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args));
		if (bpf_prog_test_run_opts(fd, &opts)) {
			fprintf(stderr, "producer: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			return 1;
		}
		calls++;
		if (opts.retval == 0)
			stalls++;
		produced += opts.retval;
	}
	printf("{\"produced\":%llu,\"calls\":%llu,\"stalls\":%llu,\"seconds\":%.6f}\n", produced, calls, stalls, now() - t0);
	return 0;
}
