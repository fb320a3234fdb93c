// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Ring buffer producer for bench/ringbuf: one BPF_PROG_TEST_RUN of `produce` writes
 * args[0] records of struct record (40 bytes + 8-byte header) into the ring `rb` with
 * bpf_loop, reserve + submit each, as fast as the kernel allows. Every record carries the
 * next sequence number. When the ring is full, the program stops early without losing a
 * number (counters.full counts those back-offs) and returns how many it wrote, so a user
 * space producer can retry: records are never dropped, a slow consumer slows the producer.
 *
 * Wake-ups: every record but the last of a trigger is submitted with BPF_RB_NO_WAKEUP, the
 * last with BPF_RB_FORCE_WAKEUP, so a consumer that sleeps in epoll wakes once per batch.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "record.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RING_SIZE);
} rb SEC(".maps");

struct counters counters;

/* Puts struct record into the object's BTF, so user space decodes records from it. */
const volatile struct record *__bench_record_ptr __attribute__((unused));

struct batch {
	struct record tmpl;
	__u32 n;
	__u32 produced;
};

static long produce_one(__u32 i, void *data)
{
	struct batch *b = data;
	struct record *r;

	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&counters.full, 1);
		return 1; /* stop: the ring is full */
	}
	r->seq = (__u32)counters.seq;
	r->cpu = b->tmpl.cpu;
	r->ts_ns = b->tmpl.ts_ns;
	r->pid = b->tmpl.pid;
	r->tid = b->tmpl.tid;
	__builtin_memcpy(r->comm, b->tmpl.comm, sizeof(r->comm));
	counters.seq++;
	b->produced++;
	bpf_ringbuf_submit(r, i + 1 == b->n ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("raw_tp/sys_enter") /* never attached: triggered with BPF_PROG_TEST_RUN */
int produce(struct bpf_raw_tracepoint_args *ctx)
{
	struct batch b = {};
	__u64 id = bpf_get_current_pid_tgid();

	b.n = (__u32)ctx->args[0];
	b.tmpl.cpu = bpf_get_smp_processor_id();
	b.tmpl.ts_ns = bpf_ktime_get_ns();
	b.tmpl.pid = id >> 32;
	b.tmpl.tid = (__u32)id;
	bpf_get_current_comm(b.tmpl.comm, sizeof(b.tmpl.comm));
	bpf_loop(b.n, produce_one, &b, 0);
	return b.produced;
}
