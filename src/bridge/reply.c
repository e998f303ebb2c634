/*
 * reply.c - sending the replies to mail commands (see reply.h).
 *
 * One attempt: lease the entry, read its request, ask for the answer,
 * compose, send, record.  The lease is committed without waiting for
 * the disk (unlike sync mail's, outdeliver.c): if a crash loses it, a
 * second process may send the same reply again, which costs one
 * duplicate mail to one person and saves an fsync on every reply.
 */
#include "bridge/reply.h"
#include "bridge/answer.h"
#include "bridge/mailreq.h"
#include "keydb/keydb.h"
#include "mail/replymail.h"
#include "transport/transport.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUE_SCAN 256

struct replier {
	struct spool *sp;
	const struct config *cfg;
	struct keydb *db;
};

struct replier *
reply_open(struct spool *sp, const struct config *cfg)
{
	struct replier *r = xcalloc(1, sizeof *r);

	r->sp = sp;
	r->cfg = cfg;
	return r;
}

void
reply_close(struct replier *r)
{
	if (!r)
		return;
	if (r->db)
		r->db->close(r->db);
	free(r);
}

int
reply_lease_secs(int timeout_s)
{
	/* A lookup and an SMTP conversation, each bounded, with room. */
	return 4 * timeout_s + 60;
}

struct claim {
	const char *id;
	int lease_secs;
	struct q_entry e;
	int claimed;
	/* finish */
	enum q_state state;
	const char *error;
	const struct config *cfg;
	char why[Q_WHY_LEN];
	int recorded;
	enum q_state final;
};

static int
claim_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct claim *c = vctx;
	struct q_lease_want want = { Q_OUTBOUND, spool_now(), c->lease_secs, 0,
				     UINT64_MAX, UINT64_MAX };
	int r;

	q_entry_free(&c->e);
	c->claimed = 0;
	r = queue_lease(sp, txn, c->id, &want, &c->e, c->why, err);
	if (r < 0 && err->status != PB_ENOTFOUND)
		return -1;
	if (r != 0)
		return 0;
	if (c->e.kind != Q_KIND_REPLY || !c->e.peer) {
		/* Not ours to send: give the lease back, in this txn. */
		q_entry_free(&c->e);
		return queue_unlease(sp, txn, c->id, c->why, err) < 0 ? -1 : 0;
	}
	c->claimed = 1;
	return 0;
}

static int
finish_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct claim *c = vctx;
	struct q_entry e;
	int r;

	c->recorded = 0;
	r = queue_attempted(sp, txn, c->id, c->state, c->error, c->cfg,
			    spool_now(), &e, c->why, err);
	if (r < 0 && err->status == PB_ENOTFOUND) {
		snprintf(c->why, sizeof c->why, "deleted by the operator");
		return 0;
	}
	if (r < 0)
		return -1;
	if (r == 0) {
		c->recorded = 1;
		c->final = e.state;
		q_entry_free(&e);
	}
	return 0;
}

/* needs_db - the commands whose answer comes from the key database. */
static int
needs_db(const struct mailcmd *c)
{
	return (c->kind == MAILCMD_GET || c->kind == MAILCMD_INDEX ||
		c->kind == MAILCMD_VINDEX || c->kind == MAILCMD_LAST);
}

/* attempt - everything between the claim and the record: the entry's
 * next state and, for a failure, why (owned by the caller).  *msgid
 * receives our Message-ID when the mail was composed. */
static enum q_state
attempt(struct replier *r, const struct q_entry *e, int timeout_s,
	char **error, char *msgid)
{
	const struct config *cfg = r->cfg;
	struct buf payload = BUF_INIT, mail = BUF_INIT;
	struct mailreq mr;
	struct answer a;
	struct pb_err err;
	struct replymail rm;
	enum q_state st = QS_DONE;
	char days[16];

	*error = NULL;
	if (queue_get_payload(r->sp, NULL, e->id, &payload, &err) != 0) {
		*error = xasprintf("reading the request: %s", err.msg);
		buf_free(&payload);
		return QS_DEFERRED;
	}
	if (mailreq_decode(payload.data, payload.len, &mr, &err) != 0) {
		*error = xasprintf("%s", err.msg);
		buf_free(&payload);
		return QS_FAILED;
	}
	buf_free(&payload);
	if (needs_db(&mr.cmd) && !r->db &&
	    keydb_open(cfg->keydb, &r->db, &err) != 0) {
		*error = xasprintf("key database: %s", err.msg);
		mailreq_free(&mr);
		return QS_DEFERRED;
	}
	if (answer_compose(cfg, r->db, r->sp, &mr, spool_now(), timeout_s * 1000,
			   &a, &err) != 0) {
		*error = xasprintf("%s: %s", r->db ? r->db->name : cfg->keydb,
				   err.msg);
		mailreq_free(&mr);
		return QS_DEFERRED;
	}
	memset(&rm, 0, sizeof rm);
	rm.to = e->peer;
	rm.command = mr.cmd.name[0] ? mr.cmd.name : "your mail";
	/* The Subject names what it answers: the search, LAST's days,
	 * HELP's language. */
	snprintf(days, sizeof days, "%u", mr.cmd.days);
	rm.search = mr.cmd.search_kind != MAILCMD_SEARCH_NONE &&
		    mr.cmd.search[0] ? mr.cmd.search :
		    mr.cmd.kind == MAILCMD_LAST ? days :
		    mr.cmd.lang[0] ? mr.cmd.lang : NULL;
	rm.in_reply_to = e->message_id;
	rm.references = mr.references;
	rm.text = buf_str(&a.text);
	rm.keys = a.keys.keys;
	rm.nkeys = a.keys.nkeys;
	if (replymail_compose(cfg, &rm, spool_now(), &mail, msgid, &err) != 0) {
		*error = xasprintf("composing: %s", err.msg);
		st = QS_FAILED;
	} else if (transport_send(cfg, e->peer, "", &mail, timeout_s, &err) != 0) {
		*error = xstrdup(err.msg);
		st = err.status == PB_ETEMP ? QS_DEFERRED : QS_FAILED;
	}
	answer_free(&a);
	mailreq_free(&mr);
	buf_free(&mail);
	return st;
}

int
reply_send(struct replier *r, const char *id, int timeout_s,
	   enum reply_outcome *out, struct pb_err *err)
{
	struct claim c;
	char msgid[REPLYMAIL_MSGID_MAX] = "";
	char *error = NULL;
	int64_t t0 = clock_ms();

	*out = REPLY_SKIPPED;
	memset(&c, 0, sizeof c);
	c.id = id;
	c.lease_secs = reply_lease_secs(timeout_s);
	c.cfg = r->cfg;
	/* Both synced: a recovery after any process's death keeps only
	 * what reached the disk, and a reply whose lease or "sent" record
	 * was still in the log buffer would go out a second time. */
	if (spool_txn(r->sp, SPOOL_SYNC, claim_fn, &c, err) != 0) {
		q_entry_free(&c.e);
		return -1;
	}
	if (!c.claimed)
		return 0;
	c.state = attempt(r, &c.e, timeout_s, &error, msgid);
	c.error = error;
	if (spool_txn(r->sp, SPOOL_SYNC, finish_fn, &c, err) != 0) {
		free(error);
		q_entry_free(&c.e);
		return -1;
	}
	if (!c.recorded) {
		log_warning(id, "reply status=%s not recorded (%s)",
			    q_state_name(c.state), c.why);
	} else {
		*out = c.final == QS_DONE ? REPLY_SENT :
		       c.final == QS_DEFERRED ? REPLY_DEFERRED : REPLY_FAILED;
		log_msg(c.final == QS_DONE ? LOG_INFO : LOG_WARNING, id,
			"to=<%s>, relay=%s, kind=reply, delay=%.2f, attempts=%u, "
			"msgid=<%s>, status=%s%s%s%s", c.e.peer,
			r->cfg->sendmail_argv ? r->cfg->sendmail_argv[0]
					      : r->cfg->smtp_relay,
			clock_since(t0), c.e.attempts + 1, msgid,
			c.final == QS_DONE ? "sent" : q_state_name(c.final),
			error ? " (" : "", error ? error : "", error ? ")" : "");
	}
	free(error);
	q_entry_free(&c.e);
	return 0;
}

int
reply_send_due(struct replier *r, int timeout_s, int max_secs, size_t *n_r,
	       struct pb_err *err)
{
	int64_t deadline = clock_ms() + (int64_t)max_secs * 1000;
	int progress = 1;

	*n_r = 0;
	while (progress && clock_ms() < deadline) {
		char (*ids)[QID_LEN + 1];
		size_t n;

		progress = 0;
		if (queue_due_ids(r->sp, NULL, spool_now(), DUE_SCAN, &ids, &n,
				  err) != 0)
			return -1;
		for (size_t i = 0; i < n && clock_ms() < deadline; i++) {
			enum reply_outcome out;
			struct q_entry e;
			struct pb_err gerr;

			if (queue_get(r->sp, NULL, ids[i], 0, &e, &gerr) != 0)
				continue;
			if (e.kind == Q_KIND_REPLY &&
			    reply_send(r, ids[i], timeout_s, &out, err) != 0) {
				q_entry_free(&e);
				free(ids);
				return -1;
			}
			if (e.kind == Q_KIND_REPLY && out != REPLY_SKIPPED) {
				(*n_r)++;
				progress = 1;
			}
			q_entry_free(&e);
		}
		free(ids);
	}
	return 0;
}
