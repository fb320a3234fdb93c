// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The C reference consumer of bench/ringbuf: libbpf (Debian's libbpf-dev) opens and loads
 * the bench's producer object, and consumes its ring with ring_buffer__consume /
 * ring_buffer__poll doing the same view-only work as tsbpf's view consumer: read the
 * record's sequence number and check it follows the previous one.
 *
 *   consumer OBJ backlog ROUNDS PER_ROUND
 *       warm-up round, then ROUNDS times: run the producer once for PER_ROUND records
 *       (BPF_PROG_TEST_RUN), then time ring_buffer__consume() of the backlog.
 *   consumer OBJ concurrent TOTAL BATCH PRODUCER [CPU]
 *       fork+exec PRODUCER (producer.c) on the program's id, and consume with
 *       ring_buffer__poll() while it produces; timed from the first non-empty poll to the
 *       last record.
 *
 * Prints one JSON line with records, seconds, records/s, gaps (sequence breaks) and the
 * BPF counters.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "record.h"

struct state {
	unsigned long long count;
	unsigned long long gaps;
	unsigned expected;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct state *s = ctx;
	unsigned seq = ((const struct record *)data)->seq;

	if (seq != s->expected)
		s->gaps++;
	s->expected = seq + 1;
	s->count++;
	return 0;
}

static void die(const char *what)
{
	fprintf(stderr, "consumer: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int produce(int prog_fd, unsigned n)
{
	unsigned long long args[1] = { n };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args));
	if (bpf_prog_test_run_opts(prog_fd, &opts))
		die("BPF_PROG_TEST_RUN");
	return opts.retval;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: consumer OBJ backlog ROUNDS PER_ROUND | consumer OBJ concurrent TOTAL BATCH PRODUCER [CPU]\n");
		return 2;
	}
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj)
		die("bpf_object__open_file");
	if (bpf_object__load(obj))
		die("bpf_object__load");
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "produce");
	struct bpf_map *rbmap = bpf_object__find_map_by_name(obj, "rb");
	struct bpf_map *bss = NULL, *m;
	bpf_object__for_each_map(m, obj) {
		const char *name = bpf_map__name(m);
		size_t len = strlen(name);
		if (len > 4 && !strcmp(name + len - 4, ".bss"))
			bss = m;
	}
	if (!prog || !rbmap || !bss) {
		fprintf(stderr, "consumer: %s lacks produce, rb or .bss\n", argv[1]);
		return 1;
	}
	int prog_fd = bpf_program__fd(prog);
	struct state st = { 0 };
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(rbmap), on_record, &st, NULL);
	if (!rb)
		die("ring_buffer__new");

	const char *mode = argv[2];
	double seconds = 0;
	unsigned long long counted = 0;
	if (!strcmp(mode, "backlog")) {
		unsigned rounds = strtoul(argv[3], NULL, 10), per = strtoul(argv[4], NULL, 10);
		for (unsigned r = 0; r <= rounds; r++) {
			if ((unsigned)produce(prog_fd, per) != per) {
				fprintf(stderr, "consumer: the producer wrote less than %u records: ring too small\n", per);
				return 1;
			}
			unsigned long long before = st.count;
			double t0 = now();
			int n = ring_buffer__consume(rb);
			double t1 = now();
			if (n < 0)
				die("ring_buffer__consume");
			if (st.count - before != per) {
				fprintf(stderr, "consumer: round %u consumed %llu of %u records\n", r, st.count - before, per);
				return 1;
			}
			if (r == 0)
				continue; /* warm-up */
			seconds += t1 - t0;
			counted += per;
		}
	} else if (!strcmp(mode, "concurrent")) {
		if (argc < 6) {
			fprintf(stderr, "consumer: concurrent needs TOTAL BATCH PRODUCER\n");
			return 2;
		}
		unsigned long long total = strtoull(argv[3], NULL, 10);
		struct bpf_prog_info info = { 0 };
		__u32 info_len = sizeof(info);
		if (bpf_obj_get_info_by_fd(prog_fd, &info, &info_len))
			die("BPF_OBJ_GET_INFO_BY_FD");
		char id[16];
		snprintf(id, sizeof(id), "%u", info.id);
		fflush(stdout);
		pid_t child = fork();
		if (child < 0)
			die("fork");
		if (child == 0) {
			execl(argv[5], argv[5], id, argv[3], argv[4], argc > 6 ? argv[6] : NULL, (char *)NULL);
			die("exec producer");
		}
		double start = 0, end = 0;
		while (st.count < total) {
			double t = now();
			int n = ring_buffer__poll(rb, 1000);
			if (n < 0 && n != -EINTR)
				die("ring_buffer__poll");
			if (n > 0 && !start)
				start = t;
		}
		end = now();
		int status;
		waitpid(child, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "consumer: the producer failed\n");
			return 1;
		}
		seconds = end - start;
		counted = st.count;
	} else {
		fprintf(stderr, "consumer: unknown mode %s\n", mode);
		return 2;
	}

	struct counters c = { 0 };
	int zero = 0;
	if (bpf_map_lookup_elem(bpf_map__fd(bss), &zero, &c))
		die("reading .bss");
	printf("{\"consumer\":\"c\",\"mode\":\"%s\",\"records\":%llu,\"seconds\":%.6f,\"rps\":%.0f,\"consumed\":%llu,"
	       "\"gaps\":%llu,\"produced\":%llu,\"full\":%llu}\n",
	       mode, counted, seconds, counted / seconds, st.count, st.gaps, c.seq, c.full);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
