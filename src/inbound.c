/*
 * inbound.c - from one mail to queue entries (see inbound.h).
 */
#include "inbound.h"
#include "armor.h"
#include "dedup.h"
#include "log.h"
#include "mailparse.h"
#include "pgp.h"
#include "xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Bounds on what a quarantined piece keeps for the operator to inspect:
 * enough to diagnose, never enough to fill the spool. */
#define QUARANTINE_TEXT_MAX (64 * 1024)
#define QUARANTINE_TOTAL_MAX (1024 * 1024)
#define REASONS_MAX 1500

struct analysis {
	const struct config *cfg;
	struct mail_headers h;
	enum q_origin origin;
	int loop;
	int too_large;
	struct pgp_keylist keys;
	size_t nproblems_reported;	/* of keys.problems already in reasons */
	struct buf reasons;		/* "; "-separated */
	size_t nreasons;
	struct buf raw;			/* quarantined text */
	size_t npub_blocks;
	struct pgp_limits limits;
	/* Every key in payload format, built once; the keys' own copies of
	 * their bytes are then dropped, so a large mail is held once. */
	struct buf payload_all;
	size_t *key_off;	/* where key i's entry starts in payload_all */
	struct inbound_opts opts;
};

static void
add_reason(struct analysis *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
add_reason(struct analysis *a, const char *fmt, ...)
{
	va_list ap;

	a->nreasons++;
	if (a->reasons.len >= REASONS_MAX) {
		return;
	}
	if (a->reasons.len)
		buf_puts(&a->reasons, "; ");
	va_start(ap, fmt);
	buf_vprintf(&a->reasons, fmt, ap);
	va_end(ap);
}

static void
keep_raw(struct analysis *a, const char *label, const char *text, size_t len)
{
	if (a->raw.len >= QUARANTINE_TOTAL_MAX)
		return;
	if (len > QUARANTINE_TEXT_MAX)
		len = QUARANTINE_TEXT_MAX;
	if (len > QUARANTINE_TOTAL_MAX - a->raw.len)
		len = QUARANTINE_TOTAL_MAX - a->raw.len;
	buf_printf(&a->raw, "### %s\n", label);
	buf_append(&a->raw, text, len);
	if (len && text[len - 1] != '\n')
		buf_putc(&a->raw, '\n');
}

struct part_ctx {
	struct analysis *a;
	const char *text;	/* the part being scanned, for keep_raw */
	unsigned partno;
};

static int
on_block(void *vctx, const struct armor_block *blk)
{
	struct part_ctx *pc = vctx;
	struct analysis *a = pc->a;

	switch (blk->kind) {
	case ARMOR_PUBLIC_KEY:
		a->npub_blocks++;
		if (!blk->ok) {
			char label[256];

			add_reason(a, "part %u, armor block at byte %zu: %s",
				   pc->partno, blk->offset, blk->error);
			snprintf(label, sizeof label, "part %u, byte %zu: %s",
				 pc->partno, blk->offset, blk->error);
			keep_raw(a, label, pc->text + blk->offset, blk->text_len);
			break;
		}
		pgp_split_keys(blk->data, blk->len, &a->limits, &a->keys);
		break;
	case ARMOR_PRIVATE_KEY:
		/* Never kept, not even in quarantine. */
		add_reason(a, "part %u: secret key block dropped (secret key "
			   "material is never stored)", pc->partno);
		break;
	case ARMOR_OTHER:
		break;
	}
	return 0;
}

static int
on_part(void *vctx, const char *type, const char *data, size_t len)
{
	struct part_ctx *pc = vctx;

	(void)type;
	pc->partno++;
	pc->text = data;
	armor_scan(data, len, pc->a->cfg->max_message_size, on_block, pc);
	return 0;
}

static void
on_problem(void *vctx, const char *reason)
{
	struct part_ctx *pc = vctx;

	add_reason(pc->a, "%s", reason);
}

static enum q_origin
origin_from_subject(const char *subject)
{
	const char *s = subject ? subject : "";

	while (*s == ' ' || *s == '\t')
		s++;
	/* PKS commands are case-insensitive words: "ADD", "incremental". */
	if (strncasecmp(s, "add", 3) == 0 &&
	    (s[3] == '\0' || isspace((unsigned char)s[3])))
		return Q_ORIGIN_LOCAL;
	return Q_ORIGIN_PKS;
}

static void
analyse(struct analysis *a, const char *mail, size_t len,
	const struct inbound_opts *o)
{
	struct pb_err err;
	struct part_ctx pc = { a, NULL, 0 };

	if (mail_parse_headers(mail, len, &a->h, &err) != 0)
		add_reason(a, "headers: %s", err.msg);
	switch (o->origin) {
	case INBOUND_ORIGIN_PKS: a->origin = Q_ORIGIN_PKS; break;
	case INBOUND_ORIGIN_LOCAL: a->origin = Q_ORIGIN_LOCAL; break;
	default: a->origin = origin_from_subject(a->h.subject); break;
	}
	for (size_t i = 0; i < a->h.n_keyserver_sent; i++)
		if (strcasecmp(a->h.keyserver_sent[i], a->cfg->from_addr_bare) == 0)
			a->loop = 1;
	if (o->total_size > a->cfg->max_message_size) {
		char label[128];

		a->too_large = 1;
		add_reason(a, "message of %llu bytes exceeds max_message_size "
			   "(%llu)", (unsigned long long)o->total_size,
			   (unsigned long long)a->cfg->max_message_size);
		snprintf(label, sizeof label, "first %zu bytes of the message",
			 len < QUARANTINE_TEXT_MAX ? len : (size_t)QUARANTINE_TEXT_MAX);
		keep_raw(a, label, mail, len);
		return;
	}
	if (a->loop)
		return;	/* nothing of ours needs parsing */
	a->limits.max_key_size = a->cfg->max_key_size;
	a->limits.max_keys = a->cfg->max_keys_per_message;
	mail_walk_parts(mail, len, on_part, on_problem, &pc);
	for (size_t i = 0; i < a->keys.nproblems; i++) {
		const struct pgp_problem *p = &a->keys.problems[i];

		if (p->fpr_hex[0])
			add_reason(a, "key %s: %s", p->fpr_hex, p->reason);
		else
			add_reason(a, "%s", p->reason);
	}
	if (a->npub_blocks == 0 && a->nreasons == 0)
		add_reason(a, "no public key block found");
	else if (a->keys.nkeys == 0 && a->nreasons == 0)
		add_reason(a, "no public key in the key blocks");
	if (a->reasons.len >= REASONS_MAX)
		buf_printf(&a->reasons, " (%zu problems in all)", a->nreasons);
}

static void
analysis_free(struct analysis *a)
{
	mail_headers_free(&a->h);
	pgp_keylist_free(&a->keys);
	buf_free(&a->reasons);
	buf_free(&a->raw);
	buf_free(&a->payload_all);
	free(a->key_off);
}

/* pack_keys - move the keys' bytes into payload_all. */
static void
pack_keys(struct analysis *a)
{
	a->key_off = xcalloc(a->keys.nkeys + 1, sizeof *a->key_off);
	for (size_t i = 0; i < a->keys.nkeys; i++) {
		struct pgp_key *k = &a->keys.keys[i];

		a->key_off[i] = a->payload_all.len;
		q_payload_add_key(&a->payload_all, k->data, k->len);
		free(k->data);
		k->data = NULL;
	}
	a->key_off[a->keys.nkeys] = a->payload_all.len;
}

struct commit_ctx {
	struct analysis *a;
	const struct inbound_opts *o;
	struct inbound_result *res;
	unsigned char *is_new;		/* per key */
};

static void
base_entry(struct q_entry *e, const struct commit_ctx *c)
{
	memset(e, 0, sizeof *e);
	e->dir = Q_INBOUND;
	e->origin = c->a->origin;
	e->sender = c->o->sender ? xstrdup(c->o->sender) : NULL;
	e->message_id = c->a->h.message_id ? xstrdup(c->a->h.message_id) : NULL;
	e->size = c->o->total_size;
}

static int
insert_final(struct spool *sp, DB_TXN *txn, struct commit_ctx *c,
	     enum q_state state, const char *reason, int with_keys,
	     const struct buf *raw, const char *parent, char *id_out,
	     struct pb_err *err)
{
	struct q_entry e;
	int r;

	base_entry(&e, c);
	e.state = state;
	e.last_error = xstrdup(reason);
	e.parent = parent ? xstrdup(parent) : NULL;
	if (with_keys)
		for (size_t i = 0; i < c->a->keys.nkeys; i++)
			q_entry_add_key(&e, c->a->keys.keys[i].fpr_hex,
					c->a->keys.keys[i].uid);
	e.payload_kind = raw && raw->len ? Q_PAYLOAD_RAW : Q_PAYLOAD_NONE;
	r = queue_insert(sp, txn, &e, raw ? raw->data : NULL,
			 raw ? raw->len : 0, err);
	if (r == 0)
		memcpy(id_out, e.id, QID_LEN + 1);
	q_entry_free(&e);
	return r;
}

static int
commit_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct commit_ctx *c = vctx;
	struct analysis *a = c->a;
	struct inbound_result *res = c->res;
	const struct config *cfg = a->cfg;
	int64_t now = spool_now();
	char seen_qid[QID_LEN + 1];
	int seen;

	/* Re-runnable: start from a clean result every attempt. */
	memset(res, 0, sizeof *res);
	res->origin = a->origin;
	res->nkeys = a->keys.nkeys;

	if (a->loop) {
		snprintf(res->reason, sizeof res->reason,
			 "X-KeyServer-Sent lists our own address %s",
			 cfg->from_addr_bare);
		res->state = QS_LOOP;
		return insert_final(sp, txn, c, QS_LOOP, res->reason, 0, NULL,
				    NULL, res->id, err);
	}
	if (a->h.message_id) {
		seen = dedup_msgid_seen(sp, txn, a->h.message_id, now,
					cfg->dedup_ttl, seen_qid, err);
		if (seen < 0)
			return -1;
		if (seen) {
			snprintf(res->reason, sizeof res->reason,
				 "Message-ID <%.200s> already accepted as %s",
				 a->h.message_id, seen_qid);
			res->state = QS_DUPLICATE;
			return insert_final(sp, txn, c, QS_DUPLICATE, res->reason,
					    1, NULL, NULL, res->id, err);
		}
	}
	if (a->too_large) {
		snprintf(res->reason, sizeof res->reason, "%s",
			 buf_str(&a->reasons));
		res->state = QS_QUARANTINED;
		if (insert_final(sp, txn, c, QS_QUARANTINED, res->reason, 0,
				 &a->raw, NULL, res->id, err) != 0)
			return -1;
		goto record_msgid;
	}

	for (size_t i = 0; i < a->keys.nkeys; i++) {
		struct dedup_verdict v;

		if (dedup_check_key(sp, txn, &a->keys.keys[i], now,
				    cfg->dedup_ttl, &v, err) != 0)
			return -1;
		c->is_new[i] = v.n_new > 0;
		res->nnew += c->is_new[i];
	}

	if (res->nnew > 0) {
		struct q_entry e;
		struct buf payload = BUF_INIT;
		const struct buf *use = &a->payload_all;
		int r;

		base_entry(&e, c);
		e.state = QS_READY;
		e.payload_kind = Q_PAYLOAD_KEYS;
		if (c->o->lease_secs > 0) {
			e.lease_until = now + c->o->lease_secs;
			e.lease_pid = getpid();
		}
		for (size_t i = 0; i < a->keys.nkeys; i++) {
			const struct pgp_key *k = &a->keys.keys[i];

			if (!c->is_new[i])
				continue;
			q_entry_add_key(&e, k->fpr_hex, k->uid);
			if (res->nnew < a->keys.nkeys)
				buf_append(&payload, a->payload_all.data + a->key_off[i],
					   a->key_off[i + 1] - a->key_off[i]);
			if (dedup_record_key(sp, txn, k, a->origin, now, err) != 0) {
				q_entry_free(&e);
				buf_free(&payload);
				return -1;
			}
		}
		if (res->nnew < a->keys.nkeys)
			use = &payload;
		r = queue_insert(sp, txn, &e, use->data, use->len, err);
		memcpy(res->id, e.id, sizeof res->id);
		res->state = QS_READY;
		q_entry_free(&e);
		buf_free(&payload);
		if (r != 0)
			return -1;
	} else if (a->keys.nkeys > 0) {
		snprintf(res->reason, sizeof res->reason,
			 "nothing new: all %zu key(s) seen within dedup_ttl",
			 a->keys.nkeys);
		res->state = QS_DUPLICATE;
		if (insert_final(sp, txn, c, QS_DUPLICATE, res->reason, 1, NULL,
				 NULL, res->id, err) != 0)
			return -1;
	}

	if (a->nreasons > 0) {
		const char *parent = res->id[0] ? res->id : NULL;
		char qid[QID_LEN + 1];

		if (insert_final(sp, txn, c, QS_QUARANTINED, buf_str(&a->reasons),
				 0, &a->raw, parent, qid, err) != 0)
			return -1;
		if (parent) {
			memcpy(res->quarantine_id, qid, sizeof qid);
		} else {
			memcpy(res->id, qid, sizeof qid);
			res->state = QS_QUARANTINED;
			snprintf(res->reason, sizeof res->reason, "%s",
				 buf_str(&a->reasons));
		}
	}

record_msgid:
	if (a->h.message_id &&
	    dedup_msgid_record(sp, txn, a->h.message_id, res->id, now, err) != 0)
		return -1;
	return 0;
}

struct inbound *
inbound_analyse(const struct config *cfg, const char *mail, size_t len,
		const struct inbound_opts *o)
{
	struct analysis *a = xcalloc(1, sizeof *a);

	a->cfg = cfg;
	a->opts = *o;
	a->opts.sender = o->sender ? xstrdup(o->sender) : NULL;
	analyse(a, mail, len, &a->opts);
	pack_keys(a);
	return (struct inbound *)a;
}

int
inbound_commit(struct spool *sp, struct inbound *in, struct inbound_result *res,
	       struct pb_err *err)
{
	struct analysis *a = (struct analysis *)in;
	const struct inbound_opts *o = &a->opts;
	struct commit_ctx c;
	int r;

	c.a = a;
	c.o = o;
	c.res = res;
	c.is_new = xcalloc(a->keys.nkeys + 1, 1);
	r = spool_txn(sp, SPOOL_SYNC, commit_fn, &c, err);
	free(c.is_new);
	if (r == 0) {
		log_info(res->id, "from=<%s>, message-id=<%s>, size=%llu, "
			 "origin=%s, keys=%zu, new=%zu, status=%s%s%s%s",
			 o->sender ? o->sender : "",
			 a->h.message_id ? a->h.message_id : "",
			 (unsigned long long)o->total_size,
			 q_origin_name(a->origin), res->nkeys, res->nnew,
			 q_state_name(res->state),
			 res->reason[0] ? " (" : "", res->reason,
			 res->reason[0] ? ")" : "");
		if (res->quarantine_id[0])
			log_notice(res->quarantine_id, "parent=%s, status=quarantined (%s)",
				   res->id, buf_str(&a->reasons));
	}
	return r;
}

void
inbound_free(struct inbound *in)
{
	struct analysis *a = (struct analysis *)in;

	if (!a)
		return;
	free((char *)a->opts.sender);
	analysis_free(a);
	free(a);
}

int
inbound_accept(struct spool *sp, const struct config *cfg, const char *mail,
	       size_t len, const struct inbound_opts *o,
	       struct inbound_result *res, struct pb_err *err)
{
	struct inbound *in = inbound_analyse(cfg, mail, len, o);
	int r = inbound_commit(sp, in, res, err);

	inbound_free(in);
	return r;
}
