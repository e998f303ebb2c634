/*
 * sendmail.h - the pieces of "pksbridge sendmail" that read untrusted
 * input, exported so that a fuzzer (fuzz/fuzz_sendmail.c) can drive
 * exactly the code the command runs: its argv parser, the lone-dot cut
 * and the recipient collection.  cmd_sendmail (commands.h) is the only
 * other user.
 */
#ifndef PB_SENDMAIL_H
#define PB_SENDMAIL_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct sm_opts {
	int extract_to;		/* -t */
	int ignore_dot;		/* -i, -oi */
	const char *sender;	/* -f / -r, points into argv */
	char **rcpts;		/* argument recipients, into argv; the array
				 * is owned (free it, not its strings) */
	size_t nrcpts;
	int help;
};

/* sendmail_parse_args - argv as Postfix's sendmail reads it; 0, or -1
 * with a usage error in err.  o->rcpts must be freed either way. */
int sendmail_parse_args(int argc, char **argv, struct sm_opts *o,
			struct pb_err *err);

/* sendmail_cut_at_dot - without -i, a line with a lone "." ends the
 * message: mail is cut there (the rest was read, and is dropped). */
void sendmail_cut_at_dot(struct buf *mail);

/* sendmail_add_peer - add the bare address of raw (a recipient as
 * written) to *peers unless unusable or already there (case-blind);
 * the strings are owned by the array. */
void sendmail_add_peer(char ***peers, size_t *n, const char *raw);

#endif
