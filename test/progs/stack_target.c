/*
 * A known user stack: main -> outer -> middle -> leaf, which makes the getppid system
 * call itself, so the frame-pointer chain the kernel walks starts in leaf. Built with
 * -O0 -fno-omit-frame-pointer: no inlining, every frame linked. It then waits for its
 * standard input to close, so that its mappings are there while its frames are resolved.
 */
#include <stdio.h>

__attribute__((noinline)) static long leaf(void)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "0"(110L) : "rcx", "r11", "memory");
	return ret;
}

__attribute__((noinline)) static long middle(void) { return leaf() + 1; }
__attribute__((noinline)) static long outer(void) { return middle() + 1; }

int main(void)
{
	printf("%ld\n", outer());
	fflush(stdout);
	while (getchar() != EOF)
		;
	return 0;
}
