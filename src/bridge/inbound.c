/*
 * inbound.c - from one mail to queue entries (see inbound.h).
 */
#include "bridge/inbound.h"
#include "bridge/outbound.h"
#include "bridge/request.h"
#include "mail/extract.h"
#include "mail/replypolicy.h"
#include "spool/dedup.h"
#include "transport/mailsync.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct inbound {
	const struct config *cfg;
	struct inbound_opts opts;	/* sender copied */
	struct extract x;
	enum q_origin origin;
	int loop;
	int misaddressed;	/* see inbound_names_us */
	struct mailsync peers;		/* for ADD mails and requests */
	struct request rq;		/* a mail command in the Subject */
};

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

struct inbound *
inbound_analyse(const struct config *cfg, const char *mail, size_t len,
		const struct inbound_opts *o)
{
	struct inbound *in = xcalloc(1, sizeof *in);

	in->cfg = cfg;
	in->opts = *o;
	in->opts.sender = o->sender ? xstrdup(o->sender) : NULL;
	extract_headers(&in->x, mail, len);
	switch (o->origin) {
	case INBOUND_ORIGIN_PKS: in->origin = Q_ORIGIN_PKS; break;
	case INBOUND_ORIGIN_LOCAL: in->origin = Q_ORIGIN_LOCAL; break;
	default: in->origin = origin_from_subject(in->x.h.subject); break;
	}
	for (size_t i = 0; i < in->x.h.n_keyserver_sent; i++)
		if (strcasecmp(in->x.h.keyserver_sent[i], cfg->from_addr_bare) == 0)
			in->loop = 1;
	if (!in->loop)
		in->misaddressed = !inbound_names_us(&in->x.h, cfg->from_addr_bare);
	/* Our own mail coming back needs no parsing. */
	if (!in->loop)
		extract_body(&in->x, cfg, mail, len, o->total_size);
	return in;
}

int
inbound_names_us(const struct mail_headers *h, const char *from_addr)
{
	if (h->n_keyserver_sent == 0 || h->n_recipients == 0 || !from_addr)
		return 1;
	for (size_t i = 0; i < h->n_recipients; i++)
		if (strcasecmp(h->recipients[i], from_addr) == 0)
			return 1;
	return 0;
}

struct commit_ctx {
	struct inbound *in;
	struct inbound_result *res;
	unsigned char *is_new;		/* per key */
	int64_t now;
	struct outbound_result out;	/* an ADD's entries for the peers */
};

/* ingest_facts - what an ADD's reply can say at ingest: with seen, that
 * each key without anything new (is_new NULL: every key) was received
 * within dedup_ttl; that pieces were refused, if any were. */
static void
ingest_facts(const struct inbound *in, const unsigned char *is_new, int seen,
	     struct mailreq *mr)
{
	struct mailreq_fact f;

	for (size_t i = 0; seen && i < in->x.keys.nkeys; i++) {
		if (is_new && is_new[i])
			continue;
		f = mailreq_key_fact(MAILREQ_SEEN, &in->x.keys.keys[i]);
		mailreq_add_fact(mr, &f);
	}
	if (in->x.nreasons > 0) {
		memset(&f, 0, sizeof f);
		f.kind = MAILREQ_REFUSED;
		f.why = (char *)buf_str(&in->x.reasons);
		mailreq_add_fact(mr, &f);
	}
}

/* reply - the request's reply entry, now: admitted or not (see
 * request.h), with an ADD's facts known at ingest (seen: see
 * ingest_facts); with waits, waiting for the entry res->id, whose
 * delivery adds the rest. */
static int
reply(struct spool *sp, DB_TXN *txn, struct commit_ctx *c, int seen,
      int waits, struct pb_err *err)
{
	struct inbound *in = c->in;
	struct inbound_result *res = c->res;
	struct q_source src = { in->opts.sender, in->x.h.message_id,
				in->opts.total_size, res->id[0] ? res->id : NULL };
	struct mailreq mr;
	int r;

	request_record(&in->rq, &mr);
	if (in->rq.cmd.kind == MAILCMD_ADD)
		ingest_facts(in, c->is_new, seen, &mr);
	r = request_insert(sp, txn, &in->rq, &mr, &src, waits,
			   in->opts.lease_secs, c->now, res->reply_id,
			   &res->reply_state, err);
	res->reply_waits = r == 0 && waits && in->rq.admitted;
	mailreq_free(&mr);
	return r;
}

/* new_entry - an entry for this mail in state, with why. */
static void
new_entry(struct q_entry *e, const struct inbound *in, enum q_state state,
	  const char *why, const char *parent)
{
	struct q_source src = { in->opts.sender, in->x.h.message_id,
				in->opts.total_size, parent };

	if (state == QS_QUARANTINED)
		q_entry_new_quarantine(e, Q_INBOUND, in->origin, why, &src);
	else
		q_entry_new(e, Q_INBOUND, in->origin, state, 0, why, &src);
}

/* insert_final - an entry recording a decision: duplicate, loop, or a
 * quarantined piece (with its kept text). */
static int
insert_final(struct spool *sp, DB_TXN *txn, const struct inbound *in,
	     enum q_state state, const char *reason, int with_keys,
	     const struct buf *raw, const char *parent, char *id_out,
	     struct pb_err *err)
{
	struct q_entry e;
	int r;

	new_entry(&e, in, state, reason, parent);
	if (with_keys)
		for (size_t i = 0; i < in->x.keys.nkeys; i++)
			q_entry_add_key(&e, in->x.keys.keys[i].fpr_hex,
					in->x.keys.keys[i].uid);
	e.payload_kind = raw && raw->len ? Q_PAYLOAD_RAW : Q_PAYLOAD_NONE;
	r = queue_insert(sp, txn, &e, raw ? raw->data : NULL,
			 raw ? raw->len : 0, err);
	if (r == 0)
		memcpy(id_out, e.id, QID_LEN + 1);
	q_entry_free(&e);
	return r;
}

/* insert_ready - the entry holding the keys with something new. */
static int
insert_ready(struct spool *sp, DB_TXN *txn, struct commit_ctx *c,
	     struct pb_err *err)
{
	const struct inbound *in = c->in;
	struct q_entry e;
	struct buf subset = BUF_INIT;
	const struct buf *payload = &in->x.payload;
	int r = 0;

	new_entry(&e, in, QS_READY, NULL, NULL);
	e.payload_kind = Q_PAYLOAD_KEYS;
	/* The same instant as the dedup records: if this entry fails, the
	 * delivery step forgets exactly the sightings it made. */
	e.created = c->now;
	if (in->opts.lease_secs > 0)
		q_entry_lease_new(&e, c->now, in->opts.lease_secs);
	for (size_t i = 0; i < in->x.keys.nkeys && r == 0; i++) {
		const struct pgp_key *k = &in->x.keys.keys[i];

		if (!c->is_new[i])
			continue;
		q_entry_add_key(&e, k->fpr_hex, k->uid);
		r = dedup_record_key(sp, txn, k, in->origin, c->now, err);
	}
	if (c->res->nnew < in->x.keys.nkeys) {
		extract_payload_subset(&in->x, c->is_new, &subset);
		payload = &subset;
	}
	if (r == 0)
		r = queue_insert(sp, txn, &e, payload->data, payload->len, err);
	memcpy(c->res->id, e.id, sizeof c->res->id);
	memcpy(c->res->deliver_id, e.id, sizeof c->res->deliver_id);
	c->res->state = QS_READY;
	q_entry_free(&e);
	buf_free(&subset);
	return r;
}

/* commit_loop - our own mail came back: a loop entry, and a request's
 * reply (suppressed: replypolicy refuses loops). */
static int
commit_loop(struct spool *sp, DB_TXN *txn, struct commit_ctx *c,
	    struct pb_err *err)
{
	struct inbound *in = c->in;
	struct inbound_result *res = c->res;

	snprintf(res->reason, sizeof res->reason,
		 "X-KeyServer-Sent lists our own address %s",
		 in->cfg->from_addr_bare);
	res->state = QS_LOOP;
	if (insert_final(sp, txn, in, QS_LOOP, res->reason, 0, NULL, NULL,
			 res->id, err) != 0)
		return -1;
	return in->rq.asked ? reply(sp, txn, c, 0, 0, err) : 0;
}

/* commit_too_large - over max_message_size: quarantined whole, and a
 * request answered. */
static int
commit_too_large(struct spool *sp, DB_TXN *txn, struct commit_ctx *c,
		 struct pb_err *err)
{
	struct inbound *in = c->in;
	struct inbound_result *res = c->res;

	snprintf(res->reason, sizeof res->reason, "%s", buf_str(&in->x.reasons));
	res->state = QS_QUARANTINED;
	if (insert_final(sp, txn, in, QS_QUARANTINED, res->reason, 0,
			 &in->x.raw, NULL, res->id, err) != 0)
		return -1;
	return in->rq.asked ? reply(sp, txn, c, 0, 0, err) : 0;
}

/* insert_keys - the keys with something new go to the key database
 * (and, for a local ADD, to the PKS peers); with none, the mail is a
 * duplicate. */
static int
insert_keys(struct spool *sp, DB_TXN *txn, struct commit_ctx *c,
	    struct pb_err *err)
{
	struct inbound *in = c->in;
	struct inbound_result *res = c->res;

	if (res->nnew == 0) {
		if (in->x.keys.nkeys == 0)
			return 0;
		snprintf(res->reason, sizeof res->reason,
			 "nothing new: all %zu key(s) seen within dedup_ttl",
			 in->x.keys.nkeys);
		res->state = QS_DUPLICATE;
		return insert_final(sp, txn, in, QS_DUPLICATE, res->reason, 1,
				    NULL, NULL, res->id, err);
	}
	if (insert_ready(sp, txn, c, err) != 0)
		return -1;
	/* A user's ADD is a local change: it goes to the PKS peers too
	 * (after the keys are recorded as seen locally). */
	if (in->origin != Q_ORIGIN_LOCAL)
		return 0;
	if (outbound_enqueue(sp, txn, in->cfg, &in->x, c->is_new,
			     in->peers.peers, in->peers.n, in->opts.sender,
			     in->opts.total_size, res->id, c->now, &c->out, err) != 0)
		return -1;
	res->noutbound = c->out.nready;
	return 0;
}

/* insert_pieces - what cannot be delivered, quarantined beside the good
 * keys (or standing for the mail when there are none).  A command that
 * is not ADD needs no key: a mail without a key block is no quarantine
 * case, its reply entry stands for it. */
static int
insert_pieces(struct spool *sp, DB_TXN *txn, struct commit_ctx *c,
	      struct pb_err *err)
{
	struct inbound *in = c->in;
	struct inbound_result *res = c->res;
	const char *parent = res->id[0] ? res->id : NULL;
	char qid[QID_LEN + 1];

	if (in->x.nreasons == 0 ||
	    (in->rq.asked && in->rq.cmd.kind != MAILCMD_ADD && in->x.no_key_block))
		return 0;
	if (insert_final(sp, txn, in, QS_QUARANTINED, buf_str(&in->x.reasons),
			 0, &in->x.raw, parent, qid, err) != 0)
		return -1;
	if (parent) {
		memcpy(res->quarantine_id, qid, sizeof qid);
	} else {
		memcpy(res->id, qid, sizeof qid);
		res->state = QS_QUARANTINED;
		snprintf(res->reason, sizeof res->reason, "%s",
			 buf_str(&in->x.reasons));
	}
	return 0;
}

/* commit_keys - the mail's keys and pieces, and a request's reply: an
 * ADD whose keys go to the database is answered once they are
 * delivered (its reply waits for them), everything else now. */
static int
commit_keys(struct spool *sp, DB_TXN *txn, struct commit_ctx *c,
	    struct pb_err *err)
{
	struct inbound *in = c->in;
	struct inbound_result *res = c->res;

	for (size_t i = 0; i < in->x.keys.nkeys; i++) {
		struct dedup_verdict v;

		if (dedup_check_key(sp, txn, &in->x.keys.keys[i], c->now,
				    in->cfg->dedup_ttl, &v, err) != 0)
			return -1;
		c->is_new[i] = v.n_new > 0;
		res->nnew += c->is_new[i];
	}
	if (insert_keys(sp, txn, c, err) != 0 || insert_pieces(sp, txn, c, err) != 0)
		return -1;
	if (!in->rq.asked)
		return 0;
	if (reply(sp, txn, c, res->state == QS_DUPLICATE || res->state == QS_READY,
		  in->rq.cmd.kind == MAILCMD_ADD && res->state == QS_READY,
		  err) != 0)
		return -1;
	if (!res->id[0]) {
		memcpy(res->id, res->reply_id, sizeof res->id);
		res->state = res->reply_state;
	}
	return 0;
}

static int
commit_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct commit_ctx *c = vctx;
	struct inbound *in = c->in;
	struct inbound_result *res = c->res;
	const char *msgid = in->x.h.message_id;
	char seen_qid[QID_LEN + 1];
	int seen;

	/* Re-runnable: start from a clean result every attempt. */
	memset(res, 0, sizeof *res);
	res->origin = in->origin;
	res->misaddressed = in->misaddressed;
	res->nkeys = in->x.keys.nkeys;
	c->now = spool_now();
	c->out.nready = 0;	/* (an attempt that queues none logs none) */
	memset(c->is_new, 0, in->x.keys.nkeys + 1);
	if (request_admit(sp, txn, in->cfg, &in->rq, c->now, err) != 0)
		return -1;
	if (in->loop)
		return commit_loop(sp, txn, c, err);
	if (msgid) {
		seen = dedup_msgid_seen(sp, txn, msgid, c->now, in->cfg->dedup_ttl,
					seen_qid, err);
		if (seen < 0)
			return -1;
		if (seen) {
			snprintf(res->reason, sizeof res->reason,
				 "Message-ID <%.200s> already accepted as %s",
				 msgid, seen_qid);
			res->state = QS_DUPLICATE;
			return insert_final(sp, txn, in, QS_DUPLICATE, res->reason,
					    1, NULL, NULL, res->id, err);
		}
	}
	if ((in->x.too_large ? commit_too_large(sp, txn, c, err) :
	     commit_keys(sp, txn, c, err)) != 0)
		return -1;
	if (msgid && dedup_msgid_record(sp, txn, msgid, res->id, c->now, err) != 0)
		return -1;
	return 0;
}

/* log_commit - the committed mail's log lines. */
static void
log_commit(const struct inbound *in, const struct inbound_result *res,
	   const struct outbound_result *out)
{
	const struct inbound_opts *o = &in->opts;
	/* from= is the envelope sender, as an MTA logs it: the Return-Path
	 * the delivering MTA added, else the mbox From line, else $SENDER
	 * (the order a reply goes by).  $SENDER alone printed from=<> for
	 * every Postfix delivery, which reads as a bounce. */
	struct reply_request rr = {
		.return_path = in->x.h.return_path,
		.from_line = in->x.h.from_line,
		.env_sender = o->sender,
	};
	char from[REPLY_ADDR_MAX + 1];

	replypolicy_envelope_sender(&rr, from);
	log_info(res->id, "from=<%s>, message-id=<%s>, size=%llu, "
		 "origin=%s, keys=%zu, new=%zu, status=%s%s%s%s",
		 from,
		 in->x.h.message_id ? in->x.h.message_id : "",
		 (unsigned long long)o->total_size,
		 q_origin_name(in->origin), res->nkeys, res->nnew,
		 q_state_name(res->state),
		 res->reason[0] ? " (" : "", res->reason,
		 res->reason[0] ? ")" : "");
	if (res->misaddressed)
		log_warning(res->id, "sync mail to <%s> does not name from_addr "
			    "<%s>: a keyserver that lists us as <%s> will mail "
			    "our changes back (in a pool, every gateway's "
			    "from_addr must be the pool's address)",
			    in->x.h.recipients[0], in->cfg->from_addr_bare,
			    in->x.h.recipients[0]);
	if (res->quarantine_id[0])
		log_notice(res->quarantine_id, "parent=%s, status=quarantined (%s)",
			   res->id, buf_str(&in->x.reasons));
	if (res->noutbound) {
		log_info(res->id, "queued for %zu PKS peer(s)", res->noutbound);
		outbound_log_queued(out);
	}
	if (res->reply_waits)
		log_info(res->id, "to=<%s>, command=add, kind=reply, "
			 "status=waiting for delivery", in->rq.policy.to);
	else if (res->reply_id[0])
		log_info(res->reply_id, "to=<%s>, command=%s, kind=reply, "
			 "status=%s%s%s%s", in->rq.policy.to,
			 mailcmd_kind_name(in->rq.cmd.kind),
			 res->reply_state == QS_READY ? "queued" : "suppressed",
			 in->rq.why[0] ? " (" : "", in->rq.why,
			 in->rq.why[0] ? ")" : "");
}

int
inbound_commit(struct spool *sp, struct inbound *in, struct inbound_result *res,
	       struct pb_err *err)
{
	const struct inbound_opts *o = &in->opts;
	struct commit_ctx c;
	struct mailcmd probe;
	int r;

	/* The peers, for an ADD's outbound entries and because a request
	 * from a peer gets no reply. */
	mailcmd_from_raw(in->x.h.subject, &probe);
	if (((in->origin == Q_ORIGIN_LOCAL && in->x.keys.nkeys > 0) ||
	     mailcmd_answered(&probe)) &&
	    mailsync_load(&in->peers, in->cfg->mailsync_file, err) != 0) {
		/* The file is part of the configuration: a broken one
		 * defers the mail until it is fixed. */
		return -1;
	}
	request_decide(&in->rq, in->cfg, &in->x.h, o->sender, in->peers.peers,
		       in->peers.n, in->loop, in->x.npub_blocks > 0);
	memset(&c, 0, sizeof c);
	c.in = in;
	c.res = res;
	c.is_new = xcalloc(in->x.keys.nkeys + 1, 1);
	r = spool_txn(sp, SPOOL_SYNC, commit_fn, &c, err);
	free(c.is_new);
	if (r == 0)
		log_commit(in, res, &c.out);
	outbound_result_free(&c.out);
	return r;
}

void
inbound_free(struct inbound *in)
{
	if (!in)
		return;
	free((char *)in->opts.sender);
	extract_free(&in->x);
	mailsync_free(&in->peers);
	free(in);
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
