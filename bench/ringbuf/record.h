/* The bench's ring buffer record: 40 bytes, shaped like a typical tracing event
 * (one 64-bit value and a comm), with a sequence number first. */
#ifndef __BENCH_RECORD_H
#define __BENCH_RECORD_H

struct record {
	unsigned int seq;          /* low 32 bits of the producer's sequence number */
	unsigned int cpu;
	unsigned long long ts_ns;  /* bpf_ktime_get_ns() of the trigger */
	unsigned int pid;
	unsigned int tid;
	char comm[16];
};

/* Global counters in .bss, read by the consumers after a run. */
struct counters {
	unsigned long long seq;    /* records produced so far (next sequence number) */
	unsigned long long full;   /* bpf_ringbuf_reserve failures: ring full, producer backed off */
};

#ifndef RING_SIZE
#define RING_SIZE (16 << 20)
#endif

#endif
