/*
 * cmd_policy.c - "pksbridge policy check|filter [FILE|-]": the key policy
 * (openpgp/policy.h) on the keys of a file or of standard input, with the
 * configuration's settings and blocklist_file, queueing nothing.
 *
 * check is the operator's dry run: per key, the verdict and what was
 * dropped, by reason (a table, or JSON Lines with --json).  filter
 * writes what the policy keeps, armored, to standard output: a way to
 * clean a keydump before it reaches a key database.  The input is keys
 * (binary, as a keydump or `gpg --export` writes them, or armored) or a
 * whole mail (MIME parsed as ingest parses it, mail/extract.h).
 * --stored FILE judges each key as a delta against the key of the same
 * fingerprint in FILE, as the bridge does with the key database's copy.
 */
#include "cmd/commands.h"
#include "config/blocklist.h"
#include "mail/extract.h"
#include "openpgp/armor.h"
#include "openpgp/pgp.h"
#include "openpgp/policy.h"
#include "util/json.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#define INPUT_MAX (1024ul << 20)	/* a larger input is refused */

static void
policy_usage(FILE *f)
{
	fprintf(f,
		"usage: pksbridge [-c FILE] policy check [FILE|-] [--json] [--stored FILE]\n"
		"       pksbridge [-c FILE] policy filter [FILE|-] [--stored FILE]\n"
		"\n"
		"Run the key policy (third_party_certs, max_certs_per_uid,\n"
		"max_uid_size, max_sig_size, user_attributes, max_key_size,\n"
		"blocklist_file; see pksbridge.conf(5)) on keys, without queueing\n"
		"anything.  The input (default: standard input) is keys, binary or\n"
		"armored, or a whole mail.\n"
		"\n"
		"  check          per key: the verdict (kept, unjudged, blocked,\n"
		"                 empty, too_large) and the packets dropped, by reason\n"
		"  filter         the kept keys, as one armored block, on standard\n"
		"                 output; counts on standard error\n"
		"  --json, -j     check: JSON Lines, one object per key (docs/JSON.md)\n"
		"  --stored FILE  judge each key as a PKS delta against the key of the\n"
		"                 same fingerprint in FILE (the key database's copy)\n"
		"\n"
		"Exit status: 0, 65 if the input holds no key, 66 if FILE cannot be\n"
		"read, 78 for a configuration error.\n");
}

/* What each reason means, for people (the JSON has only the names). */
static const char *const reason_text[POLICY_NREASONS] = {
	[POLICY_R_SECRET] = "secret key material",
	[POLICY_R_BLOCKED] = "the key is on the blocklist",
	[POLICY_R_HARD_REVOKED] = "the key is hard-revoked (HIP-5)",
	[POLICY_R_UNBOUND] = "no valid binding self-signature",
	[POLICY_R_BAD_SIG] = "the key's own signature does not verify",
	[POLICY_R_FUTURE] = "dated more than a day ahead",
	[POLICY_R_SUPERSEDED] = "older than the newest valid self-signature",
	[POLICY_R_THIRD_PARTY] = "not let through by third_party_certs",
	[POLICY_R_CAP] = "over max_certs_per_uid",
	[POLICY_R_UID_SIZE] = "user ID over max_uid_size",
	[POLICY_R_SIG_SIZE] = "signature over max_sig_size",
	[POLICY_R_USER_ATTRIBUTE] = "user attribute (photo ID)",
	[POLICY_R_DUPLICATE] = "repeated packet",
	[POLICY_R_MISPLACED] = "signature where it does not belong",
	[POLICY_R_MALFORMED] = "signature that does not parse",
	[POLICY_R_PACKET_TYPE] = "packet of another type (trust, marker, ...)",
	[POLICY_R_OVER_BUDGET] = "left unverified: verification budget used up",
};

/* read_all - the whole of path ("-": standard input) into b. */
static int
read_all(const char *path, struct buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	unsigned char chunk[65536];
	size_t n;

	if (!f) {
		log_stderr("%s: %s", path, strerror(errno));
		return EX_NOINPUT;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b->len + n > INPUT_MAX) {
			log_stderr("%s: larger than %lu bytes", path,
				   INPUT_MAX);
			if (f != stdin)
				fclose(f);
			return EX_DATAERR;
		}
		buf_append(b, chunk, n);
	}
	if (ferror(f)) {
		log_stderr("%s: read error: %s", path, strerror(errno));
		if (f != stdin)
			fclose(f);
		return EX_IOERR;
	}
	if (f != stdin)
		fclose(f);
	return 0;
}

/* The keys of one input, found the way the input calls for. */
struct inkeys {
	int binary;
	struct pgp_keylist list;	/* binary input: keys own their data */
	struct extract x;		/* text input: keys in x.payload */
	size_t n;
};

static int
raw_block(void *ctx, const struct armor_block *blk)
{
	static const struct pgp_limits nolimit = { SIZE_MAX, SIZE_MAX };

	if (blk->ok && blk->kind == ARMOR_PUBLIC_KEY)
		pgp_split_keys(blk->data, blk->len, &nolimit, ctx);
	return 0;
}

/* collect - the keys of data: a binary keyring as it is; text as a mail
 * (extract), or, where that finds no key block (a bare armored file has
 * no headers), every armor block of the raw text.  Nothing is cut at
 * max_key_size here: the policy applies it after trimming. */
static void
collect(const struct config *cfg, const struct buf *data, struct inkeys *in)
{
	static const struct pgp_limits nolimit = { SIZE_MAX, SIZE_MAX };
	struct config c = *cfg;	/* read only by extract_body */

	memset(in, 0, sizeof *in);
	if (data->len > 0 && (data->data[0] & 0x80)) {
		in->binary = 1;
		pgp_split_keys(data->data, data->len, &nolimit, &in->list);
		in->n = in->list.nkeys;
		return;
	}
	c.max_key_size = UINT64_MAX;
	c.max_keys_per_message = UINT64_MAX;
	c.max_message_size = data->len + 1;
	extract_headers(&in->x, (const char *)data->data, data->len);
	extract_body(&in->x, &c, (const char *)data->data, data->len, data->len);
	if (in->x.npub_blocks > 0) {
		in->n = in->x.keys.nkeys;
		return;
	}
	extract_free(&in->x);
	memset(&in->x, 0, sizeof in->x);
	in->binary = 1;
	armor_scan((const char *)data->data, data->len, data->len + 1,
		   raw_block, &in->list);
	in->n = in->list.nkeys;
}

static void
key_at(const struct inkeys *in, size_t i, const struct pgp_key **k,
       const unsigned char **d, size_t *len)
{
	if (in->binary) {
		*k = &in->list.keys[i];
		*d = (*k)->data;
		*len = (*k)->len;
	} else {
		*k = &in->x.keys.keys[i];
		*d = in->x.payload.data + in->x.key_off[i] + 4;
		*len = in->x.key_off[i + 1] - in->x.key_off[i] - 4;
	}
}

/* problems - what could not be used, one line each. */
static void
problems(const struct inkeys *in, struct buf *out, int json)
{
	const struct pgp_keylist *l = in->binary ? &in->list : &in->x.keys;

	if (!in->binary && in->x.reasons.len) {
		if (json) {
			buf_puts(out, "{\"problem\":");
			json_str(out, buf_str(&in->x.reasons));
			buf_puts(out, "}\n");
		} else {
			buf_printf(out, "problem: %s\n", buf_str(&in->x.reasons));
		}
		return;
	}
	for (size_t i = 0; i < l->nproblems; i++) {
		const struct pgp_problem *p = &l->problems[i];

		if (json) {
			int first = 1;

			buf_putc(out, '{');
			json_kv_str(out, "fingerprint", p->fpr_hex[0] ?
				    p->fpr_hex : NULL, &first);
			json_kv_str(out, "problem", p->reason, &first);
			buf_puts(out, "}\n");
		} else {
			buf_printf(out, "problem: %s%s%s\n", p->fpr_hex,
				   p->fpr_hex[0] ? ": " : "", p->reason);
		}
	}
}

static void
inkeys_free(struct inkeys *in)
{
	pgp_keylist_free(&in->list);
	if (!in->binary)
		extract_free(&in->x);
}

/* stored_for - the key of k's fingerprint among the stored ones. */
static int
stored_for(const struct inkeys *st, const struct pgp_key *k,
	   const unsigned char **d, size_t *len)
{
	for (size_t i = 0; st && i < st->n; i++) {
		const struct pgp_key *s;

		key_at(st, i, &s, d, len);
		if (s->fpr_len == k->fpr_len &&
		    memcmp(s->fpr, k->fpr, k->fpr_len) == 0)
			return 1;
	}
	return 0;
}

static void
report_human(struct buf *b, const struct pgp_key *k, size_t in_len,
	     const struct policy_result *r, enum policy_third_party tp)
{
	size_t dropped = 0;

	buf_printf(b, "%s  %s\n", k->fpr_hex, k->uid ? k->uid : "(no user ID)");
	buf_printf(b, "  verdict: %s", policy_verdict_name(r->verdict));
	if (r->why[0])
		buf_printf(b, " (%s)", r->why);
	buf_printf(b, "\n  size: %zu -> %zu bytes\n", in_len,
		   r->verdict == POLICY_TOO_LARGE ? 0 : r->kept_size);
	buf_printf(b, "  packets: %zu kept", r->kept_packets);
	if (r->stored_packets)
		buf_printf(b, ", %zu already stored", r->stored_packets);
	for (int i = 0; i < POLICY_NREASONS; i++)
		dropped += r->dropped[i];
	buf_printf(b, ", %zu dropped\n", dropped);
	for (int i = 0; i < POLICY_NREASONS; i++) {
		if (!r->dropped[i])
			continue;
		buf_printf(b, "    %-15s %7zu  %s", policy_reason_name(
				   (enum policy_reason)i), r->dropped[i],
			   reason_text[i]);
		if (i == POLICY_R_THIRD_PARTY)
			buf_printf(b, " (%s)", policy_third_party_name(tp));
		buf_putc(b, '\n');
	}
	buf_printf(b, "  policy=");
	policy_result_log(r, b);
	buf_putc(b, '\n');
}

static void
report_json(struct buf *b, const struct pgp_key *k, size_t in_len,
	    const struct policy_result *r)
{
	int first = 1;

	buf_putc(b, '{');
	json_kv_str(b, "fingerprint", k->fpr_hex, &first);
	json_kv_str(b, "uid", k->uid, &first);
	json_kv_int(b, "size", (int64_t)in_len, &first);
	json_kv_int(b, "kept_size", (int64_t)r->kept_size, &first);
	json_key(b, "policy", &first);
	policy_result_json(r, b);
	buf_puts(b, "}\n");
}

static int
out_stdout(void *ctx, const char *text, size_t len)
{
	(void)ctx;
	return fwrite(text, 1, len, stdout) == len ? 0 : -1;
}

/* What one run of check or filter works with. */
struct run {
	int filter, json;
	const char *input, *stored_path;
	struct policy pol;
	struct blocklist bl;
};

static int
run(const struct config *cfg, struct run *rn)
{
	struct buf data = BUF_INIT, sdata = BUF_INIT, out = BUF_INIT;
	struct inkeys in, st;
	struct armor_writer w;
	size_t verdicts[POLICY_TOO_LARGE + 1] = { 0 }, written = 0;
	int rc, have_stored = 0;

	if ((rc = read_all(rn->input, &data)) != 0)
		return rc;
	if (rn->stored_path) {
		if ((rc = read_all(rn->stored_path, &sdata)) != 0) {
			buf_free(&data);
			return rc;
		}
		collect(cfg, &sdata, &st);
		have_stored = 1;
	}
	collect(cfg, &data, &in);
	if (rn->filter)
		armor_writer_begin(&w, out_stdout, NULL);
	problems(&in, &out, rn->json);
	for (size_t i = 0; i < in.n && rc == 0; i++) {
		const struct pgp_key *k;
		const unsigned char *d, *sd = NULL;
		size_t len, slen = 0;
		struct policy_result r;
		struct pb_err err;

		key_at(&in, i, &k, &d, &len);
		if (have_stored && !stored_for(&st, k, &sd, &slen))
			sd = NULL;
		if (policy_judge(&rn->pol, d, len, sd, slen, &r, &err) != 0) {
			buf_printf(&out, rn->json ? "{\"fingerprint\":\"%s\","
				   "\"problem\":" : "problem: %s: ", k->fpr_hex);
			if (rn->json) {
				json_str(&out, err.msg);
				buf_puts(&out, "}\n");
			} else {
				buf_printf(&out, "%s\n", err.msg);
			}
			policy_result_free(&r);
			continue;
		}
		verdicts[r.verdict]++;
		if (rn->filter) {
			if (r.kept.len) {
				armor_writer_add(&w, r.kept.data, r.kept.len);
				written++;
			}
		} else if (rn->json) {
			report_json(&out, k, len, &r);
		} else {
			report_human(&out, k, len, &r, rn->pol.set.third_party);
		}
		policy_result_free(&r);
		/* Flush as we go: a keydump's report is long. */
		if (!rn->filter && out.len > 65536) {
			if (cmd_out_write(&out) != 0)
				rc = cmd_out_error(errno);
			buf_reset(&out);
		}
	}
	if (rn->filter) {
		if (written && armor_writer_end(&w) != 0)
			rc = cmd_out_error(errno);
		if (rc == 0)
			rc = cmd_out_finish();
		/* Counts on standard error, as postsuper reports. */
		fputs((const char *)buf_str(&out), stderr);
		fprintf(stderr, "policy filter: %zu keys in, %zu out (%zu kept, "
			"%zu unjudged, %zu blocked, %zu empty, %zu too large)\n",
			in.n, written, verdicts[POLICY_KEPT],
			verdicts[POLICY_UNJUDGED], verdicts[POLICY_BLOCKED],
			verdicts[POLICY_EMPTY], verdicts[POLICY_TOO_LARGE]);
	} else if (rc == 0) {
		if (!rn->json)
			buf_printf(&out, "%zu keys: %zu kept, %zu unjudged, %zu "
				   "blocked, %zu empty, %zu too large\n", in.n,
				   verdicts[POLICY_KEPT], verdicts[POLICY_UNJUDGED],
				   verdicts[POLICY_BLOCKED], verdicts[POLICY_EMPTY],
				   verdicts[POLICY_TOO_LARGE]);
		rc = cmd_print(&out);
	}
	if (rc == 0 && in.n == 0) {
		log_stderr("%s: no key found", rn->input);
		rc = EX_DATAERR;
	}
	inkeys_free(&in);
	if (have_stored)
		inkeys_free(&st);
	buf_free(&data);
	buf_free(&sdata);
	buf_free(&out);
	return rc;
}

/* parse_args - argv after "policy"; 0, or the exit code after saying
 * what is wrong (or printing the help, *help set). */
static int
parse_args(int argc, char **argv, struct run *rn, int *help)
{
	*help = 0;
	rn->input = NULL;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		policy_usage(argc < 2 ? stderr : stdout);
		*help = 1;
		return argc < 2 ? EX_USAGE : 0;
	}
	if (strcmp(argv[1], "check") == 0) {
		rn->filter = 0;
	} else if (strcmp(argv[1], "filter") == 0) {
		rn->filter = 1;
	} else {
		log_stderr("unknown command \"%s\" (check or filter; see "
			   "pksbridge policy --help)", argv[1]);
		return EX_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			policy_usage(stdout);
			*help = 1;
			return 0;
		} else if (!rn->filter && (strcmp(argv[i], "--json") == 0 ||
					   strcmp(argv[i], "-j") == 0)) {
			rn->json = 1;
		} else if (strcmp(argv[i], "--stored") == 0 && i + 1 < argc) {
			rn->stored_path = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			log_stderr("%s: unknown option %s (see pksbridge "
				   "policy --help)", argv[1], argv[i]);
			return EX_USAGE;
		} else if (!rn->input) {
			rn->input = argv[i];
		} else {
			log_stderr("%s: one input at a time", argv[1]);
			return EX_USAGE;
		}
	}
	if (!rn->input)
		rn->input = "-";
	return 0;
}

int
cmd_policy(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct config cfg;
	struct pb_err err;
	struct run rn;
	int help, rc;

	log_open("policy", LOG_DEST_STDERR, 0);
	memset(&rn, 0, sizeof rn);
	if ((rc = parse_args(argc, argv, &rn, &help)) != 0 || help)
		return rc;
	if (cmd_load_config(ctx, &cfg, &err) != 0) {
		log_stderr("%s", err.msg);
		config_free(&cfg);
		return EX_CONFIG;
	}
	config_policy_settings(&cfg, &rn.pol.set);
	if (cfg.blocklist_file) {
		if (blocklist_load(cfg.blocklist_file, &rn.bl, &err) != 0) {
			log_stderr("%s", err.msg);
			config_free(&cfg);
			return EX_CONFIG;
		}
		rn.pol.blocked = blocklist_policy_fn;
		rn.pol.blocked_ctx = &rn.bl;
	}
	/* A reader going away ends the output quietly (EPIPE). */
	signal(SIGPIPE, SIG_IGN);
	rc = run(&cfg, &rn);
	blocklist_free(&rn.bl);
	config_free(&cfg);
	return rc;
}
