/*
 * Weak .ksyms externs and bpf_ksym_exists() (libbpf >= 1.2 semantics; libbpf 1.1 refuses
 * weak kfuncs). probe (syscall, run with BPF_PROG_TEST_RUN) sets in .bss `out`:
 *   kfunc = 1 (bpf_rcu_read_lock exists), missing_kfunc = 0 (tsbpf_no_such_kfunc),
 *   sym = 1 (schedule), missing_sym = 0 (tsbpf_no_such_symbol),
 *   missing_var = 0 (typed tsbpf_no_such_var),
 *   called = 0: the call to the missing kfunc sits behind bpf_ksym_exists(), so the
 *   verifier removes it as dead code; the program loads and returns 7.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* bpf_helpers.h of libbpf 1.1 lacks it; the same test as libbpf 1.2's. */
#define ksym_exists(sym) (!!(sym))

extern void bpf_rcu_read_lock(void) __ksym __weak;
extern void bpf_rcu_read_unlock(void) __ksym __weak;
extern void tsbpf_no_such_kfunc(void) __ksym __weak;
extern const void schedule __ksym __weak;
extern const void tsbpf_no_such_symbol __ksym __weak;
extern const int tsbpf_no_such_var __ksym __weak;

struct exists_out {
	int kfunc;
	int missing_kfunc;
	int sym;
	int missing_sym;
	int missing_var;
	int called;
};

struct exists_out out = {};

SEC("syscall")
int probe(void *ctx)
{
	out.kfunc = ksym_exists(bpf_rcu_read_lock);
	out.missing_kfunc = ksym_exists(tsbpf_no_such_kfunc);
	out.sym = ksym_exists(&schedule);
	out.missing_sym = ksym_exists(&tsbpf_no_such_symbol);
	out.missing_var = ksym_exists(&tsbpf_no_such_var);
	if (ksym_exists(tsbpf_no_such_kfunc)) {
		tsbpf_no_such_kfunc();
		out.called = 1;
	}
	if (ksym_exists(bpf_rcu_read_lock)) {
		bpf_rcu_read_lock();
		bpf_rcu_read_unlock();
	}
	return 7;
}

char LICENSE[] SEC("license") = "GPL";
