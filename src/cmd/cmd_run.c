/*
 * cmd_run.c - "pksbridge run [--once]": command line of the queue runner.
 */
#include "bridge/runner.h"
#include "cmd/commands.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

static void
run_usage(FILE *f)
{
	fprintf(f,
		"usage: pksbridge [-c FILE] run [--once]\n"
		"\n"
		"Deliver queued entries: inbound keys to the key database, outbound\n"
		"mail to PKS peers, retrying per retry_schedule until\n"
		"max_queue_lifetime.  Runs in the foreground until SIGTERM; SIGHUP\n"
		"reloads the configuration.\n"
		"\n"
		"  --once   deliver everything due now, then exit\n");
}

int
cmd_run(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct runner_opts o;
	struct config cfg;
	struct pb_err err;
	int rc, explicit_path;

	memset(&o, 0, sizeof o);
	o.config_path = config_path(ctx->config_path, &explicit_path);
	o.config_missing_ok = !explicit_path;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0) {
			o.once = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			run_usage(stdout);
			return 0;
		} else {
			log_stderr("run: unknown argument %s", argv[i]);
			run_usage(stderr);
			return EX_USAGE;
		}
	}
	log_open("run", LOG_DEST_STDERR, 0);
	if (cmd_load_config(ctx, &cfg, &err) != 0) {
		log_stderr("%s", err.msg);
		config_free(&cfg);
		return EX_CONFIG;
	}
	log_set_dest(cfg.log_dest);
	rc = runner_run(&cfg, &o, &err);
	if (rc != 0) {
		log_error(NULL, "%s", err.msg);
		if (!(log_get_dest() & LOG_DEST_STDERR))
			log_stderr("%s", err.msg);
	}
	config_free(&cfg);
	return rc == 0 ? 0 : exitcode_for(err.status);
}
