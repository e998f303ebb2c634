/*
 * request.c - at ingest, a mail command becomes a reply entry (see
 * request.h).
 */
#include "bridge/request.h"
#include "spool/replylimit.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <string.h>

void
request_decide(struct request *rq, const struct config *cfg,
	       const struct mail_headers *h, const char *env_sender,
	       char *const *peers, size_t npeers, int loop, int carries_keys)
{
	struct reply_request req = {
		h->return_path, h->from_line, env_sender, h->auto_submitted,
		h->precedence, h->auto_response_suppress, h->has_list_header,
		h->n_keyserver_sent, loop, carries_keys,
	};
	/* Every Subject that is not a command gets "not supported" (the
	 * rate limits bound what that costs), as a reply pointing to HELP
	 * is what the person who typed it needs. */
	struct reply_options opt = {
		cfg->mail_commands, cfg->from_addr_bare, 1, peers, npeers,
	};

	memset(rq, 0, sizeof *rq);
	rq->h = h;
	mailcmd_from_raw(h->subject, &rq->cmd);
	rq->asked = mailcmd_answered(&rq->cmd);
	replypolicy_decide(&req, &rq->cmd, &opt, &rq->policy);
}

int
request_admit(struct spool *sp, DB_TXN *txn, const struct config *cfg,
	      struct request *rq, int64_t now, struct pb_err *err)
{
	enum replylimit_verdict v;
	int64_t wait;

	rq->admitted = 0;
	rq->why[0] = '\0';
	if (!rq->asked)
		return 0;
	if (rq->policy.verdict != REPLY_OK) {
		snprintf(rq->why, sizeof rq->why, "%s", rq->policy.reason);
		return 0;
	}
	if (replylimit_take(sp, txn, rq->policy.to, &cfg->reply_limit,
			    &cfg->reply_limit_total, now, &v, &wait, err) != 0)
		return -1;
	if (v == REPLYLIMIT_SENDER)
		snprintf(rq->why, sizeof rq->why, "no reply: reply_limit %u/%llds "
			 "for <%s> reached (next in %llds)", cfg->reply_limit.count,
			 (long long)cfg->reply_limit.period, rq->policy.to,
			 (long long)wait);
	else if (v == REPLYLIMIT_TOTAL)
		snprintf(rq->why, sizeof rq->why, "no reply: reply_limit_total "
			 "%u/%llds reached (next in %llds)",
			 cfg->reply_limit_total.count,
			 (long long)cfg->reply_limit_total.period, (long long)wait);
	else
		rq->admitted = 1;
	return 0;
}

void
request_record(const struct request *rq, struct mailreq *mr)
{
	memset(mr, 0, sizeof *mr);
	mr->cmd = rq->cmd;
	mailreq_set_references(mr, rq->h->references);
}

int
request_insert(struct spool *sp, DB_TXN *txn, const struct request *rq,
	       const struct mailreq *mr, const struct q_source *src,
	       int waits, int lease_secs, int64_t now,
	       char id_out[QID_LEN + 1], enum q_state *state_r,
	       struct pb_err *err)
{
	struct buf payload = BUF_INIT;
	struct q_entry e;
	int r;

	if (rq->admitted) {
		q_entry_new_reply(&e, QS_READY, rq->policy.to, NULL, src);
		e.payload_kind = Q_PAYLOAD_REQUEST;
		mailreq_encode(mr, &payload);
		if (lease_secs > 0)
			q_entry_lease_new(&e, now, lease_secs);
	} else {
		/* The address as far as it could be read, for the operator
		 * (printable ASCII, and only when it is a plain address). */
		q_entry_new_reply(&e, QS_SUPPRESSED, rq->policy.to[0] &&
				  rq->policy.verdict != REPLY_BAD_SENDER ?
				  rq->policy.to : NULL, rq->why, src);
	}
	e.created = now;
	if (rq->admitted && waits)
		r = queue_insert_child(sp, txn, src->parent, &e, payload.data,
				       payload.len, err);
	else
		r = queue_insert(sp, txn, &e, payload.data, payload.len, err);
	if (r == 0) {
		memcpy(id_out, e.id, QID_LEN + 1);
		*state_r = e.state;
	}
	q_entry_free(&e);
	buf_free(&payload);
	return r;
}
