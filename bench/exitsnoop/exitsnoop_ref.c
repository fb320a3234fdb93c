// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The C reference monitor of bench/exitsnoop: tsbpf's own exitsnoop BPF object
 * (tools/exitsnoop/exitsnoop.bpf.o, the same program and 256 KiB ring) opened, loaded and
 * attached with libbpf (Debian's libbpf-dev), its ring polled with ring_buffer__poll, one
 * text line per exit on stdout, written with stdio and flushed after every poll that
 * returned events (so, like tsbpf exitsnoop, it writes once per batch and a reader of the
 * file sees each exit as soon as it is consumed):
 *
 *   PID PPID EXIT_CODE DURATION_NS COMM
 *
 *   exitsnoop_ref OBJECT
 *
 * Says "Tracing process exits (libbpf reference)" on stderr once attached; on SIGINT or
 * SIGTERM it consumes what is left in the ring, flushes and exits 0.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "exitsnoop.h"

static volatile sig_atomic_t exiting;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	(void)size;
	printf("%d %d %u %llu %s\n", e->pid, e->ppid, (e->status >> 8) & 0xff, e->duration_ns, e->comm);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: exitsnoop_ref OBJECT\n");
		return 2;
	}
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "exitsnoop_ref: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "exitsnoop_ref: load: %s\n", strerror(errno));
		return 1;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "handle_exit");
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "events");
	if (!prog || !map) {
		fprintf(stderr, "exitsnoop_ref: %s has no handle_exit or events\n", argv[1]);
		return 1;
	}
	struct bpf_link *link = bpf_program__attach(prog);
	if (!link) {
		fprintf(stderr, "exitsnoop_ref: attach: %s\n", strerror(errno));
		return 1;
	}
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(map), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "exitsnoop_ref: ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}
	fprintf(stderr, "Tracing process exits (libbpf reference)... Ctrl-C to end.\n");
	while (!exiting) {
		int err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "exitsnoop_ref: ring_buffer__poll: %s\n", strerror(-err));
			break;
		}
		if (err > 0)
			fflush(stdout);
	}
	ring_buffer__consume(rb);
	fflush(stdout);
	ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
