/*
 * err.h - error values.
 *
 * Every fallible function in pksbridge returns 0 on success or -1 on
 * failure and fills a caller-provided struct pb_err with a status class
 * and a human-readable message.  The status class lets the caller decide
 * what to do (retry later, give up, quarantine) without parsing text; only
 * main() turns a status into an exit code (see exitcode_for()).
 */
#ifndef PB_ERR_H
#define PB_ERR_H

#include <stddef.h>

enum pb_status {
	PB_OK = 0,
	PB_ETEMP,	/* transient: lock timeout, network, key DB down */
	PB_EPERM,	/* permanent: remote refused, will never succeed */
	PB_EDATA,	/* bad input data (mail, key, record) */
	PB_ECONFIG,	/* configuration error */
	PB_EUSAGE,	/* bad command line */
	PB_ENOTFOUND,	/* no such queue entry / key */
	PB_EIO,		/* local I/O error (disk full, EIO) */
	PB_EOS,		/* local OS error (fork, exec, out of memory) */
	PB_EUNAVAIL,	/* a required service or program is unavailable */
	PB_ENOPERM,	/* this user may not do it (the spool's permissions) */
};

#define PB_ERR_MSGLEN 512

struct pb_err {
	enum pb_status status;
	char msg[PB_ERR_MSGLEN];
};

/* pb_err_set - record an error; always returns -1 so callers can
 * "return pb_err_set(err, ...)". err may be NULL. */
int pb_err_set(struct pb_err *err, enum pb_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* pb_err_prefix - prepend context ("opening queue: ") to an existing
 * message, keeping its status.  Returns -1. */
int pb_err_prefix(struct pb_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* pb_err_clear - reset to PB_OK with an empty message. */
void pb_err_clear(struct pb_err *err);

/* pb_status_name - short name for logs ("temporary", "config", ...). */
const char *pb_status_name(enum pb_status status);

/* exitcode_for - the <sysexits.h> code an operator command exits with for
 * this status.  MTA-facing commands do not use this: they exit 0 or 75. */
int exitcode_for(enum pb_status status);

#endif
