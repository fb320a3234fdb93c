// Records USDT arguments through usdt.bpf.h; the section's binary path is filled in
// by test/usdt.test.ts (it builds the target in a temporary directory).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

struct rec {
  __u32 pid;
  __s32 a;
  __s64 b;
  char s[16];
};

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 3); __type(key, __u32); __type(value, __u64); } hits SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32); __type(value, struct rec); } recs SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32); __type(value, __s64); } semv SEC(".maps");

static __always_inline __u32 bump(__u32 which) {
  __u64 *n = bpf_map_lookup_elem(&hits, &which);
  if (!n) return 8;
  /* Not __sync_fetch_and_add's result: an atomic fetch needs 5.12, the matrix runs 5.10.
   * The test's probes fire one at a time, from one thread. */
  __u64 old = *n;
  *n = old + 1;
  return (__u32)old;
}

SEC("usdt/@BINARY@:tsbpf:args")
int BPF_USDT(on_args, int a, long b, const char *s) {
  __u32 slot = bump(0);
  struct rec *r = bpf_map_lookup_elem(&recs, &slot);
  if (!r) return 0;
  r->pid = bpf_get_current_pid_tgid() >> 32;
  r->a = a;
  r->b = b;
  bpf_probe_read_user_str(r->s, sizeof r->s, s);
  return 0;
}

SEC("usdt")
int BPF_USDT(on_sem, long v) {
  __u32 slot = bump(1);
  __s64 *p = bpf_map_lookup_elem(&semv, &slot);
  if (p) *p = v;
  return 0;
}

// tsbpf:twice has two locations; one attach covers both.
SEC("usdt")
int BPF_USDT(on_twice, long v) {
  __u32 k = 2;
  __u64 *n = bpf_map_lookup_elem(&hits, &k);
  if (n) __sync_fetch_and_add(n, v);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
