/*
 * log.h - the process's log handle.
 *
 * One line per event, Postfix style: "pksbridge/ingest[PID]: QUEUEID: text"
 * to syslog (facility mail) or to stderr.  The text of a mail event is
 * "key=value, key=value, ..., status=STATE (free text)", as in Postfix's
 * log_adhoc.c; lines about no single entry get Postfix's "warning: ",
 * "error: " or "fatal: " prefix by priority.  The handle also holds the exit
 * code used by log_fatal(): the MTA-facing commands set it to 75 so that
 * any fatal error, even one deep inside a library wrapper, makes the MTA
 * retry instead of bouncing (Postfix sendmail's tempfail() hook).
 */
#ifndef PB_LOG_H
#define PB_LOG_H

#include <stdarg.h>
#include <syslog.h>

#include "util/err.h"

enum log_dest {
	LOG_DEST_SYSLOG = 1,
	LOG_DEST_STDERR = 2,
};

/* log_open - set the program name shown after "pksbridge/" (NULL for
 * plain "pksbridge"), where lines go, and the fixed exit code for
 * log_fatal() (0 means: exitcode_for(status)). */
void log_open(const char *prog, int dest, int fatal_exit);

/* log_set_dest - change where lines go (after the config is read). */
void log_set_dest(int dest);
int log_get_dest(void);

/* log_msg - one line at syslog priority prio; qid may be NULL. */
void log_msg(int prio, const char *qid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(int prio, const char *qid, const char *fmt, va_list ap);

#define log_info(qid, ...) log_msg(LOG_INFO, (qid), __VA_ARGS__)
#define log_notice(qid, ...) log_msg(LOG_NOTICE, (qid), __VA_ARGS__)
#define log_warning(qid, ...) log_msg(LOG_WARNING, (qid), __VA_ARGS__)
#define log_error(qid, ...) log_msg(LOG_ERR, (qid), __VA_ARGS__)
#define log_debug(qid, ...) log_msg(LOG_DEBUG, (qid), __VA_ARGS__)

/* log_fatal - log at LOG_CRIT, also to stderr, and exit.  For the
 * environment failing (out of memory), never for bad input. */
void log_fatal(enum pb_status status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* log_stderr - one line to stderr only, prefixed with the program name:
 * for the user-facing error of a command, whatever the log destination. */
void log_stderr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
