/*
 * deliver.c - delivery attempts of inbound entries (see deliver.h).
 *
 * A batch goes through four steps: claim the entries (one transaction,
 * leases), read their keys, ask GnuPG about all of them in one call and
 * hand the accepted ones to the key database in one call, then record
 * every entry's outcome (one transaction).  Batching is what makes bulk
 * delivery cheap: gpg starts once per batch instead of once per mail.
 */
#include "bridge/deliver.h"
#include "bridge/addreply.h"
#include "keydb/keydb.h"
#include "openpgp/keycheck.h"
#include "openpgp/pgp.h"
#include "spool/dedup.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct deliverer {
	struct spool *sp;
	const struct config *cfg;
	struct keydb *db;
	struct keycheck *kc;
	char reply_id[QID_LEN + 1];	/* the last ADD reply made, or "" */
};

struct deliverer *
deliver_open(struct spool *sp, const struct config *cfg)
{
	struct deliverer *d = xcalloc(1, sizeof *d);

	d->sp = sp;
	d->cfg = cfg;
	return d;
}

void
deliver_close(struct deliverer *d)
{
	if (!d)
		return;
	if (d->db)
		d->db->close(d->db);
	if (d->kc)
		keycheck_close(d->kc);
	free(d);
}

int
deliver_lease_secs(int timeout_ms)
{
	/* The key check and the database call together, with room. */
	return 2 * (timeout_ms / 1000) + 60;
}

/* One entry of a batch. */
struct item {
	const char *id;
	int claimed;
	struct q_entry entry;		/* as claimed */
	size_t first, nkeys;		/* its keys in the batch's key array */
	enum deliver_outcome outcome;
	char *error;			/* owned */
	struct q_entry rejected;	/* keys GnuPG refused, to split off */
	struct buf rpayload;
	struct mailreq lines;		/* an ADD's reply (entry.request
					 * set): keys GnuPG refused */
	struct mailreq described;	/* what the others add, if delivered */
	/* results of the finishing transaction */
	enum deliver_outcome final;
	char quarantine_id[QID_LEN + 1];
	char reply_id[QID_LEN + 1];	/* the ADD's reply entry, or "" */
	int lost_lease;
	char why_lost[Q_WHY_LEN];	/* why the outcome was not recorded */
};

struct batch {
	struct deliverer *d;
	struct item *items;
	size_t n;
	const struct pgp_key *keys;	/* every item's keys */
	int lease_secs;
};

static int
claim_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct batch *b = vctx;
	int64_t now = spool_now();

	struct q_lease_want want = { Q_INBOUND, now, b->lease_secs, 0,
				     UINT64_MAX, UINT64_MAX };

	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];
		char why[Q_WHY_LEN];
		int r;

		it->claimed = 0;
		q_entry_free(&it->entry);
		/* Not due, gone, or another live process has it (a
		 * filter leases its own entry when it commits, so the lease
		 * it finds here is its own). */
		r = queue_lease(sp, txn, it->id, &want, &it->entry, why, err);
		if (r < 0 && err->status != PB_ENOTFOUND)
			return -1;
		it->claimed = r == 0;
	}
	return 0;
}

static int
finish_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct batch *b = vctx;
	int64_t now = spool_now();

	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];
		struct q_entry e;
		int r;

		it->quarantine_id[0] = '\0';
		it->reply_id[0] = '\0';
		it->lost_lease = 0;
		if (!it->claimed)
			continue;
		r = queue_attempted(sp, txn, it->id,
				    it->outcome == DELIVER_DONE ? QS_DONE :
				    it->outcome == DELIVER_FAILED ? QS_FAILED :
				    it->outcome == DELIVER_QUARANTINED ?
				    QS_QUARANTINED : QS_DEFERRED, it->error,
				    b->d->cfg, now, &e, it->why_lost, err);
		if (r < 0 && err->status == PB_ENOTFOUND) {
			snprintf(it->why_lost, sizeof it->why_lost,
				 "deleted by the operator during delivery");
			r = 1;
		}
		if (r < 0)
			return -1;
		if (r > 0) {
			/* Held, retried or deleted by the operator
			 * meanwhile: theirs wins. */
			it->lost_lease = 1;
			continue;
		}
		it->final = e.state == QS_FAILED ? DELIVER_FAILED :
			    e.state == QS_DEFERRED ? DELIVER_DEFERRED : it->outcome;
		/* A failed entry must not make its keys look seen: a resend
		 * within dedup_ttl would be taken for a duplicate and the
		 * keys never delivered.  (Keys GnuPG rejected stay seen: a
		 * resend would be rejected again.) */
		for (size_t k = it->first; r == 0 && e.state == QS_FAILED &&
		     k < it->first + it->nkeys; k++)
			r = dedup_forget_key(sp, txn, &b->keys[k], e.origin,
					     e.created, err);
		if (r == 0 && it->rejected.nkeys) {
			struct q_entry q;

			q_entry_copy(&q, &it->rejected);
			r = queue_insert(sp, txn, &q, it->rpayload.data,
					 it->rpayload.len, err);
			memcpy(it->quarantine_id, q.id, sizeof q.id);
			q_entry_free(&q);
		}
		/* An ADD is answered once its entry is finished, in the
		 * transaction that says so. */
		if (r == 0 && e.request && e.reply_to && e.state != QS_DEFERRED) {
			struct mailreq lines = { 0 };

			for (size_t l = 0; l < it->lines.nlines; l++)
				mailreq_add_line(&lines, "%s", it->lines.lines[l]);
			for (size_t l = 0; e.state == QS_DONE &&
			     l < it->described.nlines; l++)
				mailreq_add_line(&lines, "%s",
						 it->described.lines[l]);
			if (e.state == QS_FAILED)
				mailreq_add_line(&lines, "refused: %s", e.last_error ?
						 e.last_error : "failed");
			r = addreply_insert(sp, txn, &e, &lines, now, it->reply_id,
					    err);
			mailreq_free(&lines);
		}
		q_entry_free(&e);
		if (r != 0)
			return -1;
	}
	return 0;
}

static const char *
outcome_name(enum deliver_outcome o)
{
	switch (o) {
	case DELIVER_SKIPPED: return "skipped";
	case DELIVER_DONE: return "delivered";
	case DELIVER_DEFERRED: return "deferred";
	case DELIVER_FAILED: return "failed";
	case DELIVER_QUARANTINED: return "quarantined";
	}
	return "?";
}

/* set_outcome - for every claimed item still undecided. */
static void
set_outcome(struct batch *b, enum deliver_outcome o, const char *error)
{
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];

		if (!it->claimed || it->outcome != DELIVER_SKIPPED)
			continue;
		it->outcome = o;
		free(it->error);
		it->error = error ? xstrdup(error) : NULL;
	}
}

/* read_keys - every claimed item's keys into *keys_r (owned), dropping
 * each payload as soon as it is parsed so a large batch is held once. */
static int
read_keys(struct batch *b, struct pgp_key **keys_r, size_t *nkeys_r,
	  struct pb_err *err)
{
	struct pgp_key *keys = NULL;
	size_t nkeys = 0;

	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];
		struct buf payload = BUF_INIT;
		const unsigned char *kp;
		size_t off = 0, klen;
		struct pb_err kerr;
		int r;

		if (!it->claimed)
			continue;
		if (queue_get_payload(b->d->sp, NULL, it->id, &payload, err) != 0) {
			buf_free(&payload);
			*keys_r = keys;
			*nkeys_r = nkeys;
			return -1;
		}
		it->first = nkeys;
		pb_err_clear(&kerr);
		while ((r = pgp_keyseq_next(payload.data, payload.len, &off,
					       &kp, &klen)) == 1) {
			keys = xreallocarray(keys, nkeys + 1, sizeof *keys);
			if (pgp_parse_key_blob(kp, klen, &keys[nkeys], &kerr) != 0) {
				r = -1;
				break;
			}
			nkeys++;
		}
		it->nkeys = nkeys - it->first;
		buf_free(&payload);
		if (r < 0 || it->nkeys == 0) {
			/* Our bug or disk damage: retrying cannot help. */
			it->outcome = DELIVER_FAILED;
			it->error = xasprintf("unreadable payload: %s",
					      kerr.msg[0] ? kerr.msg : "no keys");
		}
	}
	*keys_r = keys;
	*nkeys_r = nkeys;
	return 0;
}

/* split_rejected - per item, keys GnuPG refused become a quarantined
 * entry; an item with none left is itself quarantined.  Fills good[]
 * with shallow copies of the accepted keys of undecided items.  A key
 * GnuPG parsed but found no self-signature for is a PKS delta, not a bad
 * key, when the key database merges packets: it goes through (unless it
 * is a primary key packet alone, which adds nothing to any key). */
static size_t
split_rejected(struct batch *b, struct pgp_key *keys, const unsigned char *accepted,
	       const char **reasons, struct pgp_key *good, unsigned char *kept_r)
{
	size_t ngood = 0;
	int merges = keydb_merges(b->d->cfg->keydb);

	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];
		struct buf why = BUF_INIT;
		size_t kept = 0;

		if (!it->claimed || it->outcome != DELIVER_SKIPPED)
			continue;
		for (size_t k = it->first; k < it->first + it->nkeys; k++) {
			struct q_entry *r = &it->rejected;

			if (accepted[k] || (merges && keys[k].npackets > 1 &&
					    keycheck_unbound(reasons[k]))) {
				good[ngood++] = keys[k];
				kept_r[k] = 1;
				kept++;
				continue;
			}
			if (it->entry.request)
				mailreq_add_line(&it->lines, "%s: refused: GnuPG "
						 "rejected it: %s", keys[k].fpr_hex,
						 reasons[k] ? reasons[k] : "unusable");
			if (r->nkeys == 0) {
				struct q_source src = {
					it->entry.sender, it->entry.message_id,
					it->entry.size, it->id,
				};

				q_entry_new_quarantine(r, Q_INBOUND,
						       it->entry.origin, NULL,
						       &src);
				r->payload_kind = Q_PAYLOAD_KEYS;
			}
			q_entry_add_key(r, keys[k].fpr_hex, keys[k].uid);
			pgp_keyseq_add(&it->rpayload, keys[k].data, keys[k].len);
			buf_printf(&why, "%sGnuPG rejected key %s: %s",
				   why.len ? "; " : "", keys[k].fpr_hex,
				   reasons[k] ? reasons[k] : "unusable");
		}
		if (why.len) {
			if (kept == 0) {
				/* Nothing left: the entry itself is the
				 * quarantine record. */
				it->outcome = DELIVER_QUARANTINED;
				it->error = (char *)buf_steal(&why, NULL);
				q_entry_free(&it->rejected);
				buf_free(&it->rpayload);
			} else {
				it->rejected.last_error = (char *)buf_steal(&why, NULL);
			}
		}
		buf_free(&why);
	}
	return ngood;
}

/* describe_adds - before the put: for every ADD in the batch, what each
 * of its keys adds to the database's copy (addreply.h).  An ADD is a
 * person's, so the few lookups this costs are worth the answer. */
static void
describe_adds(struct deliverer *d, struct batch *b, const struct pgp_key *keys,
	      const unsigned char *kept, int timeout_ms)
{
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];

		if (!it->claimed || it->outcome != DELIVER_SKIPPED ||
		    !it->entry.request)
			continue;
		for (size_t k = it->first; k < it->first + it->nkeys; k++)
			if (kept[k])
				addreply_describe(d->db, &keys[k],
						  (size_t)d->cfg->max_key_size,
						  timeout_ms / 4, &it->described);
		if (strncmp(d->cfg->keydb, "sks:", 4) == 0)
			mailreq_add_line(&it->described, "(handed to SKS, which merges "
					 "keys within about ten seconds and reports "
					 "no refusals)");
	}
}

static int
keycheck_ready(struct deliverer *d, struct pb_err *err)
{
	char *home;
	int r;

	if (d->kc)
		return 0;
	home = xasprintf("%s/keycheck", d->sp->dir);
	r = keycheck_open(home, &d->kc, err);
	free(home);
	return r;
}

int
deliver_inbound_batch(struct deliverer *d, const char *const *ids, size_t n,
		      int timeout_ms, enum deliver_outcome *outcomes,
		      struct pb_err *err)
{
	struct batch b;
	struct pgp_key *keys = NULL, *good = NULL;
	unsigned char *accepted = NULL;
	const char **reasons = NULL;
	unsigned char *kept = NULL;
	size_t nkeys = 0, ngood = 0, nclaimed = 0;
	struct pb_err derr;
	int64_t t0 = clock_ms();
	char *errtext = NULL;
	int rc = -1;

	memset(&b, 0, sizeof b);
	b.d = d;
	b.n = n;
	b.lease_secs = deliver_lease_secs(timeout_ms);
	b.items = xcalloc(n + 1, sizeof *b.items);
	for (size_t i = 0; i < n; i++) {
		b.items[i].id = ids[i];
		outcomes[i] = DELIVER_SKIPPED;
	}

	if (spool_txn(d->sp, SPOOL_NOSYNC, claim_fn, &b, err) != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		nclaimed += b.items[i].claimed;
	if (nclaimed == 0) {
		rc = 0;
		goto out;
	}
	if (read_keys(&b, &keys, &nkeys, err) != 0)
		goto out;

	pb_err_clear(&derr);
	accepted = xcalloc(nkeys + 1, 1);
	reasons = xcalloc(nkeys + 1, sizeof *reasons);
	good = xcalloc(nkeys + 1, sizeof *good);
	kept = xcalloc(nkeys + 1, 1);
	if (keycheck_ready(d, &derr) != 0 ||
	    keycheck_keys(d->kc, keys, nkeys, accepted, reasons, &derr) != 0) {
		errtext = xasprintf("key check: %s", derr.msg);
		set_outcome(&b, DELIVER_DEFERRED, errtext);
	} else {
		ngood = split_rejected(&b, keys, accepted, reasons, good, kept);
		if (ngood == 0) {
			;	/* every item decided already */
		} else if (!d->db && keydb_open(d->cfg->keydb, &d->db, &derr) != 0) {
			errtext = xasprintf("key database: %s", derr.msg);
			set_outcome(&b, DELIVER_DEFERRED, errtext);
		} else {
			describe_adds(d, &b, keys, kept, timeout_ms);
			if (d->db->put(d->db, ids[0], good, ngood, timeout_ms,
				       &derr) != 0) {
				errtext = xasprintf("%s: %s", d->db->name, derr.msg);
				set_outcome(&b, derr.status == PB_EPERM ?
					    DELIVER_FAILED : DELIVER_DEFERRED,
					    errtext);
			} else {
				set_outcome(&b, DELIVER_DONE, NULL);
			}
		}
	}

	b.keys = keys;
	/* Synced: a recovery keeps only what reached the disk, and an
	 * outcome still in the log buffer would make the batch go again. */
	if (spool_txn(d->sp, SPOOL_SYNC, finish_fn, &b, err) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct item *it = &b.items[i];

		if (!it->claimed)
			continue;
		if (it->lost_lease) {
			log_warning(it->id, "status=%s not recorded (%s)",
				    outcome_name(it->outcome), it->why_lost);
			continue;
		}
		outcomes[i] = it->final;
		log_msg(it->final == DELIVER_DONE ? LOG_INFO : LOG_WARNING, it->id,
			"to=<%s>, keys=%zu, delay=%.2f, attempts=%u, status=%s%s%s%s",
			d->db ? d->db->name : d->cfg->keydb,
			it->final == DELIVER_DONE ? it->nkeys - it->rejected.nkeys : 0,
			clock_since(t0),
			it->entry.attempts + 1, outcome_name(it->final),
			it->error ? " (" : "", it->error ? it->error : "",
			it->error ? ")" : "");
		if (it->quarantine_id[0])
			log_notice(it->quarantine_id, "parent=%s, status=quarantined (%s)",
				   it->id, it->rejected.last_error);
	}
	rc = 0;
out:
	for (size_t i = 0; i < nkeys; i++)
		pgp_key_free_contents(&keys[i]);
	free(keys);
	free(good);
	free(accepted);
	free(reasons);
	free(kept);
	free(errtext);
	d->reply_id[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (b.items[i].reply_id[0])
			memcpy(d->reply_id, b.items[i].reply_id, sizeof d->reply_id);
		mailreq_free(&b.items[i].lines);
		mailreq_free(&b.items[i].described);
		q_entry_free(&b.items[i].entry);
		q_entry_free(&b.items[i].rejected);
		buf_free(&b.items[i].rpayload);
		free(b.items[i].error);
	}
	free(b.items);
	return rc;
}

int
deliver_inbound(struct deliverer *d, const char *id, int timeout_ms,
		enum deliver_outcome *out, struct pb_err *err)
{
	return deliver_inbound_batch(d, &id, 1, timeout_ms, out, err);
}

const char *
deliver_reply_id(const struct deliverer *d)
{
	return d->reply_id[0] ? d->reply_id : NULL;
}
