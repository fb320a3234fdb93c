// runqlat-like: a run-queue latency histogram in the style of libbpf-tools' runqlat: tp_btf
// programs, a HASH of wakeup times, a HASH of log2 histograms, const volatile filters, a
// CGROUP_ARRAY filter map, and the task-state read that works on kernels before and after
// task_struct.state became __state (bpf_core_field_exists on a ___flavour struct).
// - on_wakeup, SEC("tp_btf/sched_wakeup"), and on_wakeup_new, SEC("tp_btf/sched_wakeup_new"):
//   start[p->pid] = bpf_ktime_get_ns() unless p->pid is 0 or targ_tgid is set and differs.
// - on_switch, SEC("tp_btf/sched_switch"): a preempted prev (state 0, TASK_RUNNING) is
//   enqueued as above; then for next: delta = now - start[next->pid] in us (ms with targ_ms),
//   hists[key].slots[min(log2(delta), 25)] += 1 with key = next->tgid under targ_per_process,
//   else (u32)-1; start[next->pid] deleted. All return 0. With filter_cg, only tasks under
//   cgroup_map[0] count.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define MAX_SLOTS 26

struct hist {
	u32 slots[MAX_SLOTS];
};

// Linux < 5.14 named the field state (a long).
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

const volatile bool filter_cg = false;
const volatile bool targ_per_process = false;
const volatile bool targ_ms = false;
const volatile pid_t targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__type(key, u32);
	__type(value, u32);
	__uint(max_entries, 1);
} cgroup_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct hist);
} hists SEC(".maps");

static struct hist zero;

static __always_inline long task_state(struct task_struct *t)
{
	struct task_struct___pre514 *old = (void *)t;

	if (bpf_core_field_exists(old->state))
		return BPF_CORE_READ(old, state);
	return BPF_CORE_READ(t, __state);
}

static __always_inline u32 log2_u64(u64 v)
{
	u32 r = 0;

	for (int i = 0; i < 64 && v > 1; i++) {
		v >>= 1;
		r++;
	}
	return r;
}

static __always_inline void enqueue(u32 tgid, u32 pid)
{
	u64 ts;

	if (!pid || (targ_tgid && targ_tgid != tgid))
		return;
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &pid, &ts, BPF_ANY);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	if (filter_cg && !bpf_current_task_under_cgroup(&cgroup_map, 0))
		return 0;
	enqueue(p->tgid, p->pid);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_wakeup_new, struct task_struct *p)
{
	if (filter_cg && !bpf_current_task_under_cgroup(&cgroup_map, 0))
		return 0;
	enqueue(p->tgid, p->pid);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct hist *h;
	u64 *tsp, delta;
	u32 pid, key, slot;

	if (filter_cg && !bpf_current_task_under_cgroup(&cgroup_map, 0))
		return 0;
	if (task_state(prev) == 0)
		enqueue(prev->tgid, prev->pid);

	pid = next->pid;
	tsp = bpf_map_lookup_elem(&start, &pid);
	if (!tsp)
		return 0;
	delta = bpf_ktime_get_ns() - *tsp;
	delta /= targ_ms ? 1000000 : 1000;
	key = targ_per_process ? next->tgid : (u32)-1;
	h = bpf_map_lookup_elem(&hists, &key);
	if (!h) {
		bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h)
			goto out;
	}
	slot = log2_u64(delta);
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	__sync_fetch_and_add(&h->slots[slot], 1);
out:
	bpf_map_delete_elem(&start, &pid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
