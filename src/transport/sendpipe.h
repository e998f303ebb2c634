/*
 * sendpipe.h - hand outbound mail to a sendmail-compatible command
 * (config key sendmail_cmd) instead of speaking SMTP.
 *
 * The command is run directly (no shell, no PATH search), in its own
 * process group, with the mail on its standard input.  Its exit status
 * decides the outcome as the sendmail programs of Postfix, Exim, msmtp
 * and OpenSMTPD mean it (<sysexits.h>): 75 is the one code that means
 * "try again", 71 and 74 are treated the same way, as are a signal and
 * our own timeout; any other failure is permanent.
 *
 * The envelope sender: when one is asked for, "-f SENDER" follows the
 * configured arguments, and the null sender is written "<>", as Exim
 * documents it; Exim's and Postfix's sendmail take the last -f.  The
 * transport asks for from_addr for sync mail unless the configured
 * arguments set one, and always for the null sender for replies to mail
 * commands.
 *
 * Recipients: appended to the command's arguments after "--" (Postfix,
 * Exim, msmtp and OpenSMTPD's sendmail all end their options there), so
 * that no address can ever be read as an option.  If the configured
 * arguments contain -t, nothing is appended: the recipients are then
 * taken from the mail's To: header, as SKS's "sendmail -t -oi" does, and
 * Exim would otherwise remove argument addresses from that list while
 * Postfix would add them to it.
 */
#ifndef PB_SENDPIPE_H
#define PB_SENDPIPE_H

#include <stddef.h>

#include "util/err.h"

/* sendpipe_send - run argv (argv[0] an absolute path, NULL-terminated)
 * plus "-f" sender (when sender is not NULL; "" is the null sender, given
 * as "<>") and "--" and rcpts[0..nrcpts) (unless argv has -t), write data[0..len)
 * to its stdin with every CRLF turned into LF, and wait for it, at most
 * timeout_s seconds in all; then its whole process group is killed.
 * The child's stdout and stderr share one pipe; the first 1 KB of it is
 * quoted in err->msg on failure.
 *
 * Returns 0 when the command exited 0 after reading all of the mail.
 * Otherwise -1 and: PB_ETEMP for exit 75 (EX_TEMPFAIL), 71 (EX_OSERR),
 * 74 (EX_IOERR), death by a signal, the timeout, a command that cannot be
 * started (missing, not executable, or exit 126/127 as shells report
 * that: a configuration mistake that must not lose mail), a command that
 * exited 0 without reading all its input, or a local failure (pipe,
 * spawn); PB_EPERM for any other exit status;
 * PB_EDATA for argv[0] not absolute, no recipients without -t, or a
 * sender that could be read as an option (starting with "-").
 * SIGPIPE is never delivered to the process. */
int sendpipe_send(char *const argv[], const char *sender,
		  const char *const *rcpts,
		  size_t nrcpts, const char *data, size_t len, int timeout_s,
		  struct pb_err *err);

/* sendpipe_has_flag - 1 if argv (before any "--") gives sendmail the
 * option letter: alone ("-t", "-f ADDR") or in a cluster of letters
 * that take no argument ("-ti", "-it", "-if ADDR"), never as another
 * option's value ("-ft" is -f with the value "t").  "t": the recipients
 * are read from the headers; "f": the command sets its envelope sender. */
int sendpipe_has_flag(char *const argv[], char letter);

#endif
