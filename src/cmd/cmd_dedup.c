/*
 * cmd_dedup.c - "pksbridge dedup lookup FINGERPRINT": what the dedup
 * index knows about a key.
 */
#include "cmd/commands.h"
#include "util/clock.h"
#include "spool/dedup.h"
#include "util/json.h"
#include "util/log.h"
#include "openpgp/pgp.h"
#include "spool/spool.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

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

int
cmd_dedup(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct config cfg;
	struct spool *sp;
	struct pb_err err;
	struct dedup_key_info info;
	unsigned char fpr[PGP_FPR_MAX];
	size_t fpr_len;
	const char *hex = NULL;
	struct buf b = BUF_INIT;
	int json = 0;

	log_open("dedup", LOG_DEST_STDERR, 0);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		dedup_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE : 0;
	}
	if (strcmp(argv[1], "lookup") != 0) {
		log_stderr("dedup: unknown command \"%s\" (the one command is "
			   "\"lookup\"; see pksbridge dedup --help)", argv[1]);
		return EX_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			json = 1;
		else if (strcmp(argv[i], "--help") == 0) {
			dedup_usage(stdout);
			return 0;
		} else if (!hex) {
			hex = argv[i];
		} else {
			log_stderr("dedup lookup: one FINGERPRINT at a time, not "
				   "\"%s\" too (see pksbridge dedup --help)", argv[i]);
			return EX_USAGE;
		}
	}
	if (!hex || pgp_fpr_from_hex(hex, fpr, &fpr_len) != 0 ||
	    (fpr_len != 20 && fpr_len != 32)) {
		log_stderr("dedup lookup: give the key's fingerprint, 40 (v4) or "
			   "64 (v5/v6) hex digits, e.g. from \"queue list\" or "
			   "\"gpg --fingerprint\" (spaces removed)");
		return EX_USAGE;
	}
	if (cmd_load_config(ctx, &cfg, &err) != 0) {
		log_stderr("%s", err.msg);
		config_free(&cfg);
		return EX_CONFIG;
	}
	if (spool_open(cfg.spool_dir, &sp, &err) != 0) {
		log_stderr("%s", err.msg);
		config_free(&cfg);
		return exitcode_for(err.status);
	}
	if (dedup_lookup(sp, NULL, fpr, fpr_len, &info, &err) != 0) {
		int rc = exitcode_for(err.status);

		if (json && err.status == PB_ENOTFOUND) {
			char fh[2 * PGP_FPR_MAX + 1];

			pgp_hex(fpr, fpr_len, fh);
			printf("{\"fingerprint\":\"%s\",\"known\":false}\n", fh);
		} else {
			log_stderr("%s", err.msg);
		}
		spool_close(sp);
		config_free(&cfg);
		return rc;
	}
	if (json) {
		int first = 1;

		buf_putc(&b, '{');
		json_kv_str(&b, "fingerprint", info.fpr_hex, &first);
		json_key(&b, "known", &first);
		buf_puts(&b, "true");
		json_kv_int(&b, "first_seen", info.first_seen, &first);
		json_kv_int(&b, "last_seen", info.last_seen, &first);
		json_kv_time(&b, "last_seen_pks", info.last_pks, &first);
		json_kv_time(&b, "last_seen_local", info.last_local, &first);
		json_kv_int(&b, "ttl_seconds", cfg.dedup_ttl, &first);
		json_key(&b, "packets", &first);
		buf_putc(&b, '[');
		for (size_t i = 0; i < info.npackets; i++) {
			char dh[2 * PGP_DIGEST_LEN + 1];
			int pf = 1;

			pgp_hex(info.packets[i].digest, PGP_DIGEST_LEN, dh);
			if (i)
				buf_putc(&b, ',');
			buf_putc(&b, '{');
			json_kv_str(&b, "digest", dh, &pf);
			json_kv_int(&b, "first_seen", info.packets[i].first_seen, &pf);
			json_kv_time(&b, "seen_pks", info.packets[i].seen_pks, &pf);
			json_kv_time(&b, "seen_local", info.packets[i].seen_local, &pf);
			buf_putc(&b, '}');
		}
		buf_puts(&b, "]}\n");
	} else {
		char t[4][32];

		clock_format(info.first_seen, t[0], sizeof t[0]);
		clock_format(info.last_seen, t[1], sizeof t[1]);
		clock_format(info.last_pks, t[2], sizeof t[2]);
		clock_format(info.last_local, t[3], sizeof t[3]);
		buf_printf(&b, "fingerprint:     %s\n", info.fpr_hex);
		buf_printf(&b, "first seen:      %s\n", t[0]);
		buf_printf(&b, "last seen:       %s\n", t[1]);
		buf_printf(&b, "last from PKS:   %s\n", t[2]);
		buf_printf(&b, "last from local: %s\n", t[3]);
		buf_printf(&b, "packets:         %zu\n", info.npackets);
		for (size_t i = 0; i < info.npackets; i++) {
			char dh[2 * PGP_DIGEST_LEN + 1];

			pgp_hex(info.packets[i].digest, PGP_DIGEST_LEN, dh);
			buf_printf(&b, "  %s %s%s\n", dh,
				   info.packets[i].seen_pks ? "pks " : "",
				   info.packets[i].seen_local ? "local" : "");
		}
	}
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
	dedup_key_info_free(&info);
	spool_close(sp);
	config_free(&cfg);
	return 0;
}
