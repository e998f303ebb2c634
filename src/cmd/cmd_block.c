/*
 * cmd_block.c - "pksbridge block add|remove|list": the operator's
 * blocklist, kept in the spool (spool/blocks.h) beside blocklist_file.
 * A blocked key goes nowhere but its revocations, from the next delivery
 * frame on (bridge/gate.h reads the list at each one).  Each change is
 * one transaction, synced, and one log line with the reason.
 */
#include "cmd/commands.h"
#include "openpgp/pgp.h"
#include "spool/blocks.h"
#include "spool/spool.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static void
block_usage(FILE *f)
{
	fprintf(f,
		"usage: pksbridge [-c FILE] block add FPR... [--reason TEXT]\n"
		"       pksbridge [-c FILE] block remove FPR...\n"
		"       pksbridge [-c FILE] block list [--json]\n"
		"\n"
		"The operator's blocklist, kept in the spool beside blocklist_file:\n"
		"a key whose primary key or subkey fingerprint is on it goes nowhere\n"
		"(not to the key database, not to a PKS peer, never in a reply), but\n"
		"its revocations still do; its entries are recorded \"blocked\".\n"
		"\n"
		"  FPR            40 (v4) or 64 (v5/v6) hex digits, spaces allowed\n"
		"                 as one argument, as gpg prints them\n"
		"  --reason TEXT  why (logged and listed; at most 512 bytes)\n"
		"  --json, -j     list as JSON Lines (docs/JSON.md)\n"
		"\n"
		"remove exits 65 if a fingerprint was not on the list.\n");
}

/* fpr_arg - FPR as gpg prints it (blanks inside) into fpr; -1 if it is
 * not 40 or 64 hex digits. */
static int
fpr_arg(const char *arg, unsigned char fpr[PGP_FPR_MAX], size_t *len)
{
	char hex[2 * PGP_FPR_MAX + 3];
	size_t n = 0;

	if (strncmp(arg, "0x", 2) == 0 || strncmp(arg, "0X", 2) == 0)
		arg += 2;
	for (; *arg; arg++) {
		if (*arg == ' ' || *arg == '\t')
			continue;
		if (n + 1 >= sizeof hex)
			return -1;
		hex[n++] = *arg;
	}
	hex[n] = '\0';
	if (pgp_fpr_from_hex(hex, fpr, len) != 0 || (*len != 20 && *len != 32))
		return -1;
	return 0;
}

struct change {
	int add;
	const unsigned char *fpr;
	size_t fpr_len;
	const char *reason;
	int r;		/* blocks_add/remove's answer */
};

static int
change_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct change *c = vctx;

	c->r = c->add ? blocks_add(sp, txn, c->fpr, c->fpr_len, c->reason,
				   spool_now(), err)
		      : blocks_remove(sp, txn, c->fpr, c->fpr_len, err);
	return c->r < 0 ? -1 : 0;
}

/* change_all - add or remove every FPR of args: each its own synced
 * transaction, so a failure leaves the ones before it done. */
static int
change_all(struct spool *sp, int add, char **fprs, size_t n,
	   const char *reason)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char fpr[PGP_FPR_MAX];
		char hex[2 * PGP_FPR_MAX + 1];
		struct change c = { add, fpr, 0, reason, 0 };
		struct pb_err err;

		if (fpr_arg(fprs[i], fpr, &c.fpr_len) != 0)
			continue;	/* checked before the spool was opened */
		pgp_hex(fpr, c.fpr_len, hex);
		if (spool_txn(sp, SPOOL_SYNC, change_fn, &c, &err) != 0) {
			log_stderr("%s: %s", hex, err.msg);
			if (rc == 0)
				rc = exitcode_for(err.status);
			continue;
		}
		if (c.r == 1) {
			log_stderr("%s: %s", hex, add ? "already blocked (its first "
				   "reason stays)" : "not on the blocklist");
			if (!add && rc == 0)
				rc = EX_DATAERR;
			continue;
		}
		log_notice(NULL, "action=%s, operator=%s, fingerprint=%s%s%s%s",
			   add ? "block" : "unblock", cmd_operator_name(), hex,
			   reason ? ", reason=\"" : "", reason ? reason : "",
			   reason ? "\"" : "");
	}
	return rc;
}

static int
list(struct spool *sp, int json)
{
	struct blocks_entry *l;
	struct buf b = BUF_INIT;
	struct pb_err err;
	size_t n;
	int rc;

	if (blocks_list(sp, NULL, &l, &n, &err) != 0) {
		log_stderr("%s", err.msg);
		return exitcode_for(err.status);
	}
	for (size_t i = 0; i < n; i++) {
		char hex[2 * PGP_FPR_MAX + 1], t[32];
		int first = 1;

		pgp_hex(l[i].fpr, l[i].fpr_len, hex);
		if (json) {
			buf_putc(&b, '{');
			json_kv_str(&b, "fingerprint", hex, &first);
			json_kv_int(&b, "added", l[i].added, &first);
			json_kv_str(&b, "reason", l[i].reason, &first);
			buf_puts(&b, "}\n");
		} else {
			buf_printf(&b, "%s  %s  %s\n", hex,
				   clock_format(l[i].added, t, sizeof t),
				   l[i].reason);
		}
	}
	if (!json)
		buf_printf(&b, "-- %zu blocked fingerprint%s.\n", n,
			   n == 1 ? "" : "s");
	rc = cmd_print(&b);
	buf_free(&b);
	free(l);
	return rc;
}

int
cmd_block(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct config cfg;
	struct spool *sp;
	struct pb_err err;
	const char *reason = NULL;
	char **fprs = NULL;
	size_t nfprs = 0;
	int json = 0, add, rc;

	log_open("block", LOG_DEST_STDERR, 0);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		block_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE : 0;
	}
	if (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "remove") != 0 &&
	    strcmp(argv[1], "list") != 0) {
		log_stderr("block: unknown command \"%s\" (one of add, remove, "
			   "list; see pksbridge block --help)", argv[1]);
		return EX_USAGE;
	}
	add = strcmp(argv[1], "add") == 0;
	fprs = xcalloc((size_t)argc, sizeof *fprs);
	for (int i = 2; i < argc; i++) {
		unsigned char fpr[PGP_FPR_MAX];
		size_t fl;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			block_usage(stdout);
			free(fprs);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--reason") == 0 && add) {
			if (++i >= argc) {
				log_stderr("block add: --reason wants a text");
				free(fprs);
				return EX_USAGE;
			}
			reason = argv[i];
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			log_stderr("block %s: unknown option \"%s\" (see pksbridge "
				   "block --help)", argv[1], argv[i]);
			free(fprs);
			return EX_USAGE;
		} else if (fpr_arg(argv[i], fpr, &fl) != 0) {
			log_stderr("block %s: \"%s\" is not a fingerprint (40 or 64 "
				   "hex digits; key IDs are refused: keys collide "
				   "on them)", argv[1], argv[i]);
			free(fprs);
			return EX_USAGE;
		} else {
			fprs[nfprs++] = argv[i];
		}
	}
	if ((strcmp(argv[1], "list") == 0) != (nfprs == 0) ||
	    (json && strcmp(argv[1], "list") != 0)) {
		log_stderr("block %s: %s (see pksbridge block --help)", argv[1],
			   strcmp(argv[1], "list") == 0 ? "takes no fingerprint" :
			   nfprs == 0 ? "give at least one fingerprint" :
			   "--json is for list");
		free(fprs);
		return EX_USAGE;
	}
	if (reason && strlen(reason) > BLOCKS_REASON_MAX) {
		log_stderr("block add: --reason is over %d bytes", BLOCKS_REASON_MAX);
		free(fprs);
		return EX_USAGE;
	}
	if (cmd_load_config(ctx, &cfg, &err) != 0) {
		log_stderr("%s", err.msg);
		config_free(&cfg);
		free(fprs);
		return EX_CONFIG;
	}
	log_set_dest(cfg.log_dest | LOG_DEST_STDERR);
	if (spool_open(cfg.spool_dir, &sp, &err) != 0) {
		log_stderr("%s", err.msg);
		config_free(&cfg);
		free(fprs);
		return exitcode_for(err.status);
	}
	if (nfprs)
		rc = change_all(sp, add, fprs, nfprs, reason);
	else
		rc = list(sp, json);
	spool_close(sp);
	config_free(&cfg);
	free(fprs);
	return rc;
}
