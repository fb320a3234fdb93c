/*
 * uprobe-target: the program compute.bpf.c probes. For each pair of arguments it calls
 * compute(a, b) and prints the result:  ./uprobe-target 6 7 -3 5  prints 43 and -14.
 * Build: cc -O0 -o uprobe-target target.c  (noinline keeps compute a real function).
 */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) long compute(long a, long b)
{
	return a * b + 1;
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2)
		printf("%ld\n", compute(strtol(argv[i], NULL, 0), strtol(argv[i + 1], NULL, 0)));
	return 0;
}
