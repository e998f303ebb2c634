/*
 * log.c - the process's log handle (see log.h).
 *
 * This is the only mutable process-wide state besides the configuration:
 * the ident, the destination and the fatal exit code.
 */
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
	char ident[64];
	int dest;
	int fatal_exit;
	int opened_syslog;
} lh = { "pksbridge", LOG_DEST_STDERR, 0, 0 };

void
log_open(const char *prog, int dest, int fatal_exit)
{
	if (prog && *prog)
		snprintf(lh.ident, sizeof lh.ident, "pksbridge/%s", prog);
	else
		snprintf(lh.ident, sizeof lh.ident, "pksbridge");
	lh.fatal_exit = fatal_exit;
	log_set_dest(dest);
}

void
log_set_dest(int dest)
{
	lh.dest = dest;
	if ((dest & LOG_DEST_SYSLOG) && !lh.opened_syslog) {
		openlog(lh.ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
		lh.opened_syslog = 1;
	}
}

int
log_get_dest(void)
{
	return lh.dest;
}

/* severity - Postfix's "warning: " / "error: " / "fatal: " for lines
 * that are not about one queue entry; an entry's line starts with its
 * queue id whatever its priority, so that grep ID finds them all. */
static const char *
severity(int prio, const char *qid)
{
	if (qid)
		return "";
	switch (prio) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: return "fatal: ";
	case LOG_ERR: return "error: ";
	case LOG_WARNING: return "warning: ";
	default: return "";
	}
}

static void
emit(int prio, int dest, const char *qid, const char *text)
{
	const char *sev = severity(prio, qid);

	if (dest & LOG_DEST_SYSLOG) {
		if (qid)
			syslog(prio, "%s: %s", qid, text);
		else
			syslog(prio, "%s%s", sev, text);
	}
	if (dest & LOG_DEST_STDERR) {
		/* One write() per line keeps lines from concurrent
		 * processes sharing a terminal or log file whole. */
		char line[2048];
		int n;

		if (qid)
			n = snprintf(line, sizeof line, "%s[%ld]: %s: %s\n",
				     lh.ident, (long)getpid(), qid, text);
		else
			n = snprintf(line, sizeof line, "%s[%ld]: %s%s\n",
				     lh.ident, (long)getpid(), sev, text);
		if (n > 0) {
			size_t len = (size_t)n < sizeof line ? (size_t)n
							       : sizeof line - 1;
			if ((size_t)n >= sizeof line)
				line[len - 1] = '\n';
			ssize_t w = write(STDERR_FILENO, line, len);
			(void)w;
		}
	}
}

/* Keep log lines single-line: a CR or LF from mail content must not be
 * able to forge a second log entry. */
static void
sanitize(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r' || (unsigned char)*s < 0x20)
			*s = '?';
}

void
log_vmsg(int prio, const char *qid, const char *fmt, va_list ap)
{
	char text[1536];

	vsnprintf(text, sizeof text, fmt, ap);
	sanitize(text);
	emit(prio, lh.dest, qid, text);
}

void
log_msg(int prio, const char *qid, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, qid, fmt, ap);
	va_end(ap);
}

void
log_fatal(enum pb_status status, const char *fmt, ...)
{
	char text[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	sanitize(text);
	emit(LOG_CRIT, lh.dest | LOG_DEST_STDERR, NULL, text);
	exit(lh.fatal_exit ? lh.fatal_exit : exitcode_for(status));
}

void
log_stderr(const char *fmt, ...)
{
	char text[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", lh.ident, text);
}
