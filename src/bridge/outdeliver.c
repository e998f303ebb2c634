/*
 * outdeliver.c - the delivery agent for sync mail: what is queued for
 * one PKS peer, in one mail (a row of delivery.c's table; agent.h).
 *
 * Everything pending for the peer goes out together: when one of its
 * entries is due, its ready entries are coalesced into one mail, bounded
 * by max_batch_keys and max_batch_bytes, further mails following until
 * nothing due is left (delivery_peer).  Every key passes the key policy
 * first (gate.h: trimmed; a blocked key only as its revocations; one
 * with nothing valid left not at all), so a peer never gets a flood.
 * A delta is judged alone, without asking the key database: its
 * packets that need the stored key are left out, never passed unjudged.
 * Keys the peer was already sent within dedup_ttl are left out, and
 * exact duplicates sent once.  The
 * outcome is one for the whole mail: done (and the packets remembered
 * as sent to this peer), deferred per retry_schedule (SMTP 4xx, network,
 * timeouts), failed (5xx, or max_queue_lifetime passed), or suppressed
 * (nothing left to send).  The runner calls this in a child process per
 * peer, so a dead or slow peer never delays the others.
 */
#include "bridge/agent.h"
#include "mail/outmail.h"
#include "openpgp/pgp.h"
#include "spool/dedup.h"
#include "transport/transport.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the attempt keeps for the record and the log. */
struct pd_batch {
	struct pgp_key *keys;	/* the keys the mail carries (owned) */
	size_t nkeys;
	size_t refused;		/* keys the key policy let none of through */
	struct gate_tally tally;	/* for the spool's counters */
	int sent;		/* the mail went out: remember its keys */
	char msgid[256];
};

int
peer_lease_secs(int timeout_ms)
{
	return 4 * (timeout_ms / 1000) + 60;
}

/* room - what is left of max after used (the first entry of a mail may
 * exceed a bound on its own). */
static uint64_t
room(uint64_t max, uint64_t used)
{
	return used < max ? max - used : 0;
}

/* peer_claim - take this peer's entries for one mail: the due ones and
 * every ready one (that is the coalescing), oldest first, within the
 * batch bounds.  Nothing is taken unless at least one entry is due. */
int
peer_claim(struct spool *sp, DB_TXN *txn, struct agent_batch *b,
	   struct pb_err *err)
{
	const struct config *cfg = b->d->cfg;
	int64_t now = spool_now();
	uint64_t keys = 0, bytes = 0;
	int any_due = 0;

	for (size_t i = 0; i < b->n; i++)
		q_entry_free(&b->items[i].entry);
	b->n = 0;
	for (size_t i = 0; i < b->ncandidates; i++) {
		/* The first entry goes out whatever its size; the others
		 * only while the mail stays within the batch bounds. */
		struct q_lease_want want = {
			Q_OUTBOUND, now, b->lease_secs, Q_LEASE_READY_EARLY,
			b->n ? room(cfg->max_batch_keys, keys) : UINT64_MAX,
			b->n ? room(cfg->max_batch_bytes, bytes) : UINT64_MAX,
		};
		struct agent_item *it = &b->items[b->n];
		char why[Q_WHY_LEN];
		int r;

		r = queue_lease(sp, txn, b->candidates[i], &want, &it->entry, why,
				err);
		if (r < 0 && err->status != PB_ENOTFOUND)
			return -1;
		if (r != 0)
			continue;
		any_due |= q_entry_due(&it->entry, now);
		memcpy(it->id, it->entry.id, sizeof it->id);
		it->claimed = 1;
		b->n++;
		keys += it->entry.nkeys;
		bytes += it->entry.payload_len;
	}
	if (!any_due) {
		/* A burst still inside its batch window: fail the txn so
		 * that the leases just taken are rolled back. */
		for (size_t i = 0; i < b->n; i++)
			q_entry_free(&b->items[i].entry);
		b->n = 0;
		b->nothing_due = 1;
		return pb_err_set(err, PB_ETEMP, "nothing due for %s yet", b->peer);
	}
	return 0;
}

static int
same_key(const struct pgp_key *a, const struct pgp_key *b)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* judge - key k through the key policy at the peer door: trimmed in
 * place (0), or freed and left out (-1). */
static int
judge(struct agent_batch *b, struct pd_batch *pd, const char *id,
      struct pgp_key *k)
{
	struct policy_result res;
	struct pgp_key t;
	struct pb_err err;
	int pass = 0;

	if (gate_judge(b->d->gate, GATE_PEER, k, NULL, 0, &res, &err) == 0) {
		gate_log(id, GATE_PEER, k, &res);
		gate_tally_add(&pd->tally, &res);
		pass = gate_passes(GATE_PEER, &res) && gate_take(&res, &t, &err) == 0;
	} else {
		log_warning(id, "key=%s, door=peer, not passed: %s", k->fpr_hex,
			    err.msg);
	}
	policy_result_free(&res);
	pgp_key_free_contents(k);
	if (!pass) {
		pd->refused++;
		return -1;
	}
	*k = t;
	return 0;
}

/* gather_one - the keys of payload that the peer still needs (not sent
 * to it within dedup_ttl, no exact duplicate), appended to pd. */
static int
gather_one(struct agent_batch *b, struct pd_batch *pd, const char *id,
	   const struct buf *payload, int64_t now, struct pb_err *err)
{
	const unsigned char *kp;
	size_t off = 0, klen;

	while (pgp_keyseq_next(payload->data, payload->len, &off, &kp, &klen) == 1) {
		struct pgp_key k;
		struct pb_err kerr;
		size_t unsent = 0;
		int dup = 0;

		if (pgp_parse_key_blob(kp, klen, &k, &kerr) != 0) {
			log_warning(id, "unreadable key in payload: %s", kerr.msg);
			continue;
		}
		if (judge(b, pd, id, &k) != 0)
			continue;
		for (size_t j = 0; j < pd->nkeys && !dup; j++)
			dup = same_key(&pd->keys[j], &k);
		if (!dup && dedup_sent_check(b->d->sp, NULL, b->peer, &k, now,
					     b->d->cfg->dedup_ttl, &unsent,
					     err) != 0) {
			pgp_key_free_contents(&k);
			return -1;
		}
		if (dup || unsent == 0) {
			pgp_key_free_contents(&k);
			continue;
		}
		pd->keys = xreallocarray(pd->keys, pd->nkeys + 1, sizeof *pd->keys);
		pd->keys[pd->nkeys++] = k;
	}
	return 0;
}

/* gather - the keys of the claimed entries that this peer still needs. */
static int
gather(struct agent_batch *b, struct pd_batch *pd, int64_t now,
       struct pb_err *err)
{
	for (size_t i = 0; i < b->n; i++) {
		struct buf payload = BUF_INIT;
		int r = queue_get_payload(b->d->sp, NULL, b->items[i].id, &payload,
					  err);

		if (r == 0)
			r = gather_one(b, pd, b->items[i].id, &payload, now, err);
		buf_free(&payload);
		if (r != 0)
			return -1;
	}
	return 0;
}

/* release_fn - give back the leases of a claim that will not be sent. */
static int
release_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct agent_batch *b = vctx;

	for (size_t i = 0; i < b->n; i++) {
		char why[Q_WHY_LEN];

		if (queue_unlease(sp, txn, b->items[i].id, why, err) < 0 &&
		    err->status != PB_ENOTFOUND)
			return -1;
	}
	return 0;
}

int
peer_attempt(struct agent_batch *b, struct pb_err *err)
{
	const struct config *cfg = b->d->cfg;
	struct pd_batch *pd = xcalloc(1, sizeof *pd);
	struct buf mail = BUF_INIT;
	struct pb_err terr;
	int64_t now = spool_now();
	int timeout_s = b->timeout_ms / 1000;
	char *why;

	b->state = pd;
	if (deliverer_gate(b->d, &terr) != 0) {
		why = xasprintf("key policy: %s", terr.msg);
		agent_set_outcome(b, QS_DEFERRED, why);
		free(why);
		return 0;
	}
	if (gather(b, pd, now, err) != 0) {
		spool_txn(b->d->sp, SPOOL_NOSYNC, release_fn, b, &terr);
		return -1;
	}
	pb_err_clear(&terr);
	if (pd->nkeys == 0 && pd->refused) {
		agent_set_outcome(b, QS_SUPPRESSED, "the key policy let nothing "
				  "through (see the policy= log lines), and the "
				  "peer was already sent the rest within "
				  "dedup_ttl");
	} else if (pd->nkeys == 0) {
		agent_set_outcome(b, QS_SUPPRESSED, "this peer was already sent "
				  "every packet within dedup_ttl");
	} else if (outmail_compose(cfg, b->peer, pd->keys, pd->nkeys, now, &mail,
				   pd->msgid, &terr) != 0) {
		why = xasprintf("composing: %s", terr.msg);
		agent_set_outcome(b, QS_FAILED, why);
		free(why);
	} else if (transport_send(cfg, b->peer, NULL, &mail, timeout_s,
				  &terr) != 0) {
		agent_set_outcome(b, terr.status == PB_EPERM ? QS_FAILED :
				  QS_DEFERRED, terr.msg);
	} else {
		agent_set_outcome(b, QS_DONE, NULL);
		pd->sent = 1;
	}
	buf_free(&mail);
	return 0;
}

/* peer_record_batch - the packets of a mail that went out count as sent
 * to this peer (SPEC: only once a delivery of them succeeded). */
int
peer_record_batch(struct spool *sp, DB_TXN *txn, struct agent_batch *b,
		  struct pb_err *err)
{
	struct pd_batch *pd = b->state;
	int64_t now = spool_now();

	for (size_t k = 0; pd->sent && k < pd->nkeys; k++)
		if (dedup_sent_record(sp, txn, b->peer, &pd->keys[k], now, err) != 0)
			return -1;
	/* Counted once the mail is final (sent, failed or suppressed): a
	 * deferred one is judged again. */
	for (size_t i = 0; i < b->n; i++)
		if (b->items[i].recorded && b->items[i].final != QS_DEFERRED)
			return gate_tally_record(sp, txn, GATE_PEER, &pd->tally, err);
	return 0;
}

void
peer_log(const struct agent_batch *b, const struct agent_item *it)
{
	const struct pd_batch *pd = b->state;
	const struct config *cfg = b->d->cfg;
	/* Not recorded (the operator's meanwhile): what was attempted. */
	enum q_state st = it->recorded ? it->final : it->outcome;

	log_msg(st == QS_DONE ? LOG_INFO : LOG_WARNING, it->id,
		"to=<%s>, relay=%s, keys=%zu, mail_keys=%zu, delay=%.2f, "
		"attempts=%u, msgid=<%s>, status=%s%s%s%s", b->peer,
		cfg->sendmail_argv ? cfg->sendmail_argv[0] : cfg->smtp_relay,
		it->entry.nkeys, pd->nkeys, clock_since(b->t0),
		it->entry.attempts + 1, pd->msgid, agent_status(st, "sent"),
		it->error ? " (" : "", it->error ? it->error : "",
		it->error ? ")" : "");
}

void
peer_done(struct agent_batch *b)
{
	struct pd_batch *pd = b->state;

	if (!pd)
		return;
	for (size_t i = 0; i < pd->nkeys; i++)
		pgp_key_free_contents(&pd->keys[i]);
	free(pd->keys);
	free(pd);
}
