/*
 * smtp.c - SMTP client for outbound mail (see smtp.h).
 *
 * Layers: a socket of our own, connected with a deadline; a libetpan
 * mailstream_low driver on it (below) that bounds every wait and every
 * reply; libetpan's mailstream for buffering and for the DATA encoding;
 * and the SMTP dialogue itself, here.
 *
 * Why our own mailstream_low driver and not mailstream_socket_open(): the
 * stock driver calls send() without MSG_NOSIGNAL, so a relay that closes
 * the connection would kill the runner with SIGPIPE; its timeout is per
 * poll(), so a server trickling one byte at a time holds us for ever; it
 * puts no bound on a reply, and libetpan reads a line into memory until
 * it sees LF; and on EOF it returns 0, after which libetpan's line reader
 * looks one byte before its buffer.  Ours gives each reply one deadline
 * and a byte budget, and reports EOF as an error.
 *
 * Why not libetpan's mailsmtp_* commands: mailesmtp_ehlo() sends
 * gethostname() (or the socket's address), never a name we choose; every
 * command waits for its reply, so no PIPELINING; its commands are built
 * with snprintf into 513 bytes and silently cut; and mailsmtp.o needs
 * libsasl2 at run time.  What is left to write is small: one command
 * writer and one reply reader.
 */
#include "transport/smtp.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "util/xalloc.h"

#define SMTP_REPLY_MAX (64 * 1024)	/* bytes one reply may take */
#define SMTP_ADDR_MAX 256		/* RFC 5321 4.5.3.1.3 path */
#define SMTP_PIPELINE_MAX_RCPTS 100	/* above: lock-step (see below) */
#define SMTP_QUIT_WAIT_S 2
#define SMTP_STREAM_BUF 8192

enum smtp_ext {
	EXT_PIPELINING = 1,
	EXT_SIZE = 2,
	EXT_8BITMIME = 4,
};

enum conn_failure {
	CONN_OK = 0,
	CONN_TIMEOUT,
	CONN_EOF,
	CONN_ERRNO,
	CONN_TOO_LONG,
};

/* The socket under the mailstream.  Owned by the session, which outlives
 * the mailstream_low that points to it. */
struct smtp_conn {
	int fd;
	int timeout_ms;			/* for connect, each reply, each write */
	struct timespec read_deadline;	/* of the reply being read */
	size_t read_budget;		/* bytes the reply may still take */
	enum conn_failure failure;	/* first failure; sticky */
	int saved_errno;
};

struct smtp_session {
	struct smtp_conn conn;
	mailstream *stream;		/* NULL once closed */
	MMAPString *line;		/* reply line buffer */
	char where[300];		/* "host:port", for messages */
	unsigned ext;			/* enum smtp_ext offered by the server */
	int need_rset;			/* a transaction was left open */
};

/* --- time ------------------------------------------------------------ */

static struct timespec
deadline_in(int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* ms_left - milliseconds until deadline, 0 if past, rounded up. */
static int
ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec + 999999) / 1000000;
	if (ms <= 0)
		return 0;
	return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* --- the mailstream_low driver --------------------------------------- */

/* conn_wait - wait until fd is ready for events, or fail at deadline.
 * Errors and hang-ups count as ready: the read or write that follows
 * reports them with their errno. */
static int
conn_wait(struct smtp_conn *c, short events, const struct timespec *deadline)
{
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = events };
		int left = ms_left(deadline);
		int r;

		if (left == 0) {
			c->failure = CONN_TIMEOUT;
			return -1;
		}
		r = poll(&p, 1, left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR) {
			c->failure = CONN_ERRNO;
			c->saved_errno = errno;
			return -1;
		}
	}
}

static ssize_t
conn_read(mailstream_low *low, void *buf, size_t count)
{
	struct smtp_conn *c = low->data;

	if (c->failure != CONN_OK)
		return -1;
	if (c->read_budget == 0) {
		c->failure = CONN_TOO_LONG;
		return -1;
	}
	if (count > c->read_budget)
		count = c->read_budget;
	for (;;) {
		ssize_t n = recv(c->fd, buf, count, 0);

		if (n > 0) {
			c->read_budget -= (size_t)n;
			return n;
		}
		if (n == 0) {
			/* Not 0 to libetpan: see the top of this file. */
			c->failure = CONN_EOF;
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			c->failure = CONN_ERRNO;
			c->saved_errno = errno;
			return -1;
		}
		if (conn_wait(c, POLLIN, &c->read_deadline) != 0)
			return -1;
	}
}

/* conn_write - libetpan loops on a 0 return, so every failure is -1.
 * Each call may wait timeout_ms for buffer space: a relay that stops
 * reading in the middle of a 16 MB mail fails after that long. */
static ssize_t
conn_write(mailstream_low *low, const void *buf, size_t count)
{
	struct smtp_conn *c = low->data;
	struct timespec deadline = deadline_in(c->timeout_ms);

	if (c->failure != CONN_OK)
		return -1;
	for (;;) {
		ssize_t n = send(c->fd, buf, count, MSG_NOSIGNAL);

		if (n > 0 || (n == 0 && count == 0))
			return n;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			c->failure = CONN_ERRNO;
			c->saved_errno = errno;
			return -1;
		}
		if (conn_wait(c, POLLOUT, &deadline) != 0)
			return -1;
	}
}

static int
conn_close(mailstream_low *low)
{
	struct smtp_conn *c = low->data;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	return 0;
}

static int
conn_get_fd(mailstream_low *low)
{
	return ((struct smtp_conn *)low->data)->fd;
}

/* conn_free - the mailstream_low only; the conn belongs to the session. */
static void
conn_free(mailstream_low *low)
{
	free(low);
}

/* Read-only after initialisation, hence no global mutable state; libetpan
 * wants a non-const pointer. */
static mailstream_low_driver conn_driver = {
	.mailstream_read = conn_read,
	.mailstream_write = conn_write,
	.mailstream_close = conn_close,
	.mailstream_get_fd = conn_get_fd,
	.mailstream_free = conn_free,
};

/* --- messages -------------------------------------------------------- */

/* conn_error - a failed network operation as an error value. */
static int
conn_error(struct smtp_session *s, const char *during, struct pb_err *err)
{
	const struct smtp_conn *c = &s->conn;

	switch (c->failure) {
	case CONN_TIMEOUT:
		return pb_err_set(err, PB_ETEMP, "%s: timeout after %d s %s",
				  s->where, c->timeout_ms / 1000, during);
	case CONN_EOF:
		return pb_err_set(err, PB_ETEMP,
				  "%s: connection closed by server %s",
				  s->where, during);
	case CONN_TOO_LONG:
		return pb_err_set(err, PB_ETEMP,
				  "%s: reply longer than %d bytes %s",
				  s->where, SMTP_REPLY_MAX, during);
	case CONN_ERRNO:
		return pb_err_set(err, PB_ETEMP, "%s: %s %s", s->where,
				  strerror(c->saved_errno), during);
	case CONN_OK:
		break;
	}
	return pb_err_set(err, PB_ETEMP, "%s: I/O error %s", s->where, during);
}

/* reply_error - the server said no (or said nonsense) to cmd. */
static int
reply_error(struct smtp_session *s, const struct smtp_reply *r,
	    const char *cmd, struct pb_err *err)
{
	enum pb_status st = r->code >= 500 && r->code <= 599 ? PB_EPERM
							      : PB_ETEMP;

	return pb_err_set(err, st, "%s said: %d %s (in reply to %s)",
			  s->where, r->code, r->text, cmd);
}

/* text_append - add one reply line's text to r->text, sanitised. */
static void
text_append(struct smtp_reply *r, const char *t)
{
	size_t len = strlen(r->text);

	if (len > 0 && len < sizeof r->text - 1 && *t)
		r->text[len++] = ' ';
	for (; *t && len < sizeof r->text - 1; t++) {
		unsigned char ch = (unsigned char)*t;

		r->text[len++] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
	}
	r->text[len] = '\0';
}

/* ehlo_keyword - note the extensions we use from one EHLO reply line. */
static void
ehlo_keyword(struct smtp_session *s, const char *kw)
{
	static const struct { const char *name; unsigned flag; } known[] = {
		{ "PIPELINING", EXT_PIPELINING },
		{ "SIZE", EXT_SIZE },
		{ "8BITMIME", EXT_8BITMIME },
	};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		size_t n = strlen(known[i].name);

		if (strncasecmp(kw, known[i].name, n) == 0 &&
		    (kw[n] == '\0' || kw[n] == ' '))
			s->ext |= known[i].flag;
	}
}

/* --- the dialogue ---------------------------------------------------- */

/* read_reply - one (possibly multi-line) reply to cmd into r; ehlo: also
 * collect the extension keywords.  -1 (PB_ETEMP) when none arrived in
 * time, or it is not a reply. */
static int
read_reply(struct smtp_session *s, struct smtp_reply *r, const char *cmd,
	   int ehlo, struct pb_err *err)
{
	char during[64];
	int first = 1;

	snprintf(during, sizeof during, "waiting for reply to %s", cmd);
	r->code = 0;
	r->text[0] = '\0';
	s->conn.read_deadline = deadline_in(s->conn.timeout_ms);
	s->conn.read_budget = SMTP_REPLY_MAX;
	for (;;) {
		char *line = mailstream_read_line(s->stream, s->line);
		size_t len;
		int code;

		if (line == NULL)
			return conn_error(s, during, err);
		len = s->line->len;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9' || (len > 3 && line[3] != ' ' && line[3] != '-')) {
			r->code = 0;
			text_append(r, line);
			return pb_err_set(err, PB_ETEMP,
					  "%s: malformed reply to %s: %s",
					  s->where, cmd, r->text);
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		       (line[2] - '0');
		if (!first && code != r->code)
			return pb_err_set(err, PB_ETEMP,
					  "%s: reply to %s mixes codes %d and %d",
					  s->where, cmd, r->code, code);
		r->code = code;
		text_append(r, len > 3 ? line + 4 : "");
		if (ehlo && !first)
			ehlo_keyword(s, line + 4);
		first = 0;
		if (len == 3 || line[3] == ' ')
			return 0;
	}
}

/* addr_ok - safe inside "<...>" on a command line: printable, no space,
 * no angle brackets, not too long.  The caller checked the syntax. */
static int
addr_ok(const char *a, int empty_ok)
{
	size_t len = strnlen(a, SMTP_ADDR_MAX + 1);

	if (len > SMTP_ADDR_MAX || (len == 0 && !empty_ok))
		return 0;
	for (; *a; a++)
		if (*a <= ' ' || *a >= 0x7f || *a == '<' || *a == '>')
			return 0;
	return 1;
}

/* put_cmd - queue one command line (not yet flushed). */
static int put_cmd(struct smtp_session *s, const char *cmd, struct pb_err *err,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
put_cmd(struct smtp_session *s, const char *cmd, struct pb_err *err,
	const char *fmt, ...)
{
	char line[SMTP_ADDR_MAX + 128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line - 2)
		return pb_err_set(err, PB_EDATA, "%s command too long", cmd);
	memcpy(line + n, "\r\n", 2);
	if (mailstream_write(s->stream, line, (size_t)n + 2) < 0) {
		char during[64];

		snprintf(during, sizeof during, "sending %s", cmd);
		return conn_error(s, during, err);
	}
	return 0;
}

static int
flush_cmds(struct smtp_session *s, const char *cmd, struct pb_err *err)
{
	char during[64];

	if (mailstream_flush(s->stream) == 0)
		return 0;
	snprintf(during, sizeof during, "sending %s", cmd);
	return conn_error(s, during, err);
}

/* command - one command in lock-step: send, then read its reply. */
static int
command(struct smtp_session *s, struct smtp_reply *r, const char *cmd,
	int ehlo, struct pb_err *err, const char *fmt, const char *arg)
{
	if (put_cmd(s, cmd, err, fmt, arg) != 0 ||
	    flush_cmds(s, cmd, err) != 0)
		return -1;
	return read_reply(s, r, cmd, ehlo, err);
}

/* connect_to - a connected non-blocking socket in s->conn.fd, trying each
 * address of host in turn within one timeout. */
static int
connect_to(struct smtp_session *s, const char *host, unsigned port,
	   struct pb_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	struct timespec deadline;
	char portstr[16];
	int r, last_errno = 0, timed_out = 0;

	snprintf(portstr, sizeof portstr, "%u", port);
	/* XXX getaddrinfo has no timeout: a relay given by name depends on
	 * the resolver's (resolv.conf "timeout", "attempts"). */
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0)
		return pb_err_set(err, PB_ETEMP, "%s: %s", s->where,
				  r == EAI_SYSTEM ? strerror(errno)
						  : gai_strerror(r));
	deadline = deadline_in(s->conn.timeout_ms);
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family,
				ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);
		socklen_t elen = sizeof last_errno;

		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			s->conn.fd = fd;
			break;
		}
		if (errno == EINPROGRESS) {
			s->conn.fd = fd;
			s->conn.failure = CONN_OK;
			if (conn_wait(&s->conn, POLLOUT, &deadline) == 0 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &last_errno,
				       &elen) == 0 && last_errno == 0)
				break;
			if (s->conn.failure == CONN_TIMEOUT)
				timed_out = 1;
			else if (s->conn.failure == CONN_ERRNO)
				last_errno = s->conn.saved_errno;
			s->conn.fd = -1;
		} else {
			last_errno = errno;
		}
		close(fd);
		if (timed_out)
			break;
	}
	freeaddrinfo(res);
	s->conn.failure = CONN_OK;
	if (s->conn.fd >= 0)
		return 0;
	if (timed_out)
		return pb_err_set(err, PB_ETEMP, "%s: connect timeout after %d s",
				  s->where, s->conn.timeout_ms / 1000);
	return pb_err_set(err, PB_ETEMP, "%s: connect: %s", s->where,
			  strerror(last_errno ? last_errno : ECONNREFUSED));
}

/* greet - greeting, then EHLO, falling back to HELO on a 5xx. */
static int
greet(struct smtp_session *s, const char *helo, struct pb_err *err)
{
	struct smtp_reply r;

	if (read_reply(s, &r, "initial greeting", 0, err) != 0)
		return -1;
	if (r.code / 100 != 2) {
		reply_error(s, &r, "initial greeting", err);
		err->status = PB_ETEMP;
		return -1;
	}
	if (command(s, &r, "EHLO", 1, err, "EHLO %s", helo) != 0)
		return -1;
	if (r.code / 100 == 2)
		return 0;
	if (r.code / 100 == 5) {
		s->ext = 0;
		if (command(s, &r, "HELO", 0, err, "HELO %s", helo) != 0)
			return -1;
		if (r.code / 100 == 2)
			return 0;
		reply_error(s, &r, "HELO", err);
	} else {
		reply_error(s, &r, "EHLO", err);
	}
	err->status = PB_ETEMP;
	return -1;
}

int
smtp_session_open(struct smtp_session **sp, const char *host, unsigned port,
		  const char *helo, int timeout_s, struct pb_err *err)
{
	struct smtp_session *s;
	mailstream_low *low;

	*sp = NULL;
	if (!addr_ok(helo, 0) || strchr(helo, '@') != NULL)
		return pb_err_set(err, PB_EDATA, "unusable HELO name");
	s = xcalloc(1, sizeof *s);
	s->conn.fd = -1;
	/* At least 1 s; at most a day, which keeps milliseconds in an int. */
	s->conn.timeout_ms = (timeout_s < 1 ? 1 : timeout_s > 86400 ? 86400
							    : timeout_s) * 1000;
	if (strchr(host, ':') != NULL)
		snprintf(s->where, sizeof s->where, "[%s]:%u", host, port);
	else
		snprintf(s->where, sizeof s->where, "%s:%u", host, port);
	if (connect_to(s, host, port, err) != 0) {
		free(s);
		return -1;
	}
	low = mailstream_low_new(&s->conn, &conn_driver);
	s->stream = low ? mailstream_new(low, SMTP_STREAM_BUF) : NULL;
	s->line = mmap_string_new("");
	if (s->stream == NULL || s->line == NULL) {
		/* libetpan allocates with plain malloc. */
		if (s->stream)
			mailstream_close(s->stream);
		else if (low)
			mailstream_low_free(low);
		if (s->line)
			mmap_string_free(s->line);
		if (s->conn.fd >= 0)
			close(s->conn.fd);
		free(s);
		return pb_err_set(err, PB_EOS, "out of memory");
	}
	if (greet(s, helo, err) != 0) {
		smtp_session_close(s);
		return -1;
	}
	*sp = s;
	return 0;
}

int
smtp_session_pipelining(const struct smtp_session *s)
{
	return (s->ext & EXT_PIPELINING) != 0;
}

/* classify - a reply code as a recipient outcome. */
static enum smtp_status
classify(int code)
{
	if (code / 100 == 2)
		return SMTP_SENT;
	return code / 100 == 5 ? SMTP_PERMFAIL : SMTP_TEMPFAIL;
}

/* fail_rest - on -1, give every recipient not already refused for good
 * the fate the error implies. */
static void
fail_rest(size_t n, enum smtp_status *st, struct smtp_reply *rp,
	  const struct pb_err *err)
{
	for (size_t i = 0; i < n; i++) {
		if (st[i] == SMTP_PERMFAIL && rp[i].code / 100 == 5)
			continue;
		st[i] = err->status == PB_ETEMP ? SMTP_TEMPFAIL : SMTP_PERMFAIL;
		rp[i].code = 0;
		rp[i].text[0] = '\0';
		text_append(&rp[i], err->msg);
	}
}

/* transaction - MAIL, RCPT..., DATA; see smtp_session_send.
 *
 * Pipelined (RFC 2920) when offered: MAIL, every RCPT and DATA go out in
 * one flush, then the replies are read in order.  The commands may fill
 * the socket buffer before we read a reply, which deadlocks only if the
 * server's replies fill its side too; with at most
 * SMTP_PIPELINE_MAX_RCPTS short replies they cannot. */
static int
transaction(struct smtp_session *s, const char *from,
	    const char *const *rcpts, size_t n, const char *data, size_t len,
	    enum smtp_status *st, struct smtp_reply *rp, struct pb_err *err)
{
	int pipelined = (s->ext & EXT_PIPELINING) && n <= SMTP_PIPELINE_MAX_RCPTS;
	int rset = s->need_rset;
	struct smtp_reply r;
	char size[32] = "";
	size_t accepted = 0;

	if (s->ext & EXT_SIZE)
		snprintf(size, sizeof size, " SIZE=%zu", len);
	if (rset) {
		if (put_cmd(s, "RSET", err, "RSET") != 0)
			return -1;
		if (!pipelined && (flush_cmds(s, "RSET", err) != 0 ||
				   read_reply(s, &r, "RSET", 0, err) != 0))
			return -1;
		if (!pipelined && r.code / 100 != 2)
			return reply_error(s, &r, "RSET", err);
	}
	if (put_cmd(s, "MAIL FROM", err, "MAIL FROM:<%s>%s", from, size) != 0)
		return -1;
	if (!pipelined) {
		if (flush_cmds(s, "MAIL FROM", err) != 0 ||
		    read_reply(s, &r, "MAIL FROM", 0, err) != 0)
			return -1;
		if (r.code / 100 != 2)
			return reply_error(s, &r, "MAIL FROM", err);
	}
	s->need_rset = 1;
	for (size_t i = 0; i < n; i++) {
		if (put_cmd(s, "RCPT TO", err, "RCPT TO:<%s>", rcpts[i]) != 0)
			return -1;
		if (pipelined)
			continue;
		if (flush_cmds(s, "RCPT TO", err) != 0 ||
		    read_reply(s, &rp[i], "RCPT TO", 0, err) != 0)
			return -1;
		st[i] = classify(rp[i].code);
		accepted += st[i] == SMTP_SENT;
	}
	if (!pipelined && accepted == 0)
		return 0;
	if (put_cmd(s, "DATA", err, "DATA") != 0 ||
	    flush_cmds(s, "DATA", err) != 0)
		return -1;
	if (pipelined) {
		if (rset && read_reply(s, &r, "RSET", 0, err) != 0)
			return -1;
		if (rset && r.code / 100 != 2)
			return reply_error(s, &r, "RSET", err);
		if (read_reply(s, &r, "MAIL FROM", 0, err) != 0)
			return -1;
		if (r.code / 100 != 2)
			return reply_error(s, &r, "MAIL FROM", err);
		for (size_t i = 0; i < n; i++) {
			if (read_reply(s, &rp[i], "RCPT TO", 0, err) != 0)
				return -1;
			st[i] = classify(rp[i].code);
			accepted += st[i] == SMTP_SENT;
		}
	}
	if (read_reply(s, &r, "DATA", 0, err) != 0)
		return -1;
	if (accepted == 0) {
		/* Only when pipelined: DATA went out regardless.  A server
		 * that still said 354 gets an empty message, which it must
		 * refuse for want of recipients. */
		if (r.code == 354 &&
		    (put_cmd(s, "end of data", err, ".") != 0 ||
		     flush_cmds(s, "end of data", err) != 0 ||
		     read_reply(s, &r, "end of data", 0, err) != 0))
			return -1;
		return 0;
	}
	if (r.code != 354) {
		for (size_t i = 0; i < n; i++) {
			if (st[i] != SMTP_SENT)
				continue;
			st[i] = r.code / 100 == 5 ? SMTP_PERMFAIL : SMTP_TEMPFAIL;
			rp[i] = r;
		}
		return 0;
	}
	/* mailstream_send_data stuffs dots, makes every line end CRLF and
	 * appends CRLF "." CRLF itself: a mail that already ends in a line
	 * end would get an empty line more, so drop that one. */
	if (len >= 2 && data[len - 2] == '\r' && data[len - 1] == '\n')
		len -= 2;
	else if (len >= 1 && data[len - 1] == '\n')
		len -= 1;
	if (mailstream_send_data(s->stream, data, len, 0, NULL) != 0 ||
	    mailstream_flush(s->stream) != 0)
		return conn_error(s, "sending message data", err);
	if (read_reply(s, &r, "end of data", 0, err) != 0)
		return -1;
	s->need_rset = 0;
	for (size_t i = 0; i < n; i++) {
		if (st[i] != SMTP_SENT)
			continue;
		st[i] = classify(r.code);
		rp[i] = r;
	}
	return 0;
}

/* check_envelope - start every recipient as "not attempted"; -1
 * (PB_EDATA) if an address cannot go into a command. */
static int
check_envelope(const char *from, const char *const *rcpts, size_t n,
	       enum smtp_status *st, struct smtp_reply *rp, struct pb_err *err)
{
	for (size_t i = 0; i < n; i++) {
		st[i] = SMTP_TEMPFAIL;
		rp[i].code = 0;
		snprintf(rp[i].text, sizeof rp[i].text, "not attempted");
	}
	if (n == 0)
		return pb_err_set(err, PB_EDATA, "no recipients");
	if (!addr_ok(from, 1))
		return pb_err_set(err, PB_EDATA, "unusable MAIL FROM address");
	for (size_t i = 0; i < n; i++)
		if (!addr_ok(rcpts[i], 0))
			return pb_err_set(err, PB_EDATA, "unusable recipient "
					  "address (number %zu)", i + 1);
	return 0;
}

int
smtp_session_send(struct smtp_session *s, const char *mail_from,
		  const char *const *rcpts, size_t nrcpts, const char *data,
		  size_t len, enum smtp_status *rcpt_status,
		  struct smtp_reply *rcpt_reply, struct pb_err *err)
{
	int r = check_envelope(mail_from, rcpts, nrcpts, rcpt_status,
			       rcpt_reply, err);

	if (r == 0 && s->stream == NULL)
		r = pb_err_set(err, PB_ETEMP, "%s: session already failed",
			       s->where);
	if (r == 0)
		r = transaction(s, mail_from, rcpts, nrcpts, data, len,
				rcpt_status, rcpt_reply, err);
	if (r != 0) {
		fail_rest(nrcpts, rcpt_status, rcpt_reply, err);
		/* The dialogue is out of step, or the server is gone. */
		if (err->status != PB_EDATA && s->stream) {
			mailstream_close(s->stream);
			s->stream = NULL;
		}
	}
	return r;
}

struct smtp_session *
smtp_session_close(struct smtp_session *s)
{
	struct smtp_reply r;
	struct pb_err ignored;

	if (s == NULL)
		return NULL;
	if (s->stream) {
		/* Waiting for the 221 lets the server close first, so it
		 * never sees a reset; but never long. */
		if (s->conn.timeout_ms > SMTP_QUIT_WAIT_S * 1000)
			s->conn.timeout_ms = SMTP_QUIT_WAIT_S * 1000;
		if (put_cmd(s, "QUIT", &ignored, "QUIT") == 0 &&
		    flush_cmds(s, "QUIT", &ignored) == 0)
			read_reply(s, &r, "QUIT", 0, &ignored);
		mailstream_close(s->stream);
	}
	if (s->line)
		mmap_string_free(s->line);
	free(s);
	return NULL;
}

int
smtp_send(const char *host, unsigned port, const char *helo,
	  const char *mail_from, const char *const *rcpts, size_t nrcpts,
	  const char *data, size_t len, int timeout_s,
	  enum smtp_status *rcpt_status, struct smtp_reply *rcpt_reply,
	  struct pb_err *err)
{
	struct smtp_session *s;
	int r;

	if (check_envelope(mail_from, rcpts, nrcpts, rcpt_status, rcpt_reply,
			   err) != 0 ||
	    smtp_session_open(&s, host, port, helo, timeout_s, err) != 0) {
		fail_rest(nrcpts, rcpt_status, rcpt_reply, err);
		return -1;
	}
	r = smtp_session_send(s, mail_from, rcpts, nrcpts, data, len,
			      rcpt_status, rcpt_reply, err);
	smtp_session_close(s);
	return r;
}
