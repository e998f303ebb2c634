/*
 * err.c - error values (see err.h).
 */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

int
pb_err_set(struct pb_err *err, enum pb_status status, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int
pb_err_prefix(struct pb_err *err, const char *fmt, ...)
{
	char prefix[PB_ERR_MSGLEN], old[PB_ERR_MSGLEN];
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	/* Truncation is fine: the end of a long message matters least. */
	size_t plen = strnlen(prefix, sizeof err->msg - 1);
	memcpy(err->msg, prefix, plen);
	size_t olen = strnlen(old, sizeof old);
	if (olen > sizeof err->msg - 1 - plen)
		olen = sizeof err->msg - 1 - plen;
	memcpy(err->msg + plen, old, olen);
	err->msg[plen + olen] = '\0';
	return -1;
}

void
pb_err_clear(struct pb_err *err)
{
	if (err == NULL)
		return;
	err->status = PB_OK;
	err->msg[0] = '\0';
}

const char *
pb_status_name(enum pb_status status)
{
	switch (status) {
	case PB_OK: return "ok";
	case PB_ETEMP: return "temporary";
	case PB_EPERM: return "permanent";
	case PB_EDATA: return "data";
	case PB_ECONFIG: return "config";
	case PB_EUSAGE: return "usage";
	case PB_ENOTFOUND: return "not found";
	case PB_EIO: return "i/o";
	case PB_EOS: return "os";
	case PB_EUNAVAIL: return "unavailable";
	case PB_ENOPERM: return "permission";
	}
	return "unknown";
}

int
exitcode_for(enum pb_status status)
{
	switch (status) {
	case PB_OK: return 0;
	case PB_ETEMP: return EX_TEMPFAIL;
	case PB_EPERM: return EX_UNAVAILABLE;
	case PB_EDATA: return EX_DATAERR;
	case PB_ECONFIG: return EX_CONFIG;
	case PB_EUSAGE: return EX_USAGE;
	case PB_ENOTFOUND: return EX_DATAERR;
	case PB_EIO: return EX_IOERR;
	case PB_EOS: return EX_OSERR;
	case PB_EUNAVAIL: return EX_UNAVAILABLE;
	case PB_ENOPERM: return EX_NOPERM;
	}
	return EX_SOFTWARE;
}
