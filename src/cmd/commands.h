/*
 * commands.h - the subcommands of the pksbridge binary.  Each returns the
 * process exit code; main() only dispatches.
 */
#ifndef PB_COMMANDS_H
#define PB_COMMANDS_H

#include "config/config.h"
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

/* Operator commands (src/cmd_*.c): <sysexits.h> codes. */
int cmd_run(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_queue(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_dedup(const struct cmd_ctx *ctx, int argc, char **argv);

#endif
