// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fork/exit load for bench/exitsnoop: fork(); the child _exit(CODE)s at once; the parent
 * waitpid()s it; repeated as fast as possible for SECONDS. The loop renames itself
 * (prctl PR_SET_NAME) to "tsbpf_forkloop" first, so its children carry that comm, and
 * their parent pid is this process: that is how the bench finds them in a monitor's output.
 *
 *   forkloop SECONDS [CODE]        (CODE defaults to 7)
 *
 * Prints one JSON line: {"pid":P,"forked":N,"seconds":T,"bad_status":B}; bad_status counts
 * children whose wait status was not a normal exit with CODE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: forkloop SECONDS [CODE]\n");
		return 2;
	}
	double seconds = atof(argv[1]);
	int code = argc > 2 ? atoi(argv[2]) : 7;
	prctl(PR_SET_NAME, "tsbpf_forkloop", 0, 0, 0);
	unsigned long long forked = 0, bad = 0;
	double t0 = now(), t;
	while ((t = now()) - t0 < seconds) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("forkloop: fork");
			return 1;
		}
		if (pid == 0)
			_exit(code);
		int status;
		if (waitpid(pid, &status, 0) != pid) {
			perror("forkloop: waitpid");
			return 1;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != code)
			bad++;
		forked++;
	}
	printf("{\"pid\":%d,\"forked\":%llu,\"seconds\":%.6f,\"bad_status\":%llu}\n", getpid(), forked, now() - t0, bad);
	return 0;
}
