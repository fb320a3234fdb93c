// Refuses IPv4 connects to port 7 from the cgroup it is attached to, and counts them.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct bpf_sock_addr {
	u32 user_family;
	u32 user_ip4;
	u32 user_ip6[4];
	u32 user_port;	/* network byte order */
};

u64 refused = 0;

SEC("cgroup/connect4")
int refuse_port7(struct bpf_sock_addr *ctx)
{
	if (ctx->user_port == (7 << 8)) {
		__sync_fetch_and_add(&refused, 1);
		return 0; /* connect() fails with EPERM */
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
