/*
 * reply.c - the delivery agent for replies to mail commands (a row of
 * delivery.c's table; agent.h).
 *
 * A reply is delivered like sync mail, but each is its own mail, never
 * coalesced: it answers one request, and goes to one address (RFC 3834
 * asks for exactly one recipient per response).  The answer is looked
 * up now (bridge/answer.h), so a retry gets a fresh one; a key database
 * that cannot answer defers the entry like a relay that cannot take it.
 * Replies go out with a null envelope sender, so that one that bounces
 * comes back to nobody, through the same smtp_relay or sendmail_cmd as
 * sync mail.  One deliverer keeps one key database handle (and so its
 * HKP connection) for every reply it sends.
 */
#include "bridge/agent.h"
#include "bridge/answer.h"
#include "bridge/mailreq.h"
#include "mail/replymail.h"
#include "transport/transport.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rp_state {
	char msgid[REPLYMAIL_MSGID_MAX];	/* ours, once composed */
	uint64_t size;		/* the composed mail's bytes, 0 if none */
};

int
reply_lease_secs(int timeout_ms)
{
	/* A lookup and an SMTP conversation, each bounded, with room. */
	return 4 * (timeout_ms / 1000) + 60;
}

int
reply_accepts(const struct q_entry *e)
{
	return e->kind == Q_KIND_REPLY && e->peer;
}

/* read_request - the request entry e answers, into *mr.  Else the
 * outcome that says why not, with *error (owned). */
static enum q_state
read_request(struct deliverer *d, const struct q_entry *e, struct mailreq *mr,
	     char **error)
{
	struct buf payload = BUF_INIT;
	struct pb_err err;
	enum q_state st = QS_READY;

	memset(mr, 0, sizeof *mr);
	if (queue_get_payload(d->sp, NULL, e->id, &payload, &err) != 0) {
		*error = xasprintf("reading the request: %s", err.msg);
		st = QS_DEFERRED;
	} else if (mailreq_decode(payload.data, payload.len, mr, &err) != 0) {
		*error = xasprintf("%s", err.msg);
		st = QS_FAILED;
	} else if (answer_needs_db(&mr->cmd) && deliverer_keydb(d, &err) != 0) {
		*error = xasprintf("key database: %s", err.msg);
		st = QS_DEFERRED;
	}
	buf_free(&payload);
	return st;
}

/* compose_send - the reply to mr with answer a, to e's requester.  The
 * Subject names what it answers: the search, LAST's days, HELP's
 * language. */
static enum q_state
compose_send(struct agent_batch *b, const struct q_entry *e,
	     const struct mailreq *mr, const struct answer *a, char *msgid,
	     uint64_t *size, char **error)
{
	const struct config *cfg = b->d->cfg;
	struct buf mail = BUF_INIT;
	struct replymail rm;
	struct pb_err err;
	enum q_state st = QS_DONE;
	char days[16];

	memset(&rm, 0, sizeof rm);
	rm.to = e->peer;
	rm.command = mr->cmd.name[0] ? mr->cmd.name : "your mail";
	snprintf(days, sizeof days, "%u", mr->cmd.days);
	rm.search = mr->cmd.search_kind != MAILCMD_SEARCH_NONE &&
		    mr->cmd.search[0] ? mr->cmd.search :
		    mr->cmd.kind == MAILCMD_LAST ? days :
		    mr->cmd.lang[0] ? mr->cmd.lang : NULL;
	rm.in_reply_to = e->message_id;
	rm.references = mr->references;
	rm.text = buf_str(&a->text);
	rm.keys = a->keys.keys;
	rm.nkeys = a->keys.nkeys;
	if (replymail_compose(cfg, &rm, spool_now(), &mail, msgid, &err) != 0) {
		*error = xasprintf("composing: %s", err.msg);
		st = QS_FAILED;
	} else {
		/* The reply's size, whatever the send makes of it. */
		*size = mail.len;
		if (transport_send(cfg, e->peer, "", &mail,
				   b->timeout_ms / 1000, &err) != 0) {
			*error = xstrdup(err.msg);
			st = err.status == PB_ETEMP ? QS_DEFERRED : QS_FAILED;
		}
	}
	buf_free(&mail);
	return st;
}

/* attempt_one - everything between the claim and the record for it. */
static void
attempt_one(struct agent_batch *b, struct agent_item *it, char *msgid,
	    uint64_t *size)
{
	struct deliverer *d = b->d;
	struct mailreq mr;
	struct answer a;
	struct pb_err err;

	it->outcome = read_request(d, &it->entry, &mr, &it->error);
	if (it->outcome == QS_READY && deliverer_gate(d, &err) != 0) {
		it->error = xasprintf("key policy: %s", err.msg);
		it->outcome = QS_DEFERRED;
	} else if (it->outcome == QS_READY &&
	    answer_compose(d->cfg, d->db, d->gate, it->id, d->sp, &mr, spool_now(),
			   b->timeout_ms, &a, &err) != 0) {
		it->error = xasprintf("%s: %s", d->db ? d->db->name : d->cfg->keydb,
				      err.msg);
		it->outcome = QS_DEFERRED;
	} else if (it->outcome == QS_READY) {
		it->outcome = compose_send(b, &it->entry, &mr, &a, msgid, size,
					   &it->error);
		answer_free(&a);
	}
	mailreq_free(&mr);
}

int
reply_attempt(struct agent_batch *b, struct pb_err *err)
{
	struct rp_state *rs = xcalloc(1, sizeof *rs);

	(void)err;
	b->state = rs;
	for (size_t i = 0; i < b->n; i++)
		if (b->items[i].claimed)
			attempt_one(b, &b->items[i], rs->msgid, &rs->size);
	return 0;
}

int
reply_record(struct spool *sp, DB_TXN *txn, struct agent_batch *b,
	     struct agent_item *it, const struct q_entry *e, struct pb_err *err)
{
	const struct rp_state *rs = b->state;
	struct q_entry sized;
	int r;

	(void)it;
	/* The entry's size is what was composed (one_at_a_time: one item
	 * per batch), as queue list shows a mail's size. */
	if (rs->size == 0 || e->size == rs->size)
		return 0;
	q_entry_copy(&sized, e);
	sized.size = rs->size;
	r = queue_update(sp, txn, e, &sized, err);
	q_entry_free(&sized);
	return r;
}

void
reply_log(const struct agent_batch *b, const struct agent_item *it)
{
	const struct rp_state *rs = b->state;
	const struct config *cfg = b->d->cfg;

	if (!it->recorded) {
		log_warning(it->id, "reply status=%s not recorded (%s)",
			    q_state_name(it->outcome), it->why_lost);
		return;
	}
	log_msg(it->final == QS_DONE ? LOG_INFO : LOG_WARNING, it->id,
		"to=<%s>, relay=%s, kind=reply, delay=%.2f, attempts=%u, "
		"msgid=<%s>, status=%s%s%s%s", it->entry.peer,
		cfg->sendmail_argv ? cfg->sendmail_argv[0] : cfg->smtp_relay,
		clock_since(b->t0), it->entry.attempts + 1, rs->msgid,
		agent_status(it->final, "sent"), it->error ? " (" : "",
		it->error ? it->error : "", it->error ? ")" : "");
}

void
reply_done(struct agent_batch *b)
{
	free(b->state);
}
