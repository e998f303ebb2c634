/*
 * delivery.c - the delivery frame and its table of kinds (see
 * delivery.h; what a kind implements: agent.h).
 */
#include "bridge/agent.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEER_SCAN_MAX 100000	/* a peer's pending entries looked at */
#define DUE_SCAN 256		/* due entries looked at per scan */

/* The kinds of delivery: a new one is a row here and its agent. */
static const struct agent agents[] = {
	[DELIVERY_KEYDB] = {
		.name = "keydb", .dir = Q_INBOUND, .claim_flags = SPOOL_NOSYNC,
		.lease_secs = keydb_lease_secs, .attempt = keydb_attempt,
		.record = keydb_record, .log = keydb_log, .done = keydb_done,
	},
	/* The claims of mail are synced: the lease is what keeps every
	 * other process off these entries while the mail is in flight, and
	 * a recovery (run by whoever opens the spool after a process died
	 * inside Berkeley DB) keeps only what reached the disk.  A lost
	 * lease let a second runner send the same mail at the same time,
	 * and made the record skip the entries as changed by the operator.
	 * (Every record is synced too: see frame().) */
	[DELIVERY_PEER] = {
		.name = "peer", .dir = Q_OUTBOUND, .claim_flags = SPOOL_SYNC,
		.lease_secs = peer_lease_secs, .claim = peer_claim,
		.attempt = peer_attempt, .record_batch = peer_record_batch,
		.log = peer_log, .done = peer_done,
	},
	[DELIVERY_REPLY] = {
		.name = "reply", .dir = Q_OUTBOUND, .claim_flags = SPOOL_SYNC,
		.one_at_a_time = 1, .lease_secs = reply_lease_secs,
		.accepts = reply_accepts, .attempt = reply_attempt,
		.record = reply_record, .log = reply_log, .done = reply_done,
	},
};

struct deliverer *
deliverer_open(struct spool *sp, const struct config *cfg)
{
	struct deliverer *d = xcalloc(1, sizeof *d);

	d->sp = sp;
	d->cfg = cfg;
	return d;
}

void
deliverer_close(struct deliverer *d)
{
	if (!d)
		return;
	if (d->db)
		d->db->close(d->db);
	if (d->kc)
		keycheck_close(d->kc);
	gate_close(d->gate);
	free(d);
}

int
deliverer_keydb(struct deliverer *d, struct pb_err *err)
{
	return d->db ? 0 : keydb_open(d->cfg->keydb, &d->db, err);
}

int
deliverer_gate(struct deliverer *d, struct pb_err *err)
{
	if (!d->gate && gate_open(d->cfg, &d->gate, err) != 0)
		return -1;
	return gate_refresh(d->gate, d->sp, err);
}

enum delivery_kind
delivery_kind_of(enum q_dir dir, enum q_kind kind)
{
	if (dir == Q_INBOUND)
		return DELIVERY_KEYDB;
	return kind == Q_KIND_REPLY ? DELIVERY_REPLY : DELIVERY_PEER;
}

int
delivery_lease_secs(enum delivery_kind kind, int timeout_ms)
{
	return agents[kind].lease_secs(timeout_ms);
}

void
agent_set_outcome(struct agent_batch *b, enum q_state outcome,
		  const char *error)
{
	for (size_t i = 0; i < b->n; i++) {
		struct agent_item *it = &b->items[i];

		if (!it->claimed || it->outcome != QS_READY)
			continue;
		it->outcome = outcome;
		free(it->error);
		it->error = error ? xstrdup(error) : NULL;
	}
}

const char *
agent_status(enum q_state s, const char *done_word)
{
	return s == QS_DONE ? done_word : q_state_name(s);
}

/* claim_fn - the claim: the kind's own, or each item's id if it is due
 * and of this kind (else its lease is given back at once). */
static int
claim_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct agent_batch *b = vctx;
	const struct agent *a = b->agent;
	struct q_lease_want want = { a->dir, spool_now(), b->lease_secs, 0,
				     UINT64_MAX, UINT64_MAX };

	if (a->claim)
		return a->claim(sp, txn, b, err);
	for (size_t i = 0; i < b->n; i++) {
		struct agent_item *it = &b->items[i];
		char why[Q_WHY_LEN];
		int r;

		it->claimed = 0;
		q_entry_free(&it->entry);
		r = queue_lease(sp, txn, it->id, &want, &it->entry, why, err);
		if (r < 0 && err->status != PB_ENOTFOUND)
			return -1;
		if (r == 0 && a->accepts && !a->accepts(&it->entry)) {
			q_entry_free(&it->entry);
			if (queue_unlease(sp, txn, it->id, why, err) < 0)
				return -1;
			continue;
		}
		it->claimed = r == 0;
	}
	return 0;
}

/* record_fn - every claimed item's outcome, then the kind's records. */
static int
record_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct agent_batch *b = vctx;
	const struct agent *a = b->agent;
	int64_t now = spool_now();

	for (size_t i = 0; i < b->n; i++) {
		struct agent_item *it = &b->items[i];
		struct q_entry e;
		int r;

		it->recorded = 0;
		if (!it->claimed)
			continue;
		r = queue_attempted(sp, txn, it->id, it->outcome, it->error,
				    b->d->cfg, now, &e, it->why_lost, err);
		if (r < 0 && err->status == PB_ENOTFOUND) {
			snprintf(it->why_lost, sizeof it->why_lost,
				 "deleted by the operator during delivery");
			continue;
		}
		if (r < 0)
			return -1;
		if (r > 0)
			continue;	/* held or retried meanwhile: theirs wins */
		it->recorded = 1;
		it->final = e.state;
		r = a->record ? a->record(sp, txn, b, it, &e, err) : 0;
		q_entry_free(&e);
		if (r != 0)
			return -1;
	}
	return a->record_batch ? a->record_batch(sp, txn, b, err) : 0;
}

/* frame - claim, attempt, record b's entries, and log them. */
static int
frame(struct agent_batch *b, struct pb_err *err)
{
	const struct agent *a = b->agent;
	size_t nclaimed = 0;
	int rc = -1;

	b->t0 = clock_ms();
	b->nothing_due = 0;
	b->lease_secs = a->lease_secs(b->timeout_ms);
	if (spool_txn(b->d->sp, a->claim_flags, claim_fn, b, err) != 0)
		return b->nothing_due ? 0 : -1;
	for (size_t i = 0; i < b->n; i++) {
		b->items[i].outcome = QS_READY;
		nclaimed += b->items[i].claimed;
	}
	if (nclaimed == 0)
		return 0;
	/* The record is synced: a recovery keeps only what reached the
	 * disk, and an outcome still in the log buffer would make the entry
	 * go again: a "sent" mail sent a second time (SPEC rule 6), a batch
	 * delivered again. */
	if (a->attempt(b, err) == 0 &&
	    spool_txn(b->d->sp, SPOOL_SYNC, record_fn, b, err) == 0) {
		for (size_t i = 0; i < b->n; i++)
			if (b->items[i].claimed)
				a->log(b, &b->items[i]);
		rc = 0;
	}
	if (a->done)
		a->done(b);
	b->state = NULL;
	return rc;
}

/* batch_init - a batch of kind over n items (ids copied later). */
static void
batch_init(struct agent_batch *b, struct deliverer *d, enum delivery_kind kind,
	   size_t n, int timeout_ms)
{
	memset(b, 0, sizeof *b);
	b->d = d;
	b->agent = &agents[kind];
	b->timeout_ms = timeout_ms;
	b->items = xcalloc(n + 1, sizeof *b->items);
	b->n = n;
}

static void
batch_free(struct agent_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		q_entry_free(&b->items[i].entry);
		free(b->items[i].error);
	}
	free(b->items);
	free(b->candidates);
	memset(b, 0, sizeof *b);
}

/* run_frame - one frame over ids[0..n); states as delivery_run's. */
static int
run_frame(struct deliverer *d, enum delivery_kind kind, const char *const *ids,
	  size_t n, int timeout_ms, enum q_state *states, struct pb_err *err)
{
	struct agent_batch b;
	int rc;

	batch_init(&b, d, kind, n, timeout_ms);
	for (size_t i = 0; i < n; i++)
		snprintf(b.items[i].id, sizeof b.items[i].id, "%s", ids[i]);
	rc = frame(&b, err);
	for (size_t i = 0; i < n; i++)
		states[i] = b.items[i].recorded ? b.items[i].final : QS_READY;
	batch_free(&b);
	return rc;
}

int
delivery_run(struct deliverer *d, enum delivery_kind kind,
	     const char *const *ids, size_t n, int timeout_ms,
	     enum q_state *states, struct pb_err *err)
{
	if (!agents[kind].one_at_a_time)
		return run_frame(d, kind, ids, n, timeout_ms, states, err);
	for (size_t i = 0; i < n; i++)
		if (run_frame(d, kind, &ids[i], 1, timeout_ms, &states[i],
			      err) != 0)
			return -1;
	return 0;
}

int
delivery_peer(struct deliverer *d, const char *peer, int timeout_ms,
	      size_t *sent_r, struct pb_err *err)
{
	int rc = 0, done = 0;

	*sent_r = 0;
	while (!done) {
		struct agent_batch b;
		enum q_state outcome;

		batch_init(&b, d, DELIVERY_PEER, 0, timeout_ms);
		b.peer = peer;
		if (queue_peer_ids(d->sp, NULL, peer, PEER_SCAN_MAX, &b.candidates,
				   &b.ncandidates, err) != 0) {
			batch_free(&b);
			return -1;
		}
		if (b.ncandidates > 0) {
			free(b.items);
			b.items = xcalloc(b.ncandidates, sizeof *b.items);
			rc = frame(&b, err);
		}
		outcome = b.n > 0 ? b.items[0].outcome : QS_READY;
		/* Nothing (more) due, or a failing peer: stop here, its other
		 * entries wait their turn. */
		done = rc != 0 || b.n == 0 || outcome == QS_DEFERRED ||
		       outcome == QS_FAILED;
		*sent_r += rc == 0 && outcome == QS_DONE;
		batch_free(&b);
	}
	return rc;
}

int
delivery_due(struct deliverer *d, enum delivery_kind kind, int timeout_ms,
	     int max_secs, size_t *n_r, struct pb_err *err)
{
	int64_t deadline = clock_ms() + (int64_t)max_secs * 1000;
	int progress = 1;

	*n_r = 0;
	while (progress && clock_ms() < deadline) {
		struct q_due *due;
		size_t n;

		progress = 0;
		if (queue_due(d->sp, NULL, spool_now(), DUE_SCAN, &due, &n, err) != 0)
			return -1;
		for (size_t i = 0; i < n && clock_ms() < deadline; i++) {
			const char *id = due[i].id;
			enum q_state st;

			if (delivery_kind_of(due[i].dir, due[i].kind) != kind)
				continue;
			if (delivery_run(d, kind, &id, 1, timeout_ms, &st, err) != 0) {
				q_due_free(due, n);
				return -1;
			}
			if (st != QS_READY) {
				(*n_r)++;
				progress = 1;
			}
		}
		q_due_free(due, n);
	}
	return 0;
}
