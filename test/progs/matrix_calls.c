// For test/matrix/hooks.test.ts: kill(2147483600, SIG) (no such process: ESRCH), then N
// nanosleeps of 1 ms; prints the kill's errno. Usage: tsbpf-mx-calls SIG N
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	int err = kill(2147483600, atoi(argv[1])) ? errno : 0;
	struct timespec ms = { 0, 1000000 };
	for (int i = 0, n = atoi(argv[2]); i < n; i++)
		nanosleep(&ms, NULL);
	printf("%d\n", err);
	return 0;
}
