/* USDT test target: probes tsbpf:args (int, long, string) ITER times and tsbpf:sem
 * (behind a semaphore), printing "sem=N" each round so the test sees whether the
 * kernel's uprobe ref counter set the semaphore while a program was attached. */
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>

/* With _SDT_HAS_SEMAPHORES every probe names one; tsbpf:args fires regardless of its own. */
__extension__ unsigned short tsbpf_args_semaphore __attribute__((unused)) __attribute__((section(".probes")));
__extension__ unsigned short tsbpf_sem_semaphore __attribute__((unused)) __attribute__((section(".probes")));
__extension__ unsigned short tsbpf_twice_semaphore __attribute__((unused)) __attribute__((section(".probes")));

/* Inlined at two call sites: one probe name, two locations (two notes). */
static inline __attribute__((always_inline)) void twice(long v) { DTRACE_PROBE1(tsbpf, twice, v); }

int main(int argc, char **argv) {
  int iters = argc > 1 ? atoi(argv[1]) : 3;
  /* "wait": read a line first, so that a test can attach to this pid (kernels without BPF cookies). */
  if (argc > 2 && !strcmp(argv[2], "wait") && !fgets((char[8]){0}, 8, stdin)) return 1;
  for (int i = 0; i < iters; i++) {
    char s[16];
    int a = i - 7;
    long b = -(1L << 40) + i;
    snprintf(s, sizeof s, "tsbpf-%d", i);
    DTRACE_PROBE3(tsbpf, args, a, b, s);
    if (tsbpf_sem_semaphore) DTRACE_PROBE1(tsbpf, sem, 100 + i);
    twice(1000 + i);
    twice(2000 + i);
    printf("sem=%u\n", (unsigned)tsbpf_sem_semaphore);
  }
  return 0;
}
