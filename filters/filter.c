/*
 * filter.c - shared behaviour of the MTA-facing commands (see filter.h).
 */
#include "filter.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define PB_SANITIZED 1
#endif
#endif

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

/* Sanitizer builds keep their own handlers: there a crash must be loud. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(PB_SANITIZED)
#define PB_CATCH_CRASHES 1
#endif

#ifdef PB_CATCH_CRASHES
/* on_fatal - a crash (ours, or inside a library) must not reach the MTA
 * as death by a signal: Exim bounces that, and a bounce to a keyserver
 * starts a mail storm.  Before the commit nothing is half-written (the
 * transaction was never committed), so 75 makes the MTA retry; after it
 * the mail is safe and 0 is the truth.  Only async-signal-safe calls. */
static void
on_fatal(int sig)
{
	static const char pre[] = "pksbridge: fatal signal ";
	static const char post[] = ", exiting with the filter's status\n";
	char num[4];
	size_t n = 0;
	ssize_t w;

	if (sig >= 100)
		num[n++] = (char)('0' + sig / 100 % 10);
	if (sig >= 10)
		num[n++] = (char)('0' + sig / 10 % 10);
	num[n++] = (char)('0' + sig % 10);
	w = write(STDERR_FILENO, pre, sizeof pre - 1);
	w = write(STDERR_FILENO, num, n);
	w = write(STDERR_FILENO, post, sizeof post - 1);
	(void)w;
	/* syscall(), bound in advance: see catch_fatal_signals. */
	syscall(SYS_exit_group, committed ? FILTER_EXIT_OK : FILTER_EXIT_TEMPFAIL);
	_exit(FILTER_EXIT_TEMPFAIL);
}
#endif

/* catch_fatal_signals - on_fatal for every signal a crash raises, on
 * its own stack so that a stack overflow is caught too. */
static void
catch_fatal_signals(void)
{
#ifdef PB_CATCH_CRASHES
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	static char altstack[65536];
	struct sigaction sa;
	stack_t ss;

	/* The crash may have wrecked the dynamic linker's data (a library
	 * unmapping what was not its own did): the handler's first call
	 * of a function would then crash in symbol resolution.  Calling
	 * them once now binds them. */
	if (write(STDERR_FILENO, "", 0) < 0 || syscall(SYS_getpid) < 0)
		return;
	ss.ss_sp = altstack;
	ss.ss_size = sizeof altstack;
	ss.ss_flags = 0;
	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
#endif
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
	catch_fatal_signals();
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

void
filter_leave(void *arg)
{
	(void)arg;
	log_warning(NULL, "leaving the spool for its recovery: exiting %d",
		    committed ? FILTER_EXIT_OK : FILTER_EXIT_TEMPFAIL);
	_exit(committed ? FILTER_EXIT_OK : FILTER_EXIT_TEMPFAIL);
}

void
filter_guard(unsigned secs)
{
	alarm(secs);
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
