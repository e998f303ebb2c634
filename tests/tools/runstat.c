/*
 * runstat - bench tool: run a command and report what it cost, with the
 * precision GNU time lacks (it rounds CPU time to 10 ms).
 *
 *   runstat [-i INPUT] COMMAND [ARG...]
 *
 * Prints "WALL_US CPU_US MAXRSS_KB STATUS": wall time, user+system CPU
 * of the command and every child it waited for (gpg included), peak
 * resident set of the largest of them, and the exit status (128+signal
 * if killed).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	const char *input = NULL;
	struct timespec t0, t1;
	struct rusage ru;
	int argi = 1, status;
	pid_t pid;

	if (argc > 2 && argv[1][0] == '-' && argv[1][1] == 'i') {
		input = argv[2];
		argi = 3;
	}
	if (argi >= argc) {
		fprintf(stderr, "usage: runstat [-i INPUT] COMMAND [ARG...]\n");
		return 64;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 71;
	}
	if (pid == 0) {
		if (input) {
			int fd = open(input, O_RDONLY);

			if (fd < 0 || dup2(fd, 0) < 0) {
				perror(input);
				_exit(66);
			}
			close(fd);
		}
		execvp(argv[argi], argv + argi);
		perror(argv[argi]);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) != pid) {
		perror("wait4");
		return 71;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%lld %lld %ld %d\n",
	       (long long)(t1.tv_sec - t0.tv_sec) * 1000000 +
	       (t1.tv_nsec - t0.tv_nsec) / 1000,
	       (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec,
	       ru.ru_maxrss,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
