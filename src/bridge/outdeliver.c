/*
 * outdeliver.c - sending what is queued for one PKS peer (see
 * outdeliver.h).
 */
#include "bridge/outdeliver.h"
#include "mail/outmail.h"
#include "openpgp/pgp.h"
#include "spool/dedup.h"
#include "spool/queue.h"
#include "transport/transport.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEER_SCAN_MAX 100000

struct ob_item {
	char id[QID_LEN + 1];
	struct q_entry entry;
	int outcome;		/* 0 pending, 1 done, 2 deferred, 3 failed,
				 * 4 suppressed */
};

struct ob_batch {
	const struct config *cfg;
	const char *peer;
	struct ob_item *items;
	size_t n;
	int lease_secs;
	/* results */
	char (*all)[QID_LEN + 1];	/* the peer's pending ids */
	size_t nall;
	const char *error;
	const struct pgp_key *sent;	/* keys sent, to remember */
	size_t nsent;
	int nothing_due;		/* claim_fn found no due entry */
};

/* room - what is left of max after used (the first entry of a mail may
 * exceed a bound on its own). */
static uint64_t
room(uint64_t max, uint64_t used)
{
	return used < max ? max - used : 0;
}

/* claim_fn - take this peer's entries for one mail: the due ones and
 * every ready one (that is the coalescing), oldest first, within the
 * batch bounds.  Nothing is taken unless at least one entry is due. */
static int
claim_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct ob_batch *b = vctx;
	int64_t now = spool_now();
	uint64_t keys = 0, bytes = 0;
	int any_due = 0;

	for (size_t i = 0; i < b->n; i++)
		q_entry_free(&b->items[i].entry);
	b->n = 0;
	for (size_t i = 0; i < b->nall; i++) {
		/* The first entry goes out whatever its size; the others
		 * only while the mail stays within the batch bounds. */
		struct q_lease_want want = {
			Q_OUTBOUND, now, b->lease_secs, Q_LEASE_READY_EARLY,
			b->n ? room(b->cfg->max_batch_keys, keys) : UINT64_MAX,
			b->n ? room(b->cfg->max_batch_bytes, bytes) : UINT64_MAX,
		};
		struct q_entry upd;
		char why[Q_WHY_LEN];
		int r;

		r = queue_lease(sp, txn, b->all[i], &want, &upd, why, err);
		if (r < 0 && err->status != PB_ENOTFOUND)
			return -1;
		if (r != 0)
			continue;
		any_due |= q_entry_due(&upd, now);
		memcpy(b->items[b->n].id, upd.id, QID_LEN + 1);
		b->items[b->n].entry = upd;
		b->items[b->n].outcome = 0;
		b->n++;
		keys += upd.nkeys;
		bytes += upd.payload_len;
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

/* finish_fn - record each item's outcome; remember what was sent. */
static int
finish_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct ob_batch *b = vctx;
	int64_t now = spool_now();

	for (size_t i = 0; i < b->n; i++) {
		struct ob_item *it = &b->items[i];
		struct q_entry e;
		char why[Q_WHY_LEN];
		int r;

		/* Refused or gone: held, retried or deleted by the operator
		 * meanwhile, and theirs wins. */
		r = queue_attempted(sp, txn, it->id, it->outcome == 1 ? QS_DONE :
				    it->outcome == 3 ? QS_FAILED :
				    it->outcome == 4 ? QS_SUPPRESSED : QS_DEFERRED,
				    b->error, b->cfg, now, &e, why, err);
		if (r < 0 && err->status != PB_ENOTFOUND)
			return -1;
		if (r == 0 && e.state == QS_FAILED)
			it->outcome = 3;
		if (r == 0)
			q_entry_free(&e);
	}
	for (size_t k = 0; k < b->nsent; k++)
		if (dedup_sent_record(sp, txn, b->peer, &b->sent[k], now, err) != 0)
			return -1;
	return 0;
}

/* release_fn - give back leases of a claim that will not be sent. */
static int
release_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct ob_batch *b = vctx;

	for (size_t i = 0; i < b->n; i++) {
		char why[Q_WHY_LEN];

		if (queue_unlease(sp, txn, b->items[i].id, why, err) < 0 &&
		    err->status != PB_ENOTFOUND)
			return -1;
	}
	return 0;
}

static int
same_key(const struct pgp_key *a, const struct pgp_key *b)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* gather - the keys of the claimed entries that this peer still needs:
 * not sent to it within dedup_ttl, no exact duplicate.  *keys_r owned. */
static int
gather(struct spool *sp, struct ob_batch *b, int64_t now, struct pgp_key **keys_r,
       size_t *n_r, struct pb_err *err)
{
	struct pgp_key *keys = NULL;
	size_t n = 0;

	for (size_t i = 0; i < b->n; i++) {
		struct buf payload = BUF_INIT;
		const unsigned char *kp;
		size_t off = 0, klen;

		if (queue_get_payload(sp, NULL, b->items[i].id, &payload, err) != 0) {
			buf_free(&payload);
			goto fail;
		}
		while (pgp_keyseq_next(payload.data, payload.len, &off, &kp,
					  &klen) == 1) {
			struct pgp_key k;
			struct pb_err kerr;
			size_t unsent;
			int dup = 0;

			if (pgp_parse_key_blob(kp, klen, &k, &kerr) != 0) {
				log_warning(b->items[i].id, "unreadable key in "
					    "payload: %s", kerr.msg);
				continue;
			}
			for (size_t j = 0; j < n && !dup; j++)
				dup = same_key(&keys[j], &k);
			if (!dup && dedup_sent_check(sp, NULL, b->peer, &k, now,
						     b->cfg->dedup_ttl, &unsent,
						     err) != 0) {
				pgp_key_free_contents(&k);
				buf_free(&payload);
				goto fail;
			}
			if (dup || unsent == 0) {
				pgp_key_free_contents(&k);
				continue;
			}
			keys = xreallocarray(keys, n + 1, sizeof *keys);
			keys[n++] = k;
		}
		buf_free(&payload);
	}
	*keys_r = keys;
	*n_r = n;
	return 0;
fail:
	for (size_t j = 0; j < n; j++)
		pgp_key_free_contents(&keys[j]);
	free(keys);
	return -1;
}

/* one_mail - claim, compose, send, record: one mail.  *done_r set when
 * nothing more is due for the peer. */
static int
one_mail(struct spool *sp, struct ob_batch *b, int timeout_s, size_t *sent_r,
	 int *done_r, struct pb_err *err)
{
	struct pgp_key *keys = NULL;
	size_t nkeys = 0;
	struct buf mail = BUF_INIT;
	struct pb_err terr;
	char msgid[256] = "";
	char *errtext = NULL;
	int64_t t0 = clock_ms();
	int64_t now = spool_now();
	int outcome, rc = -1;

	*done_r = 0;
	b->error = NULL;
	b->sent = NULL;
	b->nsent = 0;
	b->nothing_due = 0;
	/* The claim is synced: it is the lease that keeps every other
	 * process off these entries while the mail is in flight, and a
	 * recovery (run by whoever opens the spool after a process died
	 * inside Berkeley DB) keeps only what reached the disk.  A lost
	 * lease let a second runner send the same mail at the same time,
	 * and made finish_fn skip the entries as "changed by the operator"
	 * and then record them suppressed.  One fsync per mail. */
	if (spool_txn(sp, SPOOL_SYNC, claim_fn, b, err) != 0) {
		if (b->nothing_due) {
			*done_r = 1;
			return 0;
		}
		return -1;
	}
	if (b->n == 0) {
		*done_r = 1;
		return 0;
	}
	if (gather(sp, b, now, &keys, &nkeys, err) != 0) {
		spool_txn(sp, SPOOL_NOSYNC, release_fn, b, &terr);
		return -1;
	}
	pb_err_clear(&terr);
	if (nkeys == 0) {
		outcome = 4;
		errtext = xstrdup("this peer was already sent every packet "
				  "within dedup_ttl");
	} else if (outmail_compose(b->cfg, b->peer, keys, nkeys, now, &mail,
				   msgid, &terr) != 0) {
		outcome = 3;
		errtext = xasprintf("composing: %s", terr.msg);
	} else if (transport_send(b->cfg, b->peer, NULL, &mail, timeout_s, &terr) != 0) {
		outcome = terr.status == PB_EPERM ? 3 : 2;
		errtext = xstrdup(terr.msg);
	} else {
		outcome = 1;
		b->sent = keys;
		b->nsent = nkeys;
		(*sent_r)++;
	}
	for (size_t i = 0; i < b->n; i++)
		b->items[i].outcome = outcome;
	b->error = errtext;
	/* Synced, as the claim: a recovery keeps only what reached the
	 * disk, and a "sent" still in the log buffer would send the mail,
	 * and its packets, to the peer a second time (SPEC rule 6). */
	if (spool_txn(sp, SPOOL_SYNC, finish_fn, b, err) != 0)
		goto out;
	for (size_t i = 0; i < b->n; i++) {
		struct ob_item *it = &b->items[i];
		static const char *const names[] = {
			"?", "sent", "deferred", "failed", "suppressed",
		};

		log_msg(it->outcome == 1 ? LOG_INFO : LOG_WARNING, it->id,
			"to=<%s>, relay=%s, keys=%zu, mail_keys=%zu, delay=%.2f, "
			"attempts=%u, msgid=<%s>, status=%s%s%s%s", b->peer,
			b->cfg->sendmail_argv ? b->cfg->sendmail_argv[0]
					      : b->cfg->smtp_relay,
			it->entry.nkeys, nkeys, clock_since(t0),
			it->entry.attempts + 1, msgid, names[it->outcome],
			errtext ? " (" : "", errtext ? errtext : "",
			errtext ? ")" : "");
	}
	/* A failing peer: stop here, its other entries wait their turn. */
	*done_r = outcome == 2 || outcome == 3;
	rc = 0;
out:
	for (size_t i = 0; i < nkeys; i++)
		pgp_key_free_contents(&keys[i]);
	free(keys);
	free(errtext);
	buf_free(&mail);
	return rc;
}

int
outdeliver_peer(struct spool *sp, const struct config *cfg, const char *peer,
		int timeout_s, size_t *sent_r, struct pb_err *err)
{
	struct ob_batch b;
	int rc = 0, done = 0;

	*sent_r = 0;
	memset(&b, 0, sizeof b);
	b.cfg = cfg;
	b.peer = peer;
	b.lease_secs = 4 * timeout_s + 60;
	while (!done) {
		free(b.all);
		free(b.items);
		b.all = NULL;
		b.items = NULL;
		if (queue_peer_ids(sp, NULL, peer, PEER_SCAN_MAX, &b.all, &b.nall,
				   err) != 0) {
			rc = -1;
			break;
		}
		if (b.nall == 0)
			break;
		b.items = xcalloc(b.nall, sizeof *b.items);
		b.n = 0;
		if (one_mail(sp, &b, timeout_s, sent_r, &done, err) != 0) {
			rc = -1;
			break;
		}
		for (size_t i = 0; i < b.n; i++)
			q_entry_free(&b.items[i].entry);
		b.n = 0;
	}
	for (size_t i = 0; i < b.n; i++)
		q_entry_free(&b.items[i].entry);
	free(b.all);
	free(b.items);
	return rc;
}
