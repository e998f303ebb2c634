/*
 * commands.h - the subcommands of the pksbridge binary.  Each returns the
 * process exit code; main() only dispatches.
 */
#ifndef PB_COMMANDS_H
#define PB_COMMANDS_H

#include "config/config.h"
#include "util/buf.h"
#include "util/err.h"

struct cmd_ctx {
	const char *config_path;	/* -c FILE, or NULL */
	const char *argv0;
};

/* cmd_load_config - the configuration for a command: -c, else
 * $PKSBRIDGE_CONF, else the default path (which may be absent). */
int cmd_load_config(const struct cmd_ctx *ctx, struct config *cfg,
		    struct pb_err *err);

/* MTA-facing (filters/): exit only 0 or 75 (sendmail also 64). */
int cmd_ingest(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_sks_add_mail(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_sendmail(const struct cmd_ctx *ctx, int argc, char **argv);
/* cmd_filter_bad_usage - the MTA-facing command cmd got arguments nobody
 * can parse (why says which): drain stdin, log why, return 75. */
int cmd_filter_bad_usage(const char *cmd, const char *why);

/* Output of the operator commands (cmd_output.c).  cmd_out_write puts b
 * on stdout: 0, or -1 with errno set.  cmd_out_error is the exit code
 * for a failed write with errno e: 0 if the reader went away (EPIPE),
 * else it says so and returns EX_IOERR.  cmd_out_finish flushes stdout,
 * with the same answer; cmd_print writes b and flushes. */
int cmd_out_write(const struct buf *b);
int cmd_out_error(int e);
int cmd_out_finish(void);
int cmd_print(const struct buf *b);
const char *cmd_operator_name(void);

/* Operator commands (src/cmd/cmd_*.c): <sysexits.h> codes. */
int cmd_run(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_queue(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_dedup(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_policy(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_block(const struct cmd_ctx *ctx, int argc, char **argv);

#endif
