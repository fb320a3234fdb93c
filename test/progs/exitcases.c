// Test program for exitsnoop: ends in the way its arguments say, so tests can compare
// what exitsnoop reports with what really happened.
//
//   tsbpf-exitcases code N            exit(N)
//   tsbpf-exitcases signal SIG core|nocore
//                                     RLIMIT_CORE unlimited or 0, then raise SIG
//   tsbpf-exitcases group-exit N      a second thread calls exit_group(N) while the main
//                                     thread waits in pause()
//   tsbpf-exitcases pthread-exit N MS the main thread calls pthread_exit(); a second thread
//                                     sleeps MS ms, then exit(N)
//   tsbpf-exitcases threads N         N extra threads end with pthread_exit, then exit(0)
//   tsbpf-exitcases forkloop N        fork N children that _exit(0) at once, reaping each;
//                                     prints N when done
//   tsbpf-exitcases sleep MS          sleep MS ms, then exit(0)
//   tsbpf-exitcases names N PREFIX    fork N children, child i named PREFIXi (prctl), each
//                                     _exit(0) at once, reaping each; prints N when done
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int arg_code;
static int arg_ms;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void *group_exit(void *unused)
{
	(void)unused;
	syscall(SYS_exit_group, arg_code);
	return NULL;
}

static void *late_exit(void *unused)
{
	(void)unused;
	sleep_ms(arg_ms);
	exit(arg_code);
}

static void *short_lived(void *unused)
{
	(void)unused;
	pthread_exit(NULL);
}

int main(int argc, char **argv)
{
	pthread_t t;

	if (argc < 3) {
		fprintf(stderr, "usage: %s code N | signal SIG core|nocore | group-exit N | pthread-exit N MS | threads N | forkloop N | sleep MS | names N PREFIX\n", argv[0]);
		return 2;
	}
	const char *mode = argv[1];
	int n = atoi(argv[2]);

	if (!strcmp(mode, "code"))
		exit(n);
	if (!strcmp(mode, "signal") && argc == 4) {
		struct rlimit rl = { 0, 0 };
		if (!strcmp(argv[3], "core"))
			rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
		if (setrlimit(RLIMIT_CORE, &rl) != 0) {
			perror("setrlimit");
			return 2;
		}
		signal(n, SIG_DFL);
		raise(n);
		return 2; /* not reached for a fatal signal */
	}
	if (!strcmp(mode, "group-exit")) {
		arg_code = n;
		pthread_create(&t, NULL, group_exit, NULL);
		for (;;)
			pause();
	}
	if (!strcmp(mode, "pthread-exit") && argc == 4) {
		arg_code = n;
		arg_ms = atoi(argv[3]);
		pthread_create(&t, NULL, late_exit, NULL);
		pthread_exit(NULL);
	}
	if (!strcmp(mode, "threads")) {
		for (int i = 0; i < n; i++) {
			pthread_create(&t, NULL, short_lived, NULL);
			pthread_join(t, NULL);
		}
		exit(0);
	}
	if (!strcmp(mode, "forkloop")) {
		for (int i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid == 0)
				_exit(0);
			if (pid < 0) {
				perror("fork");
				return 2;
			}
			waitpid(pid, NULL, 0);
		}
		printf("%d\n", n);
		return 0;
	}
	if (!strcmp(mode, "names") && argc == 4) {
		for (int i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid == 0) {
				char name[16];
				snprintf(name, sizeof(name), "%s%d", argv[3], i);
				prctl(PR_SET_NAME, name);
				_exit(0);
			}
			if (pid < 0) {
				perror("fork");
				return 2;
			}
			waitpid(pid, NULL, 0);
		}
		printf("%d\n", n);
		return 0;
	}
	if (!strcmp(mode, "sleep")) {
		sleep_ms(n);
		return 0;
	}
	fprintf(stderr, "%s: unknown mode %s\n", argv[0], mode);
	return 2;
}
