/*
 * answer.c - what the reply to a mail command says (see answer.h): the
 * one place that writes its words, the ADD's report included, from the
 * facts ingest and delivery recorded (mailreq.h).
 */
#include "bridge/answer.h"
#include "mail/replymail.h"
#include "spool/dedup.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HELP_POINTER "Send a mail with the Subject HELP to this address " \
	"for the list of\ncommands.\n"

void
answer_free(struct answer *a)
{
	buf_free(&a->text);
	pgp_keylist_free(&a->keys);
}

void
answer_help_path(const struct config *cfg, const char *lang, char *out,
		 size_t len)
{
	const char *conf = cfg->path ? cfg->path : CONFIG_DEFAULT_PATH;
	const char *slash = strrchr(conf, '/');
	int dirlen = slash ? (int)(slash - conf) : 1;

	if (!slash)
		conf = ".";
	if (lang && *lang)
		snprintf(out, len, "%.*s/pksbridge-help.%s.txt", dirlen, conf, lang);
	else
		snprintf(out, len, "%.*s/pksbridge-help.txt", dirlen, conf);
}

/* read_help - the file at path (at most ANSWER_HELP_MAX bytes, else
 * not used) appended to out; 0 if it was. */
static int
read_help(const char *path, struct buf *out)
{
	struct buf b = BUF_INIT;
	char chunk[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -1;
	while ((n = read(fd, chunk, sizeof chunk)) > 0 &&
	       b.len + (size_t)n <= ANSWER_HELP_MAX)
		buf_append(&b, chunk, (size_t)n);
	close(fd);
	if (n != 0 || b.len == 0) {
		buf_free(&b);
		return -1;
	}
	buf_append(out, b.data, b.len);
	buf_free(&b);
	return 0;
}

static void
help(const struct config *cfg, const struct mailcmd *c, struct buf *t)
{
	char path[4096];

	if (c->lang[0]) {
		answer_help_path(cfg, c->lang, path, sizeof path);
		if (read_help(path, t) == 0)
			return;
	}
	answer_help_path(cfg, "", path, sizeof path);
	if (read_help(path, t) == 0)
		return;
	buf_puts(t, replymail_default_help());
}

static const char *
algo_name(unsigned a)
{
	switch (a) {
	case 1: case 2: case 3: return "rsa";
	case 16: case 20: return "elg";
	case 17: return "dsa";
	case 18: return "ecdh";
	case 19: return "ecdsa";
	case 22: return "eddsa";
	case 25: return "x25519";
	case 26: return "x448";
	case 27: return "ed25519";
	case 28: return "ed448";
	default: return "algo";
	}
}

static void
put_date(struct buf *t, int64_t when)
{
	time_t tt = (time_t)when;
	struct tm tm;

	if (when > 0 && gmtime_r(&tt, &tm))
		buf_printf(t, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
			   tm.tm_mday);
	else
		buf_puts(t, "?");
}

static void
put_fpr(struct buf *t, const char *hex)
{
	char f[96];

	replymail_format_fpr(hex, f, sizeof f);
	buf_puts(t, f);
}

/* narrower - the text for more matches than a reply carries. */
static void
narrower(struct buf *t, size_t n, const struct mailcmd *c, uint64_t max)
{
	buf_printf(t, "%zu keys match %s; this keyserver sends at most %llu "
		   "in one reply.\nPlease narrow the search: a longer key ID "
		   "(16 hex digits), the full\nfingerprint, or more words.\n", n,
		   c->search, (unsigned long long)max);
}

struct ask {
	const struct config *cfg;
	struct keydb *db;		/* opened when the row needs_db */
	const struct gate *gate;	/* the key policy; NULL: none */
	const char *qid;		/* the reply's entry, for log lines */
	struct spool *sp;
	const struct mailreq *mr;
	int64_t now;
	int timeout_ms;
};

/* lookup - the database's answer to c, with the key policy applied to
 * what it returns: keys trimmed (a blocked key, or one with nothing
 * valid left, is not in the answer at all), and the index of a blocked
 * key left out, so a reply never carries more than the policy passes.
 * *withheld_r (may be NULL) counts the keys so left out. */
static int
lookup(const struct ask *a, const struct mailcmd *c, enum keydb_want want,
       struct keydb_answer *ka, size_t *withheld_r, struct pb_err *err)
{
	struct keydb_query q;
	struct keydb *db = a->db;
	size_t n = 0, withheld = 0;

	q.kind = c->search_kind == MAILCMD_SEARCH_TEXT ? KEYDB_SEARCH_TEXT :
		 c->search_kind == MAILCMD_SEARCH_KEYID32 ||
		 c->search_kind == MAILCMD_SEARCH_KEYID64 ? KEYDB_SEARCH_KEYID :
		 KEYDB_SEARCH_FPR;
	q.search = c->search;
	q.want = want;
	q.max = (size_t)a->cfg->max_reply_keys;
	/* max_key_size applies to the trimmed key (the policy's
	 * too_large): a flooded copy in the database is fetched to be
	 * trimmed, up to the size a mail may have. */
	q.max_key_size = a->gate ? (size_t)a->cfg->max_message_size
				 : (size_t)a->cfg->max_key_size;
	if (db->lookup(db, &q, ka, a->timeout_ms, err) != 0) {
		/* Whatever the backend said, asking again later may work. */
		err->status = PB_ETEMP;
		return -1;
	}
	if (withheld_r)
		*withheld_r = 0;
	if (!a->gate)
		return 0;
	if (want == KEYDB_WANT_KEYS) {
		withheld = gate_trim_list(a->gate, GATE_REPLY, a->qid, &ka->keys);
		ka->nmatched -= withheld < ka->nmatched ? withheld : ka->nmatched;
		if (withheld_r)
			*withheld_r = withheld;
		return 0;
	}
	for (size_t i = 0; i < ka->nmatches; i++) {
		struct keydb_match *m = &ka->matches[i];
		unsigned char fpr[PGP_FPR_MAX];
		size_t flen;

		if (pgp_fpr_from_hex(m->fpr, fpr, &flen) != 0 ||
		    !a->gate->pol.blocked ||
		    !a->gate->pol.blocked(a->gate->pol.blocked_ctx, fpr, flen)) {
			ka->matches[n++] = *m;
			continue;
		}
		for (size_t u = 0; u < m->nuids; u++)
			free(m->uids[u]);
		free(m->uids);
		ka->nmatched--;
		withheld++;
	}
	ka->nmatches = n;
	if (withheld_r)
		*withheld_r = withheld;
	return 0;
}

/* refused - the texts of an answer that has no keys: unsupported, too
 * many, none, over max.  1 if one was written. */
static int
refused(const struct config *cfg, const struct mailcmd *c,
	const struct keydb_answer *ka, struct buf *t)
{
	if (ka->unsupported) {
		buf_printf(t, "The key database behind this keyserver cannot "
			   "answer that search:\n%s.\n", ka->why);
		return 1;
	}
	if (ka->too_many) {
		buf_printf(t, "More keys match %s than the key database will "
			   "list\n(%s).\nPlease narrow the search: a longer key "
			   "ID (16 hex digits), the full\nfingerprint, or more "
			   "words.\n", c->search, ka->why);
		return 1;
	}
	if (ka->nmatched == 0) {
		buf_printf(t, "No key matches %s.\n\nSearches work as the key "
			   "database's own search does them: a key ID\nor "
			   "fingerprint written 0x and hex digits, or words of a "
			   "user ID.\n", c->search);
		return 1;
	}
	if (ka->nmatched > cfg->max_reply_keys) {
		narrower(t, ka->nmatched, c, cfg->max_reply_keys);
		return 1;
	}
	return 0;
}

/* get - GET: the keys, each named by its full fingerprint. */
static int
get(const struct ask *q, const struct mailcmd *c, struct answer *a,
    struct pb_err *err)
{
	const struct config *cfg = q->cfg;
	struct keydb_answer ka;
	struct buf *t = &a->text;

	if (lookup(q, c, KEYDB_WANT_KEYS, &ka, NULL, err) != 0) {
		keydb_answer_free(&ka);
		return -1;
	}
	if (!refused(cfg, c, &ka, t)) {
		buf_printf(t, "%zu key%s match%s %s:\n\n", ka.keys.nkeys,
			   ka.keys.nkeys == 1 ? "" : "s",
			   ka.keys.nkeys == 1 ? "es" : "", c->search);
		for (size_t i = 0; i < ka.keys.nkeys; i++) {
			buf_puts(t, "  ");
			put_fpr(t, ka.keys.keys[i].fpr_hex);
			buf_printf(t, "\n      %s\n", ka.keys.keys[i].uid ?
				   ka.keys.keys[i].uid : "(no user ID)");
		}
		if (ka.keys.nkeys > 1 &&
		    (c->search_kind == MAILCMD_SEARCH_KEYID32 ||
		     c->search_kind == MAILCMD_SEARCH_KEYID64))
			buf_printf(t, "\nThese are %zu DIFFERENT keys sharing the "
				   "key ID %s: anyone can make\na key with a given "
				   "short key ID.  Check the full fingerprint with "
				   "the\nkey's owner before you trust a key.\n",
				   ka.keys.nkeys, c->search);
		buf_puts(t, "\nThe keys follow as one ASCII-armored block: "
			 "\"gpg --import\" of this\nwhole mail imports them.\n");
		a->keys = ka.keys;
		memset(&ka.keys, 0, sizeof ka.keys);
	}
	keydb_answer_free(&ka);
	return 0;
}

/* index - INDEX and VERBOSE INDEX: one block per key. */
static int
index_keys(const struct ask *q, const struct mailcmd *c, int verbose,
	   struct answer *a, struct pb_err *err)
{
	const struct config *cfg = q->cfg;
	struct keydb_answer ka;
	struct buf *t = &a->text;

	if (lookup(q, c, verbose ? KEYDB_WANT_VINDEX : KEYDB_WANT_INDEX, &ka,
		   NULL, err) != 0) {
		keydb_answer_free(&ka);
		return -1;
	}
	if (!refused(cfg, c, &ka, t)) {
		buf_printf(t, "%zu key%s match%s %s:\n", ka.nmatched,
			   ka.nmatched == 1 ? "" : "s",
			   ka.nmatched == 1 ? "es" : "", c->search);
		for (size_t i = 0; i < ka.nmatches; i++) {
			const struct keydb_match *m = &ka.matches[i];
			size_t fl = strlen(m->fpr);

			buf_printf(t, "\npub  %s%u/0x%s ", algo_name(m->algo),
				   m->bits, fl > 16 ? m->fpr + fl - 16 : m->fpr);
			put_date(t, m->created);
			if (m->expires) {
				buf_puts(t, " [expires ");
				put_date(t, m->expires);
				buf_puts(t, "]");
			}
			if (m->flags & KEYDB_REVOKED)
				buf_puts(t, " [revoked]");
			if (m->flags & KEYDB_EXPIRED)
				buf_puts(t, " [expired]");
			if (m->flags & KEYDB_DISABLED)
				buf_puts(t, " [disabled]");
			buf_puts(t, "\n     Fingerprint: ");
			put_fpr(t, m->fpr);
			buf_puts(t, "\n");
			for (size_t u = 0; u < m->nuids && (verbose || u == 0); u++)
				buf_printf(t, "uid  %s\n", m->uids[u]);
			if (!verbose && m->nuids > 1)
				buf_printf(t, "     (and %zu more user IDs: VERBOSE "
					   "INDEX lists them)\n", m->nuids - 1);
		}
		buf_puts(t, "\nGET with a key's fingerprint sends that key.\n");
	}
	keydb_answer_free(&ka);
	return 0;
}

/* last_window - LAST's window, as far back as the dedup index
 * remembers: its seconds, and *days_r its days; says so in t when that
 * is less than asked. */
static int64_t
last_window(const struct config *cfg, const struct mailcmd *c, int64_t *days_r,
	    struct buf *t)
{
	int64_t window = (int64_t)c->days * 86400;
	char d[32];

	*days_r = c->days;
	if (window <= cfg->dedup_ttl)
		return window;
	*days_r = cfg->dedup_ttl / 86400;
	buf_printf(t, "This keyserver remembers changes for %s (dedup_ttl), "
		   "so LAST %u is\nanswered for that time.\n\n",
		   config_format_duration(cfg->dedup_ttl, d, sizeof d), c->days);
	return cfg->dedup_ttl;
}

/* fetch_keys - the keys fprs[0..n) from the database, appended to
 * a->keys; *gone_r counts those it does not hold, *withheld_r those the
 * key policy keeps out of replies. */
static int
fetch_keys(const struct ask *q, const struct mailcmd *c,
	   char (*fprs)[2 * PGP_FPR_MAX + 1], size_t n, struct answer *a,
	   size_t *gone_r, size_t *withheld_r, struct pb_err *err)
{
	*gone_r = 0;
	*withheld_r = 0;
	for (size_t i = 0; i < n; i++) {
		struct mailcmd one = *c;
		struct keydb_answer ka;
		size_t withheld;

		snprintf(one.search, sizeof one.search, "0x%s", fprs[i]);
		one.search_kind = strlen(fprs[i]) == 64 ? MAILCMD_SEARCH_FPR_V5
							: MAILCMD_SEARCH_FPR_V4;
		if (lookup(q, &one, KEYDB_WANT_KEYS, &ka, &withheld, err) != 0) {
			keydb_answer_free(&ka);
			return -1;
		}
		*withheld_r += withheld;
		for (size_t k = 0; k < ka.keys.nkeys; k++) {
			struct pgp_key *dst;

			a->keys.keys = xreallocarray(a->keys.keys, a->keys.nkeys + 1,
						     sizeof *a->keys.keys);
			dst = &a->keys.keys[a->keys.nkeys++];
			*dst = ka.keys.keys[k];
			memset(&ka.keys.keys[k], 0, sizeof ka.keys.keys[k]);
		}
		*gone_r += ka.keys.nkeys == 0 && withheld == 0;
		keydb_answer_free(&ka);
	}
	return 0;
}

/* last - LAST <days>: keys this gateway saw change, from the dedup
 * index, fetched from the key database by fingerprint. */
static int
last(const struct ask *q, const struct mailcmd *c, struct answer *a,
     struct pb_err *err)
{
	const struct config *cfg = q->cfg;
	struct spool *sp = q->sp;
	int64_t now = q->now;
	char (*fprs)[2 * PGP_FPR_MAX + 1] = NULL;
	struct buf *t = &a->text;
	int64_t days, window = last_window(cfg, c, &days, t);
	size_t n = 0, gone = 0, withheld = 0;
	uint64_t total = 0;
	int rc = 0;

	if (dedup_changed_since(sp, NULL, now - window, (size_t)cfg->max_reply_keys,
				&fprs, &n, &total, err) != 0) {
		err->status = PB_ETEMP;
		return -1;
	}
	if (total == 0) {
		buf_printf(t, "No key changed at this keyserver in the last %lld "
			   "day%s.\n", (long long)days, days == 1 ? "" : "s");
	} else if (total > cfg->max_reply_keys) {
		buf_printf(t, "%llu keys changed at this keyserver in the last %lld "
			   "days; it sends at most\n%llu in one reply.  Please ask "
			   "for fewer days.\n", (unsigned long long)total,
			   (long long)days, (unsigned long long)cfg->max_reply_keys);
	} else if ((rc = fetch_keys(q, c, fprs, n, a, &gone, &withheld,
				    err)) == 0) {
		buf_printf(t, "%llu key%s changed at this keyserver in the last "
			   "%lld day%s:\n\n", (unsigned long long)total,
			   total == 1 ? "" : "s", (long long)days,
			   days == 1 ? "" : "s");
		for (size_t i = 0; i < a->keys.nkeys; i++) {
			buf_puts(t, "  ");
			put_fpr(t, a->keys.keys[i].fpr_hex);
			buf_printf(t, "\n      %s\n", a->keys.keys[i].uid ?
				   a->keys.keys[i].uid : "(no user ID)");
		}
		if (gone)
			buf_printf(t, "\n%zu of them %s not in the key database "
				   "(yet, or any more).\n", gone,
				   gone == 1 ? "is" : "are");
		if (withheld)
			buf_printf(t, "\n%zu of them %s not sent: this keyserver's "
				   "key policy passes\nnothing of %s (blocked, or "
				   "nothing valid left).\n", withheld,
				   withheld == 1 ? "is" : "are",
				   withheld == 1 ? "it" : "them");
		if (a->keys.nkeys)
			buf_puts(t, "\nThe keys follow as one ASCII-armored block: "
				 "\"gpg --import\" of this\nwhole mail imports "
				 "them.\n");
	}
	free(fprs);
	return rc;
}

/* put_line - one line of an ADD's report after prefix, cut at
 * MAILREQ_TEXT_MAX bytes as every line is, and made text. */
static void
put_line(struct buf *t, const char *prefix, const char *fmt, ...)
{
	char line[MAILREQ_TEXT_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	utf8_make_text(line);
	buf_printf(t, "%s%s\n", prefix, line);
}

/* added - "2 new signatures, 1 new user ID": what f counts, or "". */
static void
added(const struct mailreq_fact *f, struct buf *b)
{
	const struct { uint32_t n; const char *one, *more; } parts[] = {
		{ f->uids, "user ID", "user IDs" },
		{ f->subkeys, "subkey", "subkeys" },
		{ f->sigs, "signature", "signatures" },
		{ f->other, "packet", "packets" },
	};

	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
		if (parts[i].n)
			buf_printf(b, "%s%u new %s", b->len ? ", " : "", parts[i].n,
				   parts[i].n == 1 ? parts[i].one : parts[i].more);
}

/* put_fact - the line for one fact of an ADD. */
static void
put_fact(const struct config *cfg, const struct mailreq_fact *f,
	 const char *p, struct buf *t)
{
	const char *uid = f->uid ? f->uid : "no user ID";
	struct buf what = BUF_INIT;
	char ttl[32];

	switch (f->kind) {
	case MAILREQ_SEEN:
		put_line(t, p, "%s: nothing new (this keyserver received it within "
			 "the last %s)", f->fpr,
			 config_format_duration(cfg->dedup_ttl, ttl, sizeof ttl));
		break;
	case MAILREQ_REFUSED:
	case MAILREQ_DB_REFUSED:
		put_line(t, p, "refused: %s", f->why ? f->why : "failed");
		break;
	case MAILREQ_REJECTED:
		put_line(t, p, "%s: refused: GnuPG rejected it: %s", f->fpr,
			 f->why ? f->why : "unusable");
		break;
	case MAILREQ_ACCEPTED:
		put_line(t, p, "%s (%s): accepted", f->fpr, uid);
		break;
	case MAILREQ_NEW:
		put_line(t, p, "%s (%s): new key", f->fpr, uid);
		break;
	case MAILREQ_ADDED:
		added(f, &what);
		put_line(t, p, "%s (%s): %s", f->fpr, uid,
			 what.len ? buf_str(&what) : "nothing new");
		break;
	case MAILREQ_MERGED_LATER:
		/* The one backend without refusal reports is sks: (keydb.h). */
		put_line(t, p, "(handed to SKS, which merges keys within about ten "
			 "seconds and reports no refusals)");
		break;
	default:
		break;
	}
	buf_free(&what);
}

void
answer_add_lines(const struct config *cfg, const struct mailreq *mr,
		 const char *prefix, struct buf *out)
{
	for (size_t i = 0; i < mr->nlines; i++)
		buf_printf(out, "%s%s\n", prefix, mr->lines[i]);
	for (size_t i = 0; i < mr->nfacts; i++)
		put_fact(cfg, &mr->facts[i], prefix, out);
	if (mr->more_facts)
		put_line(out, prefix, "... and more (an ADD reply lists at most %d)",
			 MAILREQ_FACTS_MAX);
}

/* add_report - ADD: what became of each key. */
static void
add_report(const struct config *cfg, const struct mailreq *mr, struct buf *t)
{
	buf_puts(t, "Your ADD was processed:\n\n");
	answer_add_lines(cfg, mr, "  ", t);
	if (mr->nlines == 0 && mr->nfacts == 0)
		buf_puts(t, "  (nothing to report)\n");
}

/* What every answer is asked with. */
static int
ans_help(const struct ask *q, struct answer *a, struct pb_err *err)
{
	(void)err;
	help(q->cfg, &q->mr->cmd, &a->text);
	return 0;
}

static int
ans_get(const struct ask *q, struct answer *a, struct pb_err *err)
{
	return get(q, &q->mr->cmd, a, err);
}

static int
ans_index(const struct ask *q, struct answer *a, struct pb_err *err)
{
	return index_keys(q, &q->mr->cmd, q->mr->cmd.kind == MAILCMD_VINDEX, a,
			  err);
}

static int
ans_last(const struct ask *q, struct answer *a, struct pb_err *err)
{
	return last(q, &q->mr->cmd, a,
		    err);
}

static int
ans_add(const struct ask *q, struct answer *a, struct pb_err *err)
{
	(void)err;
	add_report(q->cfg, q->mr, &a->text);
	return 0;
}

static int
ans_bad_arg(const struct ask *q, struct answer *a, struct pb_err *err)
{
	const struct mailcmd *c = &q->mr->cmd;

	(void)err;
	buf_printf(&a->text, "Your %s command cannot be answered:\n%s.\n\n%s",
		   c->name, c->reason, HELP_POINTER);
	return 0;
}

static int
ans_too_long(const struct ask *q, struct answer *a, struct pb_err *err)
{
	(void)err;
	buf_printf(&a->text, "Your Subject is not a command of this keyserver:\n"
		   "%s.\n\n%s", q->mr->cmd.reason, HELP_POINTER);
	return 0;
}

static int
ans_unknown(const struct ask *q, struct answer *a, struct pb_err *err)
{
	const struct mailcmd *c = &q->mr->cmd;

	(void)err;
	buf_printf(&a->text, "Your Subject is not a command of this keyserver:\n"
		   "%s.\n\nIt answers HELP, GET, INDEX, VERBOSE INDEX, LAST and "
		   "ADD.\n%s", c->reason[0] ? c->reason : "not supported",
		   HELP_POINTER);
	return 0;
}

/* The answers, one row per command: a new reply is a row here (and its
 * command in mail/mailcmd).  Anything else is answered as unknown. */
static const struct {
	enum mailcmd_kind kind;
	int needs_db;		/* asks the key database */
	int (*fn)(const struct ask *q, struct answer *a, struct pb_err *err);
} answers[] = {
	{ MAILCMD_HELP, 0, ans_help },
	{ MAILCMD_GET, 1, ans_get },
	{ MAILCMD_INDEX, 1, ans_index },
	{ MAILCMD_VINDEX, 1, ans_index },
	{ MAILCMD_LAST, 1, ans_last },
	{ MAILCMD_ADD, 0, ans_add },
	{ MAILCMD_BAD_ARG, 0, ans_bad_arg },
	{ MAILCMD_TOO_LONG, 0, ans_too_long },
	{ MAILCMD_UNKNOWN, 0, ans_unknown },
};

static size_t
row(enum mailcmd_kind kind)
{
	size_t n = sizeof answers / sizeof answers[0];

	for (size_t i = 0; i < n; i++)
		if (answers[i].kind == kind)
			return i;
	return n - 1;	/* MAILCMD_UNKNOWN's */
}

int
answer_needs_db(const struct mailcmd *c)
{
	return answers[row(c->kind)].needs_db;
}

int
answer_compose(const struct config *cfg, struct keydb *db,
	       const struct gate *gate, const char *qid, struct spool *sp,
	       const struct mailreq *mr, int64_t now, int timeout_ms,
	       struct answer *a, struct pb_err *err)
{
	struct ask q = { cfg, db, gate, qid, sp, mr, now, timeout_ms };

	memset(a, 0, sizeof *a);
	if (answers[row(mr->cmd.kind)].fn(&q, a, err) == 0)
		return 0;
	answer_free(a);
	return -1;
}
