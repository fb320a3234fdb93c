// A flow dissector that leaves dissection to the kernel, and an sk_lookup program that passes.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("flow_dissector")
int dissect(void *skb)
{
	return 0x7fffffff; /* BPF_FLOW_DISSECTOR_CONTINUE: the kernel's own dissector */
}

SEC("sk_lookup")
int lookup(void *ctx)
{
	return 1; /* SK_PASS */
}

char LICENSE[] SEC("license") = "GPL";
