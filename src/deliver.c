/*
 * deliver.c - one delivery attempt of one inbound entry (see deliver.h).
 */
#include "deliver.h"
#include "keycheck.h"
#include "keydb.h"
#include "log.h"
#include "pgp.h"
#include "xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct deliverer {
	struct spool *sp;
	const struct config *cfg;
	struct keydb *db;
	struct keycheck *kc;
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

/* lease_held - someone else holds a live lease on e.  A lease whose
 * process is gone (killed mid-delivery) is over at once rather than at
 * lease_until: the spool is local, so the pid means something here. */
static int
lease_held(const struct q_entry *e, int64_t now)
{
	if (e->lease_until <= now || e->lease_pid == getpid())
		return 0;
	if (e->lease_pid > 0 && kill((pid_t)e->lease_pid, 0) != 0 && errno == ESRCH)
		return 0;
	return 1;
}

struct claim_ctx {
	const char *id;
	int lease_secs;
	int claimed;
	struct q_entry entry;	/* as claimed */
};

static int
claim_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct claim_ctx *c = vctx;
	struct q_entry e;
	int64_t now = spool_now();

	c->claimed = 0;
	q_entry_free(&c->entry);
	if (queue_get(sp, txn, c->id, 1, &c->entry, err) != 0)
		return err->status == PB_ENOTFOUND ? 0 : -1;
	if (c->entry.dir != Q_INBOUND ||
	    (c->entry.state != QS_READY && c->entry.state != QS_DEFERRED) ||
	    (c->entry.next_attempt && c->entry.next_attempt > now) ||
	    lease_held(&c->entry, now))
		return 0;
	q_entry_copy(&e, &c->entry);
	e.lease_until = now + c->lease_secs;
	e.lease_pid = getpid();
	if (queue_update(sp, txn, &c->entry, &e, err) != 0) {
		q_entry_free(&e);
		return -1;
	}
	q_entry_free(&c->entry);
	c->entry = e;
	c->claimed = 1;
	return 0;
}

struct finish_ctx {
	const struct config *cfg;
	const char *id;
	enum deliver_outcome outcome;	/* what the attempt achieved */
	const char *error;		/* its error, if any */
	/* keys GnuPG rejected, to split off */
	struct q_entry *rejected;
	struct buf *rejected_payload;
	/* results */
	enum deliver_outcome final;
	char quarantine_id[QID_LEN + 1];
	int lost_lease;
};

static int
finish_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct finish_ctx *c = vctx;
	struct q_entry old, e;
	int64_t now = spool_now();
	int r;

	c->quarantine_id[0] = '\0';
	c->lost_lease = 0;
	if (queue_get(sp, txn, c->id, 1, &old, err) != 0) {
		if (err->status == PB_ENOTFOUND) {
			/* Deleted by the operator while we delivered. */
			c->lost_lease = 1;
			return 0;
		}
		return -1;
	}
	if (old.lease_pid != getpid() ||
	    (old.state != QS_READY && old.state != QS_DEFERRED)) {
		/* Held or changed by the operator meanwhile: theirs wins. */
		c->lost_lease = 1;
		q_entry_free(&old);
		return 0;
	}
	q_entry_copy(&e, &old);
	e.lease_until = 0;
	e.lease_pid = 0;
	e.attempts++;
	free(e.last_error);
	e.last_error = c->error ? xstrdup(c->error) : NULL;
	c->final = c->outcome;
	switch (c->outcome) {
	case DELIVER_DONE:
		e.state = QS_DONE;
		e.next_attempt = 0;
		break;
	case DELIVER_FAILED:
		e.state = QS_FAILED;
		e.next_attempt = 0;
		break;
	case DELIVER_QUARANTINED:
		e.state = QS_QUARANTINED;
		e.next_attempt = 0;
		break;
	default:
		if (now - e.created >= c->cfg->max_queue_lifetime) {
			char *msg = xasprintf("expired after %lld s in the queue: %s",
					      (long long)(now - e.created),
					      c->error ? c->error : "");
			free(e.last_error);
			e.last_error = msg;
			e.state = QS_FAILED;
			e.next_attempt = 0;
			c->final = DELIVER_FAILED;
		} else {
			e.state = QS_DEFERRED;
			e.next_attempt = now + config_retry_delay(c->cfg, e.attempts);
			c->final = DELIVER_DEFERRED;
		}
		break;
	}
	r = queue_update(sp, txn, &old, &e, err);
	if (r == 0 && c->rejected) {
		struct q_entry q;

		q_entry_copy(&q, c->rejected);
		free(q.parent);
		q.parent = xstrdup(c->id);
		r = queue_insert(sp, txn, &q, c->rejected_payload->data,
				 c->rejected_payload->len, err);
		memcpy(c->quarantine_id, q.id, sizeof q.id);
		q_entry_free(&q);
	}
	q_entry_free(&old);
	q_entry_free(&e);
	return r;
}

static double
elapsed(const struct timeval *t0)
{
	struct timeval t1;

	gettimeofday(&t1, NULL);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_usec - t0->tv_usec) / 1e6;
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

/* check_keys - ask GnuPG about keys[]; fill good[] (shallow copies, not
 * owned) and, for the rejected ones, a quarantine entry and payload. */
static int
check_keys(struct deliverer *d, const struct q_entry *entry,
	   struct pgp_key *keys, size_t nkeys, struct pgp_key *good,
	   size_t *ngood_r, struct q_entry *rejected, struct buf *rpayload,
	   struct pb_err *err)
{
	unsigned char *accepted;
	const char **reasons;
	struct buf why = BUF_INIT;
	size_t ngood = 0;

	if (!d->kc) {
		char *home = xasprintf("%s/keycheck", d->sp->dir);
		int r = keycheck_open(home, &d->kc, err);

		free(home);
		if (r != 0)
			return -1;
	}
	accepted = xcalloc(nkeys, 1);
	reasons = xcalloc(nkeys, sizeof *reasons);
	if (keycheck_keys(d->kc, keys, nkeys, accepted, reasons, err) != 0) {
		free(accepted);
		free(reasons);
		return -1;
	}
	for (size_t i = 0; i < nkeys; i++) {
		if (accepted[i]) {
			good[ngood++] = keys[i];
			continue;
		}
		if (rejected->nkeys == 0) {
			rejected->dir = Q_INBOUND;
			rejected->state = QS_QUARANTINED;
			rejected->origin = entry->origin;
			rejected->payload_kind = Q_PAYLOAD_KEYS;
			rejected->size = entry->size;
			rejected->message_id = entry->message_id ?
					       xstrdup(entry->message_id) : NULL;
			rejected->sender = entry->sender ? xstrdup(entry->sender) : NULL;
		}
		q_entry_add_key(rejected, keys[i].fpr_hex, keys[i].uid);
		q_payload_add_key(rpayload, keys[i].data, keys[i].len);
		buf_printf(&why, "%sGnuPG rejected key %s: %s", why.len ? "; " : "",
			   keys[i].fpr_hex, reasons[i] ? reasons[i] : "unusable");
	}
	if (rejected->nkeys)
		rejected->last_error = (char *)buf_steal(&why, NULL);
	buf_free(&why);
	free(accepted);
	free(reasons);
	*ngood_r = ngood;
	return 0;
}

int
deliver_inbound(struct deliverer *d, const char *id, int already_leased,
		int timeout_ms, enum deliver_outcome *out, struct pb_err *err)
{
	struct claim_ctx claim;
	struct finish_ctx fin;
	struct buf payload = BUF_INIT, rpayload = BUF_INIT;
	struct q_entry rejected;
	struct pgp_key *keys = NULL, *good = NULL;
	size_t nkeys = 0, ngood = 0, off = 0, klen;
	const unsigned char *kp;
	struct pb_err derr;
	char *errtext = NULL;
	struct timeval t0;
	int rc = -1, r;

	*out = DELIVER_SKIPPED;
	memset(&claim, 0, sizeof claim);
	claim.id = id;
	claim.lease_secs = deliver_lease_secs(timeout_ms);
	memset(&fin, 0, sizeof fin);
	memset(&rejected, 0, sizeof rejected);
	pb_err_clear(&derr);
	gettimeofday(&t0, NULL);

	if (already_leased) {
		if (queue_get(d->sp, NULL, id, 0, &claim.entry, err) != 0)
			return -1;
	} else {
		if (spool_txn(d->sp, SPOOL_NOSYNC, claim_fn, &claim, err) != 0)
			return -1;
		if (!claim.claimed) {
			q_entry_free(&claim.entry);
			return 0;
		}
	}
	if (queue_get_payload(d->sp, NULL, id, &payload, err) != 0)
		goto out;

	/* A payload we cannot read back is our bug or disk damage:
	 * retrying will not help, so the entry fails loudly. */
	while ((r = q_payload_next_key(payload.data, payload.len, &off, &kp,
				       &klen)) == 1) {
		keys = xreallocarray(keys, nkeys + 1, sizeof *keys);
		if (pgp_parse_key_blob(kp, klen, &keys[nkeys], &derr) != 0) {
			r = -1;
			break;
		}
		nkeys++;
	}
	/* The keys own their bytes now: drop the payload before gpg and the
	 * key database see them, or a large entry is held twice. */
	buf_free(&payload);
	good = xcalloc(nkeys + 1, sizeof *good);
	if (r < 0 || nkeys == 0) {
		fin.outcome = DELIVER_FAILED;
		errtext = xasprintf("unreadable payload: %s",
				    derr.msg[0] ? derr.msg : "no keys");
	} else if (check_keys(d, &claim.entry, keys, nkeys, good, &ngood,
			      &rejected, &rpayload, &derr) != 0) {
		fin.outcome = DELIVER_DEFERRED;
		errtext = xasprintf("key check: %s", derr.msg);
	} else if (ngood == 0) {
		fin.outcome = DELIVER_QUARANTINED;
		errtext = xstrdup(rejected.last_error);
		q_entry_free(&rejected);
	} else if (!d->db && keydb_open(d->cfg->keydb, &d->db, &derr) != 0) {
		fin.outcome = DELIVER_DEFERRED;
		errtext = xasprintf("key database: %s", derr.msg);
	} else if (d->db->put(d->db, id, good, ngood, timeout_ms, &derr) != 0) {
		fin.outcome = derr.status == PB_EPERM ? DELIVER_FAILED
						      : DELIVER_DEFERRED;
		errtext = xasprintf("%s: %s", d->db->name, derr.msg);
	} else {
		fin.outcome = DELIVER_DONE;
	}

	fin.cfg = d->cfg;
	fin.id = id;
	fin.error = errtext;
	if (rejected.nkeys) {
		fin.rejected = &rejected;
		fin.rejected_payload = &rpayload;
	}
	if (spool_txn(d->sp, SPOOL_NOSYNC, finish_fn, &fin, err) != 0)
		goto out;
	if (fin.lost_lease) {
		log_warning(id, "entry changed by someone else during delivery "
			    "(held or deleted); outcome %s not recorded",
			    outcome_name(fin.outcome));
	} else {
		log_msg(fin.final == DELIVER_DONE ? LOG_INFO : LOG_WARNING, id,
			"to=<%s>, keys=%zu, delay=%.2f, attempts=%u, status=%s%s%s%s",
			d->db ? d->db->name : d->cfg->keydb, ngood, elapsed(&t0),
			claim.entry.attempts + 1, outcome_name(fin.final),
			errtext ? " (" : "", errtext ? errtext : "",
			errtext ? ")" : "");
		if (fin.quarantine_id[0])
			log_notice(fin.quarantine_id, "parent=%s, status=quarantined (%s)",
				   id, rejected.last_error);
	}
	*out = fin.lost_lease ? DELIVER_SKIPPED : fin.final;
	rc = 0;
out:
	for (size_t i = 0; i < nkeys; i++)
		pgp_key_free_contents(&keys[i]);
	free(keys);
	free(good);
	free(errtext);
	buf_free(&payload);
	buf_free(&rpayload);
	q_entry_free(&rejected);
	q_entry_free(&claim.entry);
	return rc;
}
