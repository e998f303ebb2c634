/*
 * cmd_dedup.c - "pksbridge dedup lookup FINGERPRINT": what the dedup
 * index knows about a key.
 */
#include "cmd/commands.h"
#include "openpgp/pgp.h"
#include "spool/dedup.h"
#include "spool/spool.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

static void
dedup_usage(FILE *f)
{
	fprintf(f,
		"usage: pksbridge [-c FILE] dedup lookup FINGERPRINT [--json]\n"
		"\n"
		"Show what the dedup index remembers about a key: when it was seen\n"
		"from PKS and from local sources, and each of its packets.  Exits 65\n"
		"if the index does not know the key (within dedup_ttl).\n"
		"\n"
		"  FINGERPRINT   40 (v4) or 64 (v5/v6) hex digits\n"
		"  --json, -j    one JSON object (docs/JSON.md)\n");
}

/* parse_args - argv after "dedup": the fingerprint and --json.  0, or
 * the exit code after saying what is wrong (or printing the help). */
static int
parse_args(int argc, char **argv, unsigned char fpr[PGP_FPR_MAX],
	   size_t *fpr_len, int *json, int *help)
{
	const char *hex = NULL;

	*help = 0;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		dedup_usage(argc < 2 ? stderr : stdout);
		*help = 1;
		return argc < 2 ? EX_USAGE : 0;
	}
	if (strcmp(argv[1], "lookup") != 0) {
		log_stderr("dedup: unknown command \"%s\" (the one command is "
			   "\"lookup\"; see pksbridge dedup --help)", argv[1]);
		return EX_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
			*json = 1;
		} else if (strcmp(argv[i], "--help") == 0) {
			dedup_usage(stdout);
			*help = 1;
			return 0;
		} else if (!hex) {
			hex = argv[i];
		} else {
			log_stderr("dedup lookup: one FINGERPRINT at a time, not "
				   "\"%s\" too (see pksbridge dedup --help)", argv[i]);
			return EX_USAGE;
		}
	}
	if (!hex || pgp_fpr_from_hex(hex, fpr, fpr_len) != 0 ||
	    (*fpr_len != 20 && *fpr_len != 32)) {
		log_stderr("dedup lookup: give the key's fingerprint, 40 (v4) or "
			   "64 (v5/v6) hex digits, e.g. from \"queue list\" or "
			   "\"gpg --fingerprint\" (spaces removed)");
		return EX_USAGE;
	}
	return 0;
}

static void
info_json(struct buf *b, const struct dedup_key_info *info, int64_t ttl)
{
	int first = 1;

	buf_putc(b, '{');
	json_kv_str(b, "fingerprint", info->fpr_hex, &first);
	json_key(b, "known", &first);
	buf_puts(b, "true");
	json_kv_int(b, "first_seen", info->first_seen, &first);
	json_kv_int(b, "last_seen", info->last_seen, &first);
	json_kv_time(b, "last_seen_pks", info->last_pks, &first);
	json_kv_time(b, "last_seen_local", info->last_local, &first);
	json_kv_int(b, "ttl_seconds", ttl, &first);
	json_key(b, "packets", &first);
	buf_putc(b, '[');
	for (size_t i = 0; i < info->npackets; i++) {
		char dh[2 * PGP_DIGEST_LEN + 1];
		int pf = 1;

		pgp_hex(info->packets[i].digest, PGP_DIGEST_LEN, dh);
		if (i)
			buf_putc(b, ',');
		buf_putc(b, '{');
		json_kv_str(b, "digest", dh, &pf);
		json_kv_int(b, "first_seen", info->packets[i].first_seen, &pf);
		json_kv_time(b, "seen_pks", info->packets[i].seen_pks, &pf);
		json_kv_time(b, "seen_local", info->packets[i].seen_local, &pf);
		buf_putc(b, '}');
	}
	buf_puts(b, "]}\n");
}

static void
info_human(struct buf *b, const struct dedup_key_info *info)
{
	char t[32];

	buf_printf(b, "fingerprint:     %s\n", info->fpr_hex);
	buf_printf(b, "first seen:      %s\n",
		   clock_format(info->first_seen, t, sizeof t));
	buf_printf(b, "last seen:       %s\n",
		   clock_format(info->last_seen, t, sizeof t));
	buf_printf(b, "last from PKS:   %s\n",
		   clock_format(info->last_pks, t, sizeof t));
	buf_printf(b, "last from local: %s\n",
		   clock_format(info->last_local, t, sizeof t));
	buf_printf(b, "packets:         %zu\n", info->npackets);
	for (size_t i = 0; i < info->npackets; i++) {
		char dh[2 * PGP_DIGEST_LEN + 1];

		pgp_hex(info->packets[i].digest, PGP_DIGEST_LEN, dh);
		buf_printf(b, "  %s %s%s\n", dh,
			   info->packets[i].seen_pks ? "pks " : "",
			   info->packets[i].seen_local ? "local" : "");
	}
}

/* lookup - what the index knows about fpr, printed. */
static int
lookup(const struct config *cfg, const unsigned char *fpr, size_t fpr_len,
       int json)
{
	struct dedup_key_info info;
	struct spool *sp;
	struct pb_err err;
	struct buf b = BUF_INIT;
	int rc;

	if (spool_open(cfg->spool_dir, &sp, &err) != 0) {
		log_stderr("%s", err.msg);
		return exitcode_for(err.status);
	}
	if (dedup_lookup(sp, NULL, fpr, fpr_len, &info, &err) != 0) {
		rc = exitcode_for(err.status);
		if (json && err.status == PB_ENOTFOUND) {
			char fh[2 * PGP_FPR_MAX + 1];

			pgp_hex(fpr, fpr_len, fh);
			buf_printf(&b, "{\"fingerprint\":\"%s\",\"known\":false}\n",
				   fh);
			if (cmd_print(&b) != 0)
				rc = EX_IOERR;
		} else {
			log_stderr("%s", err.msg);
		}
		buf_free(&b);
		spool_close(sp);
		return rc;
	}
	if (json)
		info_json(&b, &info, cfg->dedup_ttl);
	else
		info_human(&b, &info);
	rc = cmd_print(&b);
	buf_free(&b);
	dedup_key_info_free(&info);
	spool_close(sp);
	return rc;
}

int
cmd_dedup(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct config cfg;
	struct pb_err err;
	unsigned char fpr[PGP_FPR_MAX];
	size_t fpr_len = 0;
	int json = 0, help, rc;

	log_open("dedup", LOG_DEST_STDERR, 0);
	if ((rc = parse_args(argc, argv, fpr, &fpr_len, &json, &help)) != 0 ||
	    help)
		return rc;
	if (cmd_load_config(ctx, &cfg, &err) != 0) {
		log_stderr("%s", err.msg);
		config_free(&cfg);
		return EX_CONFIG;
	}
	rc = lookup(&cfg, fpr, fpr_len, json);
	config_free(&cfg);
	return rc;
}
