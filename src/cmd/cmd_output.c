/*
 * cmd_output.c - what the operator commands print, and how a failed
 * write ends them (see commands.h): as mailq and postqueue do, a reader
 * that goes away ("| head", EPIPE) ends a listing quietly with 0; any
 * other failed write is an I/O error, said and exited with 74.
 */
#include "cmd/commands.h"
#include "util/log.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

int
cmd_out_write(const struct buf *b)
{
	if (b->len == 0)
		return 0;
	if (fwrite(b->data, 1, b->len, stdout) != b->len)
		return -1;
	return 0;
}

int
cmd_out_error(int e)
{
	if (e == EPIPE)
		return 0;
	log_stderr("writing to standard output: %s", strerror(e));
	return EX_IOERR;
}

int
cmd_out_finish(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	return cmd_out_error(errno);
}

int
cmd_print(const struct buf *b)
{
	return cmd_out_write(b) != 0 ? cmd_out_error(errno) : cmd_out_finish();
}

/* cmd_operator_name - who runs this, for the log of an operator's action
 * (the login name, else the uid).  Static storage. */
const char *
cmd_operator_name(void)
{
	static char name[64];
	struct passwd *pw = getpwuid(getuid());

	if (pw && pw->pw_name)
		snprintf(name, sizeof name, "%s", pw->pw_name);
	else
		snprintf(name, sizeof name, "%ld", (long)getuid());
	return name;
}
