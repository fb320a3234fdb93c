// Counts UDP packets to port 9999 at XDP and at tc (tcx), for test/net.test.ts.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct xdp_md {
	u32 data;
	u32 data_end;
	u32 data_meta;
	u32 ingress_ifindex;
	u32 rx_queue_index;
	u32 egress_ifindex;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} counts SEC(".maps");

/* Ethernet (14) + IPv4 without options (20) + UDP: destination port at 36, protocol at 23. */
static __always_inline int is_probe(const u8 *p)
{
	return p[12] == 0x08 && p[13] == 0x00 && p[14] == 0x45 && p[23] == 17 && p[36] == (9999 >> 8) && p[37] == (9999 & 0xff);
}

static __always_inline void count(u32 slot)
{
	u64 *n = bpf_map_lookup_elem(&counts, &slot);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	const u8 *p = (const u8 *)(long)ctx->data;

	if (p + 38 <= (const u8 *)(long)ctx->data_end && is_probe(p))
		count(0);
	return 2; /* XDP_PASS */
}

SEC("tc/ingress")
int tc_count(void *skb)
{
	u8 p[38];

	if (bpf_skb_load_bytes(skb, 0, p, sizeof(p)) == 0 && is_probe(p))
		count(1);
	return -1; /* TCX_NEXT */
}

char LICENSE[] SEC("license") = "GPL";
