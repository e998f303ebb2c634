/*
 * filter.h - what every MTA-facing command shares.
 *
 * MTAs treat a pipe command harshly (pksbridge(8) EXIT STATUS,
 * docs/WIRING.md): 75 is the one code that Postfix, Exim and OpenSMTPD
 * all defer on, any other exit code but 0 may bounce a keyserver mail
 * and start a mail storm, unread input is a failure for OpenSMTPD, and
 * a pipe command that hangs is killed and bounced after 1000 s
 * (Postfix) or an hour (Exim).  These
 * helpers make the filters exit 0 or 75 only, read stdin to EOF with
 * bounded memory, and give up with 75 (or 0 once committed) long before
 * any MTA timeout.
 */
#ifndef PB_FILTER_H
#define PB_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define FILTER_EXIT_OK 0
#define FILTER_EXIT_TEMPFAIL 75

/* filter_begin - set up logging for a filter named prog, make every
 * fatal error exit 75, and arm a watchdog: after guard_secs the process
 * exits 75, or 0 if filter_committed() was called.  A crash (SIGSEGV,
 * SIGBUS, SIGILL, SIGFPE, SIGABRT) exits the same way, saying "fatal
 * signal N" on stderr, never by the signal (except in sanitizer
 * builds). */
void filter_begin(const char *prog, unsigned guard_secs);

/* filter_guard - re-arm the watchdog: secs from now. */
void filter_guard(unsigned secs);

/* filter_committed - the mail is durable: from now on every way out,
 * the watchdog included, exits 0. */
void filter_committed(void);

/* filter_leave - for spool_set_leave: the spool needs recovery and this
 * process stayed attached (blocked on a dead process's mutex): exit as
 * the watchdog does, 0 once committed, 75 before. */
void filter_leave(void *arg);

/* filter_read_stdin - read stdin to EOF, keeping at most keep_max bytes
 * in out; *total_r is the number of bytes read in all. */
int filter_read_stdin(size_t keep_max, struct buf *out, uint64_t *total_r,
		      struct pb_err *err);

/* filter_tempfail - log why (syslog and stderr), return 75. */
int filter_tempfail(const struct pb_err *err);

/* filter_quiet_fds - point stdin/stdout at /dev/null so nothing we start
 * later (gpg through GPGME) can hold the MTA's pipe open. */
void filter_quiet_fds(void);

#endif
