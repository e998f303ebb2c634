/*
 * runner.h - the queue runner: delivers what is due, with retries.
 *
 * In the foreground until SIGTERM (systemd Type=exec or notify), it sleeps
 * until the next entry is due or a filter nudges it through the spool's
 * wakeup FIFO; SIGHUP reloads the configuration.  With once set it
 * delivers everything due now and returns.
 */
#ifndef PB_RUNNER_H
#define PB_RUNNER_H

#include "config/config.h"
#include "util/err.h"

struct runner_opts {
	int once;
	/* Where SIGHUP reloads the configuration from (config_load). */
	const char *config_path;
	int config_missing_ok;
};

/* runner_run - cfg is the loaded configuration (replaced on SIGHUP, so
 * it must be the caller's own copy).  Returns 0 after a clean stop. */
int runner_run(struct config *cfg, const struct runner_opts *o,
	       struct pb_err *err);

#endif
