/*
 * ingest.c - "pksbridge ingest" and the "sks_add_mail BASEDIR" drop-in:
 * the inbound filter an MTA pipes PKS mail into.
 *
 * Order of work, and why:
 *   1. read the whole mail from stdin (bounded memory; always to EOF);
 *   2. load config and open the spool; any failure so far exits 75;
 *   3. analyse and commit the mail's entries synchronously: from here on
 *      the mail is ours and every exit is 0;
 *   4. hand it over (bridge/handoff.h): a listening runner is woken, or
 *      without one the filter delivers it once itself, with a short
 *      timeout; if that fails the runner retries.
 */
#include "bridge/handoff.h"
#include "bridge/inbound.h"
#include "cmd/commands.h"
#include "filter.h"
#include "plant.h"
#include "spool/spool.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GUARD_SECS 300		/* far below Postfix's 1000 s limit */
/* From the end of the mail on: opening the spool (recovery included),
 * committing (the busy budget is 20 s) and the inline attempt (10 s)
 * take seconds.  Longer means a process blocked inside Berkeley DB on a
 * mutex held by a process that was killed holding it, which nothing
 * ever releases: give up, 75 before the commit (the MTA retries, and
 * the next opener recovers the environment) or 0 after it. */
#define SPOOL_GUARD_SECS 60

static void
ingest_usage(FILE *f)
{
	fprintf(f,
		"usage: pksbridge [-c FILE] ingest [--origin pks|local]\n"
		"\n"
		"Read one mail on stdin (as an MTA pipe or procmail hands it over),\n"
		"queue its OpenPGP public keys durably and deliver them to the key\n"
		"database.  Exits 0 once the mail is committed, 75 otherwise.\n"
		"\n"
		"  --origin pks|local  where the keys come from; by default from\n"
		"                      the Subject: \"incremental\" = pks, \"ADD\" = local\n"
		"  -c FILE             configuration (default $PKSBRIDGE_CONF or\n"
		"                      " CONFIG_DEFAULT_PATH ")\n");
}

/* run_filter - steps 1-4 with a loaded configuration. */
static int
run_filter(struct config *cfg, int cfg_ok, const struct pb_err *cfg_err,
	   enum inbound_origin origin)
{
	struct buf mail = BUF_INIT;
	struct inbound_opts opts;
	struct inbound_result res;
	struct inbound *in;
	struct spool *sp = NULL;
	struct handoff h;
	struct pb_err err;
	uint64_t total = 0;
	size_t keep;

	/* Keep one byte more than the limit, to know it was exceeded;
	 * with a broken config keep nothing, but still drain stdin. */
	keep = cfg_ok ? (size_t)cfg->max_message_size + 1 : 0;
	if (filter_read_stdin(keep, &mail, &total, &err) != 0) {
		buf_free(&mail);
		return filter_tempfail(&err);
	}
	filter_guard(SPOOL_GUARD_SECS);
	if (!cfg_ok) {
		buf_free(&mail);
		return filter_tempfail(cfg_err);
	}
	if (spool_open(cfg->spool_dir, &sp, &err) != 0) {
		buf_free(&mail);
		return filter_tempfail(&err);
	}
	spool_set_leave(sp, filter_leave, NULL);
	memset(&opts, 0, sizeof opts);
	opts.origin = origin;
	opts.sender = getenv("SENDER");
	opts.total_size = total;
	/* Decided before the commit: only a filter that will deliver
	 * inline leases its entry in the committing transaction. */
	handoff_begin(&h, sp);
	opts.lease_secs = handoff_lease_secs(&h);
	if (mail.len > cfg->max_message_size) {
		/* Keep only the head for the quarantine record. */
		mail.len = cfg->max_message_size;
	}
	in = inbound_analyse(cfg, (const char *)buf_str(&mail), mail.len, &opts);
	buf_free(&mail);
	if (inbound_commit(sp, in, &res, &err) != 0) {
		inbound_free(in);
		handoff_cancel(&h);
		spool_close(sp);
		return filter_tempfail(&err);
	}
	inbound_free(in);
	filter_committed();
	{
		const char *ids[] = { res.id };

		plant_loss(sp, ids, res.id[0] ? 1 : 0);
	}
	/* Nothing we start from here on (gpg, for an inline delivery) may
	 * hold the MTA's pipe open. */
	filter_quiet_fds();
	handoff_after_commit(&h, sp, cfg,
			     res.state == QS_READY && strcmp(res.id, res.reply_id) ?
			     res.id : NULL,
			     res.reply_id[0] && res.reply_state == QS_READY ?
			     res.reply_id : NULL, res.noutbound > 0);
	spool_checkpoint(sp, 0);
	spool_close(sp);
	return FILTER_EXIT_OK;
}

int
cmd_filter_bad_usage(const char *cmd, const char *why)
{
	struct config cfg;
	struct pb_err err;
	int rc;

	/* A typo in /etc/aliases must defer, not bounce: the mail waits in
	 * the MTA's queue until the operator fixes the pipe command. */
	filter_begin(cmd, GUARD_SECS);
	pb_err_set(&err, PB_EUSAGE, "%s (see pksbridge %s --help); fix the "
		   "MTA's pipe command", why, cmd);
	config_defaults(&cfg);
	rc = run_filter(&cfg, 0, &err, INBOUND_ORIGIN_AUTO);
	config_free(&cfg);
	return rc;
}

static int
parse_origin(const char *v, enum inbound_origin *o)
{
	if (strcmp(v, "pks") == 0)
		*o = INBOUND_ORIGIN_PKS;
	else if (strcmp(v, "local") == 0)
		*o = INBOUND_ORIGIN_LOCAL;
	else
		return -1;
	return 0;
}

int
cmd_ingest(const struct cmd_ctx *ctx, int argc, char **argv)
{
	enum inbound_origin origin = INBOUND_ORIGIN_AUTO;
	struct config cfg;
	struct pb_err err;
	int cfg_ok, rc, bad_usage = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			ingest_usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--origin") == 0 && i + 1 < argc) {
			if (parse_origin(argv[++i], &origin) != 0)
				bad_usage = 1;
		} else if (strncmp(argv[i], "--origin=", 9) == 0) {
			if (parse_origin(argv[i] + 9, &origin) != 0)
				bad_usage = 1;
		} else {
			bad_usage = 1;
		}
	}
	if (bad_usage)
		return cmd_filter_bad_usage("ingest", "bad arguments");
	filter_begin("ingest", GUARD_SECS);
	cfg_ok = cmd_load_config(ctx, &cfg, &err) == 0;
	if (cfg_ok)
		log_set_dest(cfg.log_dest);
	rc = run_filter(&cfg, cfg_ok, &err, origin);
	config_free(&cfg);
	return rc;
}

/* sks_add_mail BASEDIR: SKS's own program takes SKS's spool directory
 * (Debian: /var/spool/sks) and SKS reads BASEDIR/messages.  Without a
 * pksbridge.conf we keep our spool in BASEDIR/pksbridge and deliver to
 * that SKS; with one, its keydb wins only if set explicitly. */
int
cmd_sks_add_mail(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct config cfg;
	struct pb_err err;
	int cfg_ok, rc;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
			  strcmp(argv[1], "-h") == 0)) {
		printf("usage: sks_add_mail BASEDIR\n\n"
		       "Drop-in for SKS's sks_add_mail: read one mail on stdin and\n"
		       "deliver its keys to the SKS whose spool is BASEDIR (it reads\n"
		       "BASEDIR/messages), through pksbridge's durable queue.\n"
		       "See sks_add_mail(8).\n");
		return 0;
	}
	filter_begin("sks_add_mail", GUARD_SECS);
	cfg_ok = cmd_load_config(ctx, &cfg, &err) == 0;
	if (cfg_ok && (argc != 2 || argv[1][0] == '\0')) {
		pb_err_set(&err, PB_EUSAGE, "usage: sks_add_mail BASEDIR");
		cfg_ok = 0;
	}
	if (cfg_ok) {
		char *base = argv[1];
		size_t bl = strlen(base);

		while (bl > 1 && base[bl - 1] == '/')
			base[--bl] = '\0';
		log_set_dest(cfg.log_dest);
		if (!cfg.keydb_set) {
			free(cfg.keydb);
			cfg.keydb = xasprintf("sks:%s", base);
		}
		if (cfg.path == NULL) {
			struct stat st;

			free(cfg.spool_dir);
			cfg.spool_dir = xasprintf("%s/pksbridge", base);
			/* First use: create our spool beside SKS's, with the
			 * same group access as BASEDIR itself. */
			if (stat(base, &st) == 0 && S_ISDIR(st.st_mode)) {
				mode_t mode = (st.st_mode & S_IWGRP) ? 02770 : 0700;

				/* chmod: the MTA's umask must not narrow it. */
				if (mkdir(cfg.spool_dir, mode) == 0)
					chmod(cfg.spool_dir, mode);
				else if (errno != EEXIST)
					log_warning(NULL, "creating %s: %s",
						    cfg.spool_dir, strerror(errno));
			}
		}
	}
	rc = run_filter(&cfg, cfg_ok, &err, INBOUND_ORIGIN_AUTO);
	config_free(&cfg);
	return rc;
}
