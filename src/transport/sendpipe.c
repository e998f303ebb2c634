/*
 * sendpipe.c - outbound mail through a sendmail-compatible command (see
 * sendpipe.h).
 *
 * posix_spawn() rather than fork(): it is fork+execve without copying a
 * runner that may hold a 16 MB mail, and it reports a command that cannot
 * be executed as an error number instead of an exit status we would have
 * to invent.  The child gets its own process group (so a timeout kills
 * whatever it started too), every signal at its default disposition and
 * none blocked (the runner blocks and ignores some; exec would pass that
 * on), and no descriptor but 0, 1 and 2.
 *
 * One poll() loop feeds stdin, drains the output (a child blocked writing
 * a full stdout pipe while we block writing its full stdin would deadlock)
 * and watches for the child's exit through a pidfd.  Once the child has
 * exited we read what output is already there and stop: a daemonised
 * grandchild holding the pipe open must not hold us (Postfix waits for
 * EOF here, and stalls).
 *
 * SIGPIPE: writing to a pipe whose reader has gone raises it, and unlike
 * send() a pipe write has no MSG_NOSIGNAL.  We block SIGPIPE in this
 * thread around the loop and discard the one our own write raised.
 */
#include "transport/sendpipe.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/xalloc.h"

#define OUTPUT_KEEP 1024		/* bytes of the child's output quoted */
#define STAGE_SIZE 65536		/* LF text converted per write */
#define NO_PIDFD_TICK_MS 10		/* exit polling without a pidfd */

/* Postfix sendmail's option letters (its sendmail/sendmail.c), split into
 * those that take an argument and those that do not; Exim, msmtp and
 * OpenSMTPD use subsets of the same letters. */
#define FLAGS_WITH_ARG "ABCFLNORVXbefhopqr"
#define FLAGS_NO_ARG "GIUcimntvx"

int
sendpipe_has_flag(char *const argv[], char letter)
{
	for (size_t i = 1; argv[i] != NULL; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			break;
		if (a[0] != '-' || a[1] == '\0')
			continue;
		for (const char *p = a + 1; *p; p++) {
			if (*p == letter)
				return 1;
			if (strchr(FLAGS_NO_ARG, *p) != NULL)
				continue;
			/* The rest of the cluster, or the next argument,
			 * is this flag's value. */
			if (strchr(FLAGS_WITH_ARG, *p) != NULL && p[1] == '\0' &&
			    argv[i + 1] != NULL)
				i++;
			break;
		}
	}
	return 0;
}

/* fd_high - move fd to 3 or above (close-on-exec), so that the child's
 * dup2() onto 0, 1, 2 never finds its source already there; -1 on
 * failure (fd closed either way). */
static int
fd_high(int fd)
{
	int nfd;

	if (fd >= 3)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

/* stage_fill - the next piece of data[*pos..len) with CRLF made LF. */
static size_t
stage_fill(const char *data, size_t len, size_t *pos, char *stage)
{
	size_t n = 0, p = *pos;

	while (p < len && n < STAGE_SIZE) {
		if (data[p] == '\r' && p + 1 < len && data[p + 1] == '\n') {
			p++;
			continue;
		}
		stage[n++] = data[p++];
	}
	*pos = p;
	return n;
}

/* quote_output - the child's output as one printable line. */
static void
quote_output(const char *out, size_t len, char *q, size_t qlen)
{
	size_t n = 0;
	int space = 0;

	for (size_t i = 0; i < len && n + 1 < qlen; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c >= 0x7f) {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < qlen)
			q[n++] = ' ';
		space = 0;
		q[n++] = (char)c;
	}
	q[n] = '\0';
}

struct child {
	pid_t pid;
	int pidfd;		/* -1 without pidfd_open (old kernel) */
	int in;			/* write end of its stdin, -1 once closed */
	int out;		/* read end of its stdout+stderr, -1 at EOF */
	int exited;
	int status;
	int unread;		/* it exited or closed stdin before
				 * reading all of the mail */
	char output[OUTPUT_KEEP];
	size_t noutput;
};

/* read_output - take what the child wrote (non-blocking); keep the start. */
static void
read_output(struct child *c)
{
	char scratch[4096];

	while (c->out >= 0) {
		ssize_t n;

		if (c->noutput < sizeof c->output)
			n = read(c->out, c->output + c->noutput,
				 sizeof c->output - c->noutput);
		else
			n = read(c->out, scratch, sizeof scratch);
		if (n > 0) {
			if (c->noutput < sizeof c->output)
				c->noutput += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		close(c->out);	/* EOF or error: nothing more to learn */
		c->out = -1;
	}
}

static void
reap(struct child *c, int options)
{
	int st;
	pid_t r;

	do
		r = waitpid(c->pid, &st, options);
	while (r < 0 && errno == EINTR);
	if (r == c->pid) {
		c->exited = 1;
		c->status = st;
	}
}

/* feed - write data (CRLF made LF) to the child until done, EPIPE, the
 * child's exit or the deadline; drain output meanwhile.  0, or -1 on
 * timeout. */
static int
feed(struct child *c, const char *data, size_t len, int64_t deadline)
{
	char *stage = xmalloc(STAGE_SIZE);
	size_t pos = 0, slen = 0, soff = 0;
	int rc = 0;

	for (;;) {
		struct pollfd p[3];
		int np = 0, iin = -1, iout = -1, ipid = -1, wait_ms;
		int64_t left;

		if (c->in >= 0 && soff == slen) {
			slen = stage_fill(data, len, &pos, stage);
			soff = 0;
			if (slen == 0) {
				close(c->in);
				c->in = -1;
			}
		}
		if (c->exited) {
			if (c->in >= 0)
				c->unread = 1;
			read_output(c);
			break;
		}
		left = deadline - clock_ms();
		if (left <= 0) {
			rc = -1;
			break;
		}
		wait_ms = left > 0x7fffffff ? 0x7fffffff : (int)left;
		if (c->in >= 0) {
			iin = np;
			p[np++] = (struct pollfd){ .fd = c->in, .events = POLLOUT };
		}
		if (c->out >= 0) {
			iout = np;
			p[np++] = (struct pollfd){ .fd = c->out, .events = POLLIN };
		}
		if (c->pidfd >= 0) {
			ipid = np;
			p[np++] = (struct pollfd){ .fd = c->pidfd, .events = POLLIN };
		} else if (wait_ms > NO_PIDFD_TICK_MS) {
			wait_ms = NO_PIDFD_TICK_MS;
		}
		if (poll(p, (nfds_t)np, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		if (iout >= 0 && p[iout].revents)
			read_output(c);
		if (iin >= 0 && p[iin].revents) {
			ssize_t n = write(c->in, stage + soff, slen - soff);

			if (n > 0) {
				soff += (size_t)n;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* EPIPE: it stopped reading; it may still
				 * exit 75, or 0, which we do not believe. */
				c->unread = 1;
				close(c->in);
				c->in = -1;
			}
		}
		if (ipid < 0 || p[ipid].revents)
			reap(c, WNOHANG);
	}
	free(stage);
	return rc;
}

int
sendpipe_send(char *const argv[], const char *sender,
	      const char *const *rcpts, size_t nrcpts,
	      const char *data, size_t len, int timeout_s, struct pb_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t pipeset, oldmask, none, all;
	struct child c = { .pid = -1, .pidfd = -1, .in = -1, .out = -1 };
	int in[2], out[2], has_t, rc, code, timed_out;
	size_t argc = 0, extra;
	char **cargv;
	int64_t deadline;
	char quoted[OUTPUT_KEEP + 1];

	if (argv == NULL || argv[0] == NULL || argv[0][0] != '/')
		return pb_err_set(err, PB_EDATA,
				  "sendmail command must be an absolute path");
	has_t = sendpipe_has_flag(argv, 't');
	if (!has_t && nrcpts == 0)
		return pb_err_set(err, PB_EDATA, "no recipients");
	if (sender && sender[0] == '-')
		return pb_err_set(err, PB_EDATA, "sender would read as an option");
	while (argv[argc] != NULL)
		argc++;
	extra = (sender ? 2 : 0) + (has_t ? 0 : 1 + nrcpts);
	cargv = xcalloc(argc + extra + 1, sizeof *cargv);
	memcpy(cargv, argv, argc * sizeof *cargv);
	if (sender) {
		cargv[argc++] = (char *)"-f";
		cargv[argc++] = (char *)(sender[0] ? sender : "<>");
	}
	if (!has_t) {
		cargv[argc] = (char *)"--";
		for (size_t i = 0; i < nrcpts; i++)
			cargv[argc + 1 + i] = (char *)rcpts[i];
	}

	if (pipe2(in, O_CLOEXEC) != 0) {
		free(cargv);
		return pb_err_set(err, PB_ETEMP, "pipe: %s", strerror(errno));
	}
	if (pipe2(out, O_CLOEXEC) != 0) {
		int e = errno;

		close(in[0]);
		close(in[1]);
		free(cargv);
		return pb_err_set(err, PB_ETEMP, "pipe: %s", strerror(e));
	}
	in[0] = fd_high(in[0]);
	out[1] = fd_high(out[1]);
	c.in = fd_high(in[1]);
	c.out = fd_high(out[0]);
	if (in[0] < 0 || out[1] < 0 || c.in < 0 || c.out < 0) {
		int e = errno, fds[4] = { in[0], out[1], c.in, c.out };

		for (int i = 0; i < 4; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		free(cargv);
		return pb_err_set(err, PB_ETEMP, "fcntl: %s", strerror(e));
	}
	fcntl(c.in, F_SETFL, fcntl(c.in, F_GETFL) | O_NONBLOCK);
	fcntl(c.out, F_SETFL, fcntl(c.out, F_GETFL) | O_NONBLOCK);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, out[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
				 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipeset, &oldmask);
	deadline = clock_ms() + (long long)(timeout_s > 0 ? timeout_s : 1) * 1000;
	rc = posix_spawn(&c.pid, argv[0], &fa, &attr, cargv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(in[0]);
	close(out[1]);
	free(cargv);
	if (rc != 0) {
		close(c.in);
		close(c.out);
		pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
		return pb_err_set(err, PB_ETEMP, "cannot run %s: %s", argv[0],
				  strerror(rc));
	}
#ifdef SYS_pidfd_open
	c.pidfd = (int)syscall(SYS_pidfd_open, c.pid, 0);
#endif

	timed_out = feed(&c, data, len, deadline) != 0;
	if (timed_out) {
		/* The group is the child's pid (POSIX_SPAWN_SETPGROUP). */
		kill(-c.pid, SIGKILL);
		kill(c.pid, SIGKILL);
		reap(&c, 0);
	}
	if (c.in >= 0)
		close(c.in);
	if (c.out >= 0)
		close(c.out);
	if (c.pidfd >= 0)
		close(c.pidfd);
	if (c.unread && !sigismember(&oldmask, SIGPIPE)) {
		/* Discard the SIGPIPE our write raised (if any is pending:
		 * an ignored signal is never made pending). */
		struct timespec zero = { 0, 0 };

		while (sigtimedwait(&pipeset, NULL, &zero) == SIGPIPE)
			;
	}
	pthread_sigmask(SIG_SETMASK, &oldmask, NULL);

	quote_output(c.output, c.noutput, quoted, sizeof quoted);
	if (timed_out)
		return pb_err_set(err, PB_ETEMP, "%s timed out after %d s%s%s",
				  argv[0], timeout_s, quoted[0] ? ": " : "",
				  quoted);
	if (WIFSIGNALED(c.status))
		return pb_err_set(err, PB_ETEMP, "%s killed by signal %d%s%s",
				  argv[0], WTERMSIG(c.status),
				  quoted[0] ? ": " : "", quoted);
	code = WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1;
	if (code == 0 && !c.unread)
		return 0;
	if (code == 0)
		return pb_err_set(err, PB_ETEMP,
				  "%s exited 0 without reading all of the mail%s%s",
				  argv[0], quoted[0] ? ": " : "", quoted);
	/* 126 and 127 are what a shell (or glibc's posix_spawn where it
	 * cannot vfork, as under valgrind) returns for a command it cannot
	 * execute: a configuration mistake, deferred like a failed spawn. */
	return pb_err_set(err, code == 75 || code == 71 || code == 74 ||
				  code == 126 || code == 127 ? PB_ETEMP : PB_EPERM,
			  "%s exited with status %d%s%s", argv[0], code,
			  quoted[0] ? ": " : "", quoted);
}
