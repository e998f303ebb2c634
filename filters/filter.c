/*
 * filter.c - shared behaviour of the MTA-facing commands (see filter.h).
 */
#include "filter.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read by the SIGALRM handler: the only state a signal handler may
 * consult, so it lives here rather than being passed around. */
static volatile sig_atomic_t committed;

static void
on_alarm(int sig)
{
	static const char msg[] = "pksbridge: filter watchdog expired\n";
	ssize_t w;

	(void)sig;
	w = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)w;
	_exit(committed ? FILTER_EXIT_OK : FILTER_EXIT_TEMPFAIL);
}

void
filter_begin(const char *prog, unsigned guard_secs)
{
	struct sigaction sa;

	log_open(prog, LOG_DEST_SYSLOG, FILTER_EXIT_TEMPFAIL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	/* A writer closing our stdout/stderr early must not kill us with
	 * SIGPIPE before we commit. */
	signal(SIGPIPE, SIG_IGN);
	alarm(guard_secs);
}

void
filter_committed(void)
{
	committed = 1;
}

int
filter_read_stdin(size_t keep_max, struct buf *out, uint64_t *total_r,
		  struct pb_err *err)
{
	unsigned char sink[65536];
	uint64_t total = 0;

	for (;;) {
		unsigned char *dst;
		size_t room;
		ssize_t n;

		if (out->len < keep_max) {
			room = keep_max - out->len;
			if (room > (1u << 20))
				room = 1u << 20;
			buf_reserve(out, room);
			dst = out->data + out->len;
		} else {
			/* Over the limit: keep reading so the MTA sees the
			 * whole mail consumed, but keep nothing more. */
			room = sizeof sink;
			dst = sink;
		}
		n = read(STDIN_FILENO, dst, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return pb_err_set(err, PB_EIO, "reading the mail from "
					  "stdin: %s", strerror(errno));
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (dst != sink) {
			out->len += (size_t)n;
			out->data[out->len] = '\0';
		}
	}
	*total_r = total;
	return 0;
}

int
filter_tempfail(const struct pb_err *err)
{
	/* Both syslog and stderr: the MTA puts our stderr into its own
	 * deferral log line, which is where an operator looks first.  Never
	 * start the line with an RFC 3463 code: Postfix would obey it. */
	log_error(NULL, "temporary failure, mail deferred: %s", err->msg);
	if (!(log_get_dest() & LOG_DEST_STDERR))
		log_stderr("temporary failure, mail deferred: %s", err->msg);
	return FILTER_EXIT_TEMPFAIL;
}

void
filter_quiet_fds(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}
