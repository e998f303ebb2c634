/*
 * outbound.c - outbound entries per PKS peer (see outbound.h).
 */
#include "bridge/outbound.h"
#include "spool/dedup.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* insert - one outbound entry: ready with payload, or a decision record
 * (suppressed) with a reason.  Keys listed are x's keys with want[i]. */
static int
insert(struct spool *sp, DB_TXN *txn, const struct extract *x,
       const unsigned char *want, const char *peer, enum q_state state,
       const char *reason, int64_t due, const struct q_source *o,
       struct outbound_result *res, struct pb_err *err)
{
	struct q_entry e;
	struct buf payload = BUF_INIT;
	int r;

	q_entry_new(&e, Q_OUTBOUND, Q_ORIGIN_LOCAL, state, due, reason, o);
	e.peer = peer ? xstrdup(peer) : NULL;
	for (size_t i = 0; i < x->keys.nkeys; i++)
		if (want[i])
			q_entry_add_key(&e, x->keys.keys[i].fpr_hex,
					x->keys.keys[i].uid);
	if (state == QS_READY) {
		extract_payload_subset(x, want, &payload);
		e.payload_kind = Q_PAYLOAD_KEYS;
	}
	r = queue_insert(sp, txn, &e, payload.data, payload.len, err);
	if (r == 0 && !res->first_id[0])
		memcpy(res->first_id, e.id, sizeof res->first_id);
	if (r == 0 && state == QS_READY) {
		struct outbound_queued *q;

		if (res->nready == res->queued_cap) {
			res->queued_cap = res->queued_cap ? 2 * res->queued_cap : 4;
			res->queued = xreallocarray(res->queued, res->queued_cap,
						    sizeof *res->queued);
		}
		q = &res->queued[res->nready++];
		memcpy(q->id, e.id, sizeof q->id);
		q->peer = peer;
		q->nkeys = e.nkeys;
	}
	q_entry_free(&e);
	buf_free(&payload);
	return r;
}

/* local_keys - of x's keys with take[i] (take NULL: all), mark in
 * considered those looked at and in local those that are not PKS
 * echoes, and record those as seen from a local source.  Their numbers
 * in *nconsidered_r and *nlocal_r. */
static int
local_keys(struct spool *sp, DB_TXN *txn, const struct config *cfg,
	   const struct extract *x, const unsigned char *take, int64_t now,
	   unsigned char *considered, unsigned char *local,
	   size_t *nconsidered_r, size_t *nlocal_r, struct outbound_result *res,
	   struct pb_err *err)
{
	*nconsidered_r = *nlocal_r = 0;
	for (size_t i = 0; i < x->keys.nkeys; i++) {
		const struct pgp_key *k = &x->keys.keys[i];
		struct dedup_verdict v;

		if (take && !take[i])
			continue;
		considered[i] = 1;
		(*nconsidered_r)++;
		if (dedup_check_key(sp, txn, k, now, cfg->dedup_ttl, &v, err) != 0)
			return -1;
		/* Every packet came from PKS recently: SKS is echoing what
		 * we fed it, and PKS has it already. */
		if (v.npackets > 0 && v.n_from_pks == v.npackets) {
			res->nechoes++;
			continue;
		}
		local[i] = 1;
		(*nlocal_r)++;
		if (dedup_record_key(sp, txn, k, Q_ORIGIN_LOCAL, now, err) != 0)
			return -1;
	}
	return 0;
}

/* for_peer - peer's entry: the local keys it was not sent within
 * dedup_ttl, due after batch_window; or, with none, a suppressed one. */
static int
for_peer(struct spool *sp, DB_TXN *txn, const struct config *cfg,
	 const struct extract *x, const unsigned char *local,
	 unsigned char *send, const char *peer, int64_t now,
	 const struct q_source *o, struct outbound_result *res,
	 struct pb_err *err)
{
	size_t nsend = 0;
	int r;

	for (size_t i = 0; i < x->keys.nkeys; i++) {
		size_t unsent;

		send[i] = 0;
		if (!local[i])
			continue;
		if (dedup_sent_check(sp, txn, peer, &x->keys.keys[i], now,
				     cfg->dedup_ttl, &unsent, err) != 0)
			return -1;
		send[i] = unsent > 0;
		nsend += send[i];
	}
	if (nsend == 0)
		r = insert(sp, txn, x, local, peer, QS_SUPPRESSED, "this peer was "
			   "already sent every packet within dedup_ttl", 0, o,
			   res, err);
	else
		r = insert(sp, txn, x, send, peer, QS_READY, NULL,
			   now + cfg->batch_window, o, res, err);
	if (r == 0 && nsend == 0)
		res->nsuppressed++;
	return r;
}

int
outbound_enqueue(struct spool *sp, DB_TXN *txn, const struct config *cfg,
		 const struct extract *x, const unsigned char *take,
		 char *const *peers, size_t npeers, const char *sender,
		 uint64_t size, const char *parent, int64_t now,
		 struct outbound_result *res, struct pb_err *err)
{
	size_t n = x->keys.nkeys, nlocal, nconsidered;
	unsigned char *local = xcalloc(n + 1, 1);
	unsigned char *send = xcalloc(n + 1, 1);
	unsigned char *considered = xcalloc(n + 1, 1);
	struct q_source o = { sender, x->h.message_id, size, parent };
	char why[160];
	int r;

	res->nready = res->nsuppressed = res->nechoes = 0;
	res->first_id[0] = '\0';
	r = local_keys(sp, txn, cfg, x, take, now, considered, local,
		       &nconsidered, &nlocal, res, err);
	if (r != 0 || nconsidered == 0) {
		;	/* failed, or nothing to consider */
	} else if (nlocal == 0) {
		snprintf(why, sizeof why, "echo of PKS traffic: every packet of "
			 "the %zu key(s) arrived from PKS within dedup_ttl",
			 nconsidered);
		r = insert(sp, txn, x, considered, NULL, QS_SUPPRESSED, why, 0, &o,
			   res, err);
		res->nsuppressed += r == 0;
	} else if (npeers == 0) {
		/* Where the peers came from, so the reason names what to fix:
		 * an ADD mail (parent set) goes to mailsync_file's peers; the
		 * sendmail intake to its recipients, which SKS takes from its
		 * own mailsync file. */
		r = insert(sp, txn, x, local, NULL, QS_SUPPRESSED,
			   parent ? "no PKS peers: mailsync_file lists none" :
			   "no PKS peers: the mail named no recipient (none "
			   "given, and no To/Cc/Bcc with -t)", 0, &o, res, err);
		res->nsuppressed += r == 0;
	} else {
		for (size_t p = 0; p < npeers && r == 0; p++)
			r = for_peer(sp, txn, cfg, x, local, send, peers[p], now,
				     &o, res, err);
	}
	free(local);
	free(send);
	free(considered);
	return r;
}

void
outbound_log_queued(const struct outbound_result *res)
{
	for (size_t i = 0; i < res->nready; i++)
		log_info(res->queued[i].id, "to=<%s>, keys=%zu, origin=local, "
			 "status=queued", res->queued[i].peer,
			 res->queued[i].nkeys);
}

void
outbound_result_free(struct outbound_result *res)
{
	free(res->queued);
	res->queued = NULL;
	res->queued_cap = res->nready = 0;
}
