/*
 * smtpsink - a small real SMTP server for tests: it listens on 127.0.0.1,
 * takes mail from anyone, and stores every accepted message in a
 * directory; a script file makes it misbehave on purpose.
 *
 *   smtpsink -p PORT -d DIR [-s SCRIPT] [-l LIFETIME_S]
 *
 * PORT 0 picks a free port.  Prints "listening PORT" on stdout once it
 * accepts connections.  One process per connection (fork), so several
 * clients are served at once.  It exits after LIFETIME_S (default 600)
 * whatever happens, so a test that dies cannot leave it behind for long;
 * SIGTERM stops it at once.
 *
 * Each accepted message: DIR/msg.N (the data as received, dots unstuffed,
 * CRLF kept, up to and including the CRLF before the final dot) and,
 * written first, DIR/msg.N.env:
 *     HELO <name given>            (or EHLO <name>)
 *     MAIL FROM:<addr>
 *     RCPT TO:<addr>               (accepted recipients, one line each)
 *     PIPELINED yes|no             (RCPT/DATA arrived before MAIL's reply)
 * N counts up from 1 across connections (DIR/.counter, under flock).
 * msg.N appears by rename(), complete.
 *
 * The script is read again for every connection, so a test can change
 * the behaviour between mails.  One directive per line, # comments:
 *     greeting CODE [TEXT]     reply to the connection instead of 220
 *                              (then close, as for 421)
 *     ehlo CODE [TEXT]         reply to EHLO (e.g. 502: client says HELO)
 *     nopipelining             do not offer PIPELINING
 *     size N                   offer SIZE N; MAIL with SIZE= above: 552
 *     mail CODE [TEXT]         reply to MAIL FROM
 *     rcpt CODE [<ADDR>] [TEXT]  reply to RCPT TO (for ADDR only, if
 *                              given; the address-specific line wins)
 *     data CODE [TEXT]         reply to DATA instead of 354
 *     dot CODE [TEXT]          reply to the final dot instead of 250
 *                              (the message is stored only on 2xx)
 *     tarpit                   accept the connection, never answer
 *     reset-in-data [<ADDR>]   after the first line of message data,
 *                              reset the connection (RST)
 *     hangup-in-data [<ADDR>]  after the first line of message data,
 *                              close our side (FIN), stop reading, and
 *                              reset 0.2 s later: the client, half-closed,
 *                              then gets EPIPE (and SIGPIPE unless it
 *                              takes care) on its next write
 *     delay SECONDS            sleep before every reply (fractions ok)
 *     drip SECONDS             send replies one byte at a time, SECONDS
 *                              apart (a client must bound the whole
 *                              reply, not each read)
 *     rcpt-delay SECONDS [<ADDR>]  sleep before answering RCPT TO (for
 *                              ADDR only, if given): a tarpitting peer
 *     dot-delay SECONDS [<ADDR>]   after the message data, wait before
 *                              storing it and answering the final dot; a
 *                              client that goes away meanwhile has its
 *                              message dropped, not stored (a peer that
 *                              hangs in DATA)
 * With <ADDR>, the *-in-data and dot-delay directives apply only to a
 * transaction with ADDR among its accepted recipients; an address-specific
 * rcpt-delay line wins over one without.  So one sink can play several
 * peers that fail in different ways at once.
 *
 * Always offered: PIPELINING (unless told not to) and 8BITMIME.  Replies
 * are written as soon as each command is read, so a pipelining client
 * gets them in order.
 *
 * This file is also compiled into tests/transport/test_smtp.c (with
 * SMTPSINK_NO_MAIN), which forks the sink instead of needing this tool
 * built first.  Every process it creates ends with _exit(): in that test
 * binary, exit() would run the harness's cleanup.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SINK_LINE_MAX 65536
#define SINK_MAX_RULES 32

struct sink_rule {
	int code;
	char addr[256];		/* "" = every recipient */
	char text[256];
	double secs;		/* the *-delay directives */
	int set;		/* the directive was given */
};

struct sink_script {
	struct sink_rule greeting, ehlo, mail, data, dot;
	struct sink_rule rcpt[SINK_MAX_RULES];
	size_t nrcpt;
	struct sink_rule rcpt_delay[SINK_MAX_RULES];
	size_t nrcpt_delay;
	struct sink_rule reset_in_data, hangup_in_data, dot_delay;
	unsigned long size;	/* 0: SIZE not offered */
	int nopipelining, tarpit;
	double delay, drip;
};

struct sink_conn {
	int fd;
	const char *dir;
	struct sink_script sc;
	char buf[SINK_LINE_MAX];
	size_t len, off;
	char out[8192];		/* replies not yet written */
	size_t nout;
	char helo[300];
	char from[300];
	char rcpts[SINK_MAX_RULES * 4][300];
	size_t nrcpts;
	int pipelined;
};

static void
sink_rule_parse(struct sink_rule *r, char *rest, int want_addr)
{
	char *p = rest;

	r->code = (int)strtol(p, &p, 10);
	while (*p == ' ' || *p == '\t')
		p++;
	if (want_addr && *p == '<') {
		char *end = strchr(p, '>');

		if (end) {
			snprintf(r->addr, sizeof r->addr, "%.*s",
				 (int)(end - p - 1), p + 1);
			p = end + 1;
			while (*p == ' ' || *p == '\t')
				p++;
		}
	}
	snprintf(r->text, sizeof r->text, "%s", p);
}

/* sink_addr_parse - "[<ADDR>]" into r->addr; the directive is set. */
static void
sink_addr_parse(struct sink_rule *r, const char *p)
{
	const char *end;

	r->set = 1;
	if (*p == '<' && (end = strchr(p, '>')) != NULL)
		snprintf(r->addr, sizeof r->addr, "%.*s", (int)(end - p - 1),
			 p + 1);
}

/* sink_delay_parse - "SECONDS [<ADDR>]". */
static void
sink_delay_parse(struct sink_rule *r, char *p)
{
	r->secs = strtod(p, &p);
	while (*p == ' ' || *p == '\t')
		p++;
	sink_addr_parse(r, p);
}

static void
sink_script_read(const char *path, struct sink_script *sc)
{
	char line[1024];
	FILE *f;

	memset(sc, 0, sizeof *sc);
	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f)) {
		char *p = line, *kw;
		size_t n;

		line[strcspn(line, "\r\n#")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		kw = p;
		n = strcspn(p, " \t");
		p += n;
		if (*p)
			*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (strcmp(kw, "greeting") == 0)
			sink_rule_parse(&sc->greeting, p, 0);
		else if (strcmp(kw, "ehlo") == 0)
			sink_rule_parse(&sc->ehlo, p, 0);
		else if (strcmp(kw, "mail") == 0)
			sink_rule_parse(&sc->mail, p, 0);
		else if (strcmp(kw, "rcpt") == 0 && sc->nrcpt < SINK_MAX_RULES)
			sink_rule_parse(&sc->rcpt[sc->nrcpt++], p, 1);
		else if (strcmp(kw, "data") == 0)
			sink_rule_parse(&sc->data, p, 0);
		else if (strcmp(kw, "dot") == 0)
			sink_rule_parse(&sc->dot, p, 0);
		else if (strcmp(kw, "size") == 0)
			sc->size = strtoul(p, NULL, 10);
		else if (strcmp(kw, "nopipelining") == 0)
			sc->nopipelining = 1;
		else if (strcmp(kw, "tarpit") == 0)
			sc->tarpit = 1;
		else if (strcmp(kw, "reset-in-data") == 0)
			sink_addr_parse(&sc->reset_in_data, p);
		else if (strcmp(kw, "hangup-in-data") == 0)
			sink_addr_parse(&sc->hangup_in_data, p);
		else if (strcmp(kw, "delay") == 0)
			sc->delay = strtod(p, NULL);
		else if (strcmp(kw, "drip") == 0)
			sc->drip = strtod(p, NULL);
		else if (strcmp(kw, "rcpt-delay") == 0 &&
			 sc->nrcpt_delay < SINK_MAX_RULES)
			sink_delay_parse(&sc->rcpt_delay[sc->nrcpt_delay++], p);
		else if (strcmp(kw, "dot-delay") == 0)
			sink_delay_parse(&sc->dot_delay, p);
	}
	fclose(f);
}

static void
sink_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(0);	/* the client went away */
		p += w;
		n -= (size_t)w;
	}
}

/* Replies are written when the client's input runs dry, as RFC 2920
 * asks of a server: one write per pipelined batch, not one per reply
 * (which Nagle's algorithm and delayed ACKs would hold for 40 ms each). */
/* nap - sleep secs, whatever signals arrive. */
static void
nap(double secs)
{
	struct timespec ts;

	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void
sink_flush(struct sink_conn *c)
{
	for (size_t i = 0; c->sc.drip > 0 && i < c->nout; i++) {
		sink_write_all(c->fd, c->out + i, 1);
		nap(c->sc.drip);
	}
	if (c->sc.drip <= 0)
		sink_write_all(c->fd, c->out, c->nout);
	c->nout = 0;
}

static void
sink_send(struct sink_conn *c, const char *p, size_t n)
{
	if (c->nout + n > sizeof c->out)
		sink_flush(c);
	if (n > sizeof c->out) {
		sink_write_all(c->fd, p, n);
		return;
	}
	memcpy(c->out + c->nout, p, n);
	c->nout += n;
}

static void
sink_exit(struct sink_conn *c)
{
	sink_flush(c);
	_exit(0);
}

static void
sink_sleep(struct sink_conn *c, double secs)
{
	struct timespec ts;

	if (secs <= 0)
		return;
	sink_flush(c);
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void
sink_delay(struct sink_conn *c)
{
	sink_sleep(c, c->sc.delay);
}

/* sink_applies - a directive given, for every transaction or for one
 * whose accepted recipients include its address. */
static int
sink_applies(const struct sink_conn *c, const struct sink_rule *r)
{
	if (!r->set)
		return 0;
	if (r->addr[0] == '\0')
		return 1;
	for (size_t i = 0; i < c->nrcpts; i++)
		if (strcasecmp(c->rcpts[i], r->addr) == 0)
			return 1;
	return 0;
}

/* sink_client_stays - wait secs for the client, which is waiting for our
 * reply; 0 if it closed or reset the connection meanwhile. */
static int
sink_client_stays(struct sink_conn *c, double secs)
{
	struct timespec end, now;

	sink_flush(c);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)secs;
	end.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		long long ms;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long long)(end.tv_sec - now.tv_sec) * 1000 +
		     (end.tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0)
			return 1;
		if (poll(&p, 1, ms > 1000 ? 1000 : (int)ms) <= 0)
			continue;
		if (c->len == sizeof c->buf) {
			usleep(100000);
			continue;
		}
		/* Input kept for the session: a client may send QUIT as it
		 * gives up, and only the EOF after it says it has gone. */
		r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len,
			 MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			return 0;
		if (r > 0)
			c->len += (size_t)r;
	}
}

/* sink_reply - "CODE TEXT" (text: the script's, else def), after the
 * scripted delay. */
static void
sink_reply(struct sink_conn *c, int code, const char *text, const char *def)
{
	char line[600];
	int n;

	sink_delay(c);
	n = snprintf(line, sizeof line, "%d %s\r\n", code,
		     text && *text ? text : def);
	if (n > (int)sizeof line - 1)
		n = (int)sizeof line - 1;
	sink_send(c, line, (size_t)n);
}

/* sink_rule_reply - the scripted reply if there is one, else the normal
 * one; returns the code sent. */
static int
sink_rule_reply(struct sink_conn *c, const struct sink_rule *r, int code,
		const char *def)
{
	char text[64];

	if (r->code == 0) {
		sink_reply(c, code, NULL, def);
		return code;
	}
	snprintf(text, sizeof text, "%d.0.0 scripted %d", r->code / 100,
		 r->code);
	sink_reply(c, r->code, r->text, text);
	return r->code;
}

/* sink_line - next line (with its line end) into *line, *n; 0 at EOF.
 * Lines longer than the buffer come back in pieces, *complete 0. */
static int
sink_line(struct sink_conn *c, char **line, size_t *n, int *complete)
{
	for (;;) {
		char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
		ssize_t r;

		if (nl || (c->off == 0 && c->len == sizeof c->buf)) {
			*line = c->buf + c->off;
			*n = nl ? (size_t)(nl + 1 - *line) : c->len;
			*complete = nl != NULL;
			c->off += *n;
			return 1;
		}
		if (c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		sink_flush(c);
		r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		c->len += (size_t)r;
	}
}

/* sink_path_arg - the address inside "<...>" after a MAIL/RCPT verb. */
static void
sink_path_arg(const char *line, char *out, size_t outlen)
{
	const char *lt = strchr(line, '<'), *gt = lt ? strchr(lt, '>') : NULL;

	if (!lt || !gt)
		snprintf(out, outlen, "%s", "");
	else
		snprintf(out, outlen, "%.*s", (int)(gt - lt - 1), lt + 1);
}

/* sink_next_number - N for the next message, shared by all connections. */
static unsigned long
sink_next_number(const char *dir)
{
	char path[4096], num[32] = "";
	unsigned long n;
	int fd;
	ssize_t r;

	snprintf(path, sizeof path, "%s/.counter", dir);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || flock(fd, LOCK_EX) != 0)
		_exit(3);
	r = pread(fd, num, sizeof num - 1, 0);
	n = r > 0 ? strtoul(num, NULL, 10) + 1 : 1;
	r = snprintf(num, sizeof num, "%lu\n", n);
	if (pwrite(fd, num, (size_t)r, 0) != r)
		_exit(3);
	close(fd);	/* releases the lock */
	return n;
}

/* sink_data - receive the message after 354; store it if the dot reply
 * is 2xx.  Returns 0, or -1 if the client went away. */
static int
sink_data(struct sink_conn *c)
{
	char tmp[4096], path[4096];
	int complete, bol = 1;
	unsigned long num;
	size_t nlines = 0;
	FILE *env, *f;

	snprintf(tmp, sizeof tmp, "%s/tmp.%ld", c->dir, (long)getpid());
	f = fopen(tmp, "w");
	if (f == NULL)
		_exit(3);
	for (;;) {
		char *line;
		size_t n;

		if (!sink_line(c, &line, &n, &complete)) {
			fclose(f);
			unlink(tmp);
			return -1;
		}
		if (bol && (n == 3 && memcmp(line, ".\r\n", 3) == 0))
			break;
		if (bol && n == 2 && memcmp(line, ".\n", 2) == 0)
			break;
		if (bol && line[0] == '.') {
			line++;
			n--;
		}
		if (fwrite(line, 1, n, f) != n)
			_exit(3);
		bol = complete;
		if ((sink_applies(c, &c->sc.reset_in_data) ||
		     sink_applies(c, &c->sc.hangup_in_data)) && ++nlines == 1) {
			struct linger lg = { 1, 0 };

			if (sink_applies(c, &c->sc.hangup_in_data)) {
				shutdown(c->fd, SHUT_WR);
				usleep(200000);
			}
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			close(c->fd);
			fclose(f);
			unlink(tmp);
			_exit(0);
		}
	}
	if (fclose(f) != 0)
		_exit(3);
	if (sink_applies(c, &c->sc.dot_delay) &&
	    !sink_client_stays(c, c->sc.dot_delay.secs)) {
		unlink(tmp);
		return -1;
	}
	if (c->sc.dot.code != 0 && c->sc.dot.code / 100 != 2) {
		unlink(tmp);
		sink_rule_reply(c, &c->sc.dot, 250, "");
		return 0;
	}
	num = sink_next_number(c->dir);
	snprintf(path, sizeof path, "%s/msg.%lu.env", c->dir, num);
	env = fopen(path, "w");
	if (env == NULL)
		_exit(3);
	fprintf(env, "%s\nMAIL FROM:<%s>\n", c->helo, c->from);
	for (size_t i = 0; i < c->nrcpts; i++)
		fprintf(env, "RCPT TO:<%s>\n", c->rcpts[i]);
	fprintf(env, "PIPELINED %s\n", c->pipelined ? "yes" : "no");
	if (fclose(env) != 0)
		_exit(3);
	snprintf(path, sizeof path, "%s/msg.%lu", c->dir, num);
	if (rename(tmp, path) != 0)
		_exit(3);
	snprintf(tmp, sizeof tmp, "2.0.0 Ok: queued as %lu", num);
	sink_rule_reply(c, &c->sc.dot, 250, tmp);
	return 0;
}

static const struct sink_rule *
sink_rcpt_rule(const struct sink_script *sc, const char *addr)
{
	const struct sink_rule *any = NULL;

	for (size_t i = 0; i < sc->nrcpt; i++) {
		if (sc->rcpt[i].addr[0] == '\0')
			any = &sc->rcpt[i];
		else if (strcasecmp(sc->rcpt[i].addr, addr) == 0)
			return &sc->rcpt[i];
	}
	return any;
}

/* sink_rcpt_delay - seconds to wait before answering RCPT TO:<addr>. */
static double
sink_rcpt_delay(const struct sink_script *sc, const char *addr)
{
	double any = 0;

	for (size_t i = 0; i < sc->nrcpt_delay; i++) {
		if (sc->rcpt_delay[i].addr[0] == '\0')
			any = sc->rcpt_delay[i].secs;
		else if (strcasecmp(sc->rcpt_delay[i].addr, addr) == 0)
			return sc->rcpt_delay[i].secs;
	}
	return any;
}

static void
sink_session(struct sink_conn *c)
{
	static const struct sink_rule none;
	char *line;
	size_t n;
	int complete, in_mail = 0;

	if (c->sc.tarpit) {
		char scratch[4096];

		while (read(c->fd, scratch, sizeof scratch) > 0)
			;
		_exit(0);
	}
	if (c->sc.greeting.code != 0 && c->sc.greeting.code != 220) {
		sink_rule_reply(c, &c->sc.greeting, 220, "");
		sink_exit(c);
	}
	sink_reply(c, 220, c->sc.greeting.text, "sink.test ESMTP smtpsink");
	while (sink_line(c, &line, &n, &complete)) {
		char cmd[SINK_LINE_MAX + 1], arg[300];

		if (!complete) {
			sink_reply(c, 500, NULL, "5.5.2 line too long");
			sink_exit(c);
		}
		memcpy(cmd, line, n);
		while (n > 0 && (cmd[n - 1] == '\n' || cmd[n - 1] == '\r'))
			n--;
		cmd[n] = '\0';
		if (strncasecmp(cmd, "EHLO ", 5) == 0) {
			char ext[256];

			if (c->sc.ehlo.code != 0) {
				sink_rule_reply(c, &c->sc.ehlo, 250, "");
				continue;
			}
			snprintf(c->helo, sizeof c->helo, "EHLO %.280s", cmd + 5);
			snprintf(ext, sizeof ext,
				 "250-sink.test\r\n%s250-8BITMIME\r\n"
				 "250-SIZE %lu\r\n250 HELP\r\n",
				 c->sc.nopipelining ? "" : "250-PIPELINING\r\n",
				 c->sc.size);
			if (!c->sc.size)	/* drop the SIZE line */
				memmove(strstr(ext, "250-SIZE"),
					strstr(ext, "250 HELP"),
					strlen(strstr(ext, "250 HELP")) + 1);
			sink_delay(c);
			sink_send(c, ext, strlen(ext));
		} else if (strncasecmp(cmd, "HELO ", 5) == 0) {
			snprintf(c->helo, sizeof c->helo, "HELO %.280s", cmd + 5);
			sink_reply(c, 250, NULL, "sink.test");
		} else if (strncasecmp(cmd, "MAIL FROM:", 10) == 0) {
			const char *sz = strcasestr(cmd, " SIZE=");

			if (in_mail) {	/* as Postfix: RSET first */
				sink_reply(c, 503, NULL, "5.5.1 nested MAIL command");
				continue;
			}
			c->pipelined = c->off < c->len;
			c->nrcpts = 0;
			sink_path_arg(cmd, c->from, sizeof c->from);
			if (c->sc.size && sz && strtoul(sz + 6, NULL, 10) > c->sc.size)
				sink_reply(c, 552, NULL, "5.3.4 message too big");
			else
				in_mail = sink_rule_reply(c, &c->sc.mail, 250,
							  "2.1.0 Ok") / 100 == 2;
		} else if (strncasecmp(cmd, "RCPT TO:", 8) == 0) {
			const struct sink_rule *r;
			char okt[350];

			sink_path_arg(cmd, arg, sizeof arg);
			if (!in_mail) {
				sink_reply(c, 503, NULL, "5.5.1 need MAIL first");
				continue;
			}
			sink_sleep(c, sink_rcpt_delay(&c->sc, arg));
			r = sink_rcpt_rule(&c->sc, arg);
			snprintf(okt, sizeof okt, "2.1.5 <%s> Ok", arg);
			if (sink_rule_reply(c, r ? r : &none, 250, okt) / 100 == 2 &&
			    c->nrcpts < sizeof c->rcpts / sizeof c->rcpts[0])
				snprintf(c->rcpts[c->nrcpts++], sizeof c->rcpts[0],
					 "%s", arg);
		} else if (strcasecmp(cmd, "DATA") == 0) {
			if (!in_mail || c->nrcpts == 0) {
				sink_reply(c, 554, NULL, "5.5.1 no valid recipients");
				continue;
			}
			if (sink_rule_reply(c, &c->sc.data, 354,
					    "End data with <CR><LF>.<CR><LF>") != 354)
				continue;
			if (sink_data(c) != 0)
				_exit(0);
			in_mail = 0;
			c->nrcpts = 0;
		} else if (strcasecmp(cmd, "RSET") == 0) {
			in_mail = 0;
			c->nrcpts = 0;
			sink_reply(c, 250, NULL, "2.0.0 Ok");
		} else if (strcasecmp(cmd, "NOOP") == 0) {
			sink_reply(c, 250, NULL, "2.0.0 Ok");
		} else if (strcasecmp(cmd, "QUIT") == 0) {
			sink_reply(c, 221, NULL, "2.0.0 Bye");
			sink_exit(c);
		} else {
			sink_reply(c, 500, NULL, "5.5.2 command not recognized");
		}
	}
	sink_exit(c);
}

int smtpsink_main(int argc, char **argv);

int
smtpsink_main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof sa;
	const char *dir = NULL, *script = NULL;
	unsigned port = 0;
	unsigned lifetime = 600;
	int opt, lfd, one = 1;

	while ((opt = getopt(argc, argv, "p:d:s:l:")) != -1) {
		switch (opt) {
		case 'p': port = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': dir = optarg; break;
		case 's': script = optarg; break;
		case 'l': lifetime = (unsigned)strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: smtpsink -p PORT -d DIR "
				"[-s SCRIPT] [-l LIFETIME_S]\n");
			return 64;
		}
	}
	if (dir == NULL || port > 65535) {
		fprintf(stderr, "usage: smtpsink -p PORT -d DIR [-s SCRIPT] "
			"[-l LIFETIME_S]\n");
		return 64;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(lfd, 128) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
		perror("smtpsink: listen");
		return 71;
	}
	signal(SIGCHLD, SIG_IGN);	/* children reap themselves */
	signal(SIGPIPE, SIG_IGN);
	alarm(lifetime);
	printf("listening %u\n", (unsigned)ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pid_t pid;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("smtpsink: accept");
			return 71;
		}
		pid = fork();
		if (pid == 0) {
			static struct sink_conn c;

			close(lfd);
			alarm(lifetime);
			c.fd = fd;
			c.dir = dir;
			sink_script_read(script, &c.sc);
			sink_session(&c);
			_exit(0);
		}
		close(fd);
	}
}

#ifndef SMTPSINK_NO_MAIN
int
main(int argc, char **argv)
{
	int rc = smtpsink_main(argc, argv);

	fflush(stdout);
	_exit(rc);
}
#endif
