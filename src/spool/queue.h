/*
 * queue.h - queue entries: what is in flight, in both directions.
 *
 * One entry per inbound mail (or per quarantined piece of one), one per
 * outbound mail per PKS peer, and one per mail command asking for a
 * reply (kind "reply": answered, or recorded with why not).  Entries live in the spool's queue
 * database keyed by their id; their payload (keys, or the raw text kept
 * for a quarantined piece) lives in a separate database so listing never
 * reads payloads.  Pending entries (ready, deferred) are also indexed by
 * the time of their next attempt, which is all the runner scans, and
 * pending outbound entries by peer, so that everything waiting for one
 * peer can go out in one mail.
 *
 * A process working on an entry takes a lease (lease_until, lease_pid)
 * in the entry itself, committed like any other change; a lease that
 * outlives its process simply expires, so a crash mid-delivery leaves the
 * entry to the runner instead of losing it.  Only this module changes an
 * entry's state, schedule and lease (the constructors and transitions
 * below): deliveries, the runner and the operator's commands ask it.
 */
#ifndef PB_QUEUE_H
#define PB_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"
#include "util/buf.h"
#include "util/err.h"

#define QID_LEN 14	/* hex digits of the creation time in microseconds */

enum q_dir { Q_INBOUND, Q_OUTBOUND };

enum q_state {
	QS_READY,	/* pending: due now or at next_attempt */
	QS_DEFERRED,	/* pending: failed temporarily, retry at next_attempt */
	QS_HELD,	/* pending: held by the operator */
	QS_DONE,	/* finished: delivered */
	QS_FAILED,	/* finished: failed permanently or expired */
	QS_QUARANTINED,	/* finished: bad input, kept for inspection */
	QS_DUPLICATE,	/* finished: nothing new (Message-ID or packets) */
	QS_SUPPRESSED,	/* finished: outbound echo of PKS traffic */
	QS_LOOP,	/* finished: our own mail came back */
	QS_BLOCKED,	/* finished: every key is on the blocklist (only
			 * their revocations were passed on) */
	QS__COUNT
};

enum q_origin { Q_ORIGIN_PKS, Q_ORIGIN_LOCAL };

/* What an outbound entry sends: sync mail to a PKS peer, or the reply to
 * one person's mail command (peer = that person).  Inbound entries are
 * all sync.  Entries written before there were replies read as sync. */
enum q_kind { Q_KIND_SYNC, Q_KIND_REPLY };

/* What an entry's payload holds: nothing, its keys as a key sequence
 * (pgp_keyseq_add), the raw text kept of a quarantined piece, or the
 * request a reply answers (bridge/mailreq.h). */
enum q_payload { Q_PAYLOAD_NONE, Q_PAYLOAD_KEYS, Q_PAYLOAD_RAW,
		 Q_PAYLOAD_REQUEST };

struct q_keyref {
	char fpr[65];		/* upper-case hex, 40 or 64 digits */
	char *uid;		/* primary user ID or NULL */
	char *policy;		/* what the key policy did to it at
				 * delivery, as its JSON object (bridge/
				 * gate.h; opaque here), or NULL */
};

struct q_entry {
	char id[QID_LEN + 1];
	enum q_dir dir;
	enum q_state state;
	enum q_origin origin;
	enum q_kind kind;
	enum q_state held_from;	/* state to return to on release */
	char *peer;		/* outbound recipient, else NULL */
	char *sender;		/* envelope sender from the MTA, or NULL */
	char *message_id;	/* of the mail, or NULL */
	char *parent;		/* id of the entry this piece was split from */
	char *last_error;	/* last delivery error, or why finished */
	int64_t created;
	int64_t updated;
	int64_t next_attempt;	/* 0 = none */
	int64_t lease_until;	/* 0 = not leased */
	int64_t lease_pid;
	uint32_t attempts;
	uint64_t size;		/* bytes of the mail this came from */
	enum q_payload payload_kind;
	uint64_t payload_len;
	struct q_keyref *keys;
	size_t nkeys;
	/* The reply to an ADD is made when the mail is accepted, and waits
	 * for the inbound entry carrying the keys (its parent) to finish:
	 * pending, but not due, until queue_attempted makes it due.  The
	 * parent names it in child. */
	int waiting;		/* waits for parent to finish */
	char *child;		/* the reply waiting for this entry, or NULL */
};

/* Names as they appear in JSON and on the command line. */
const char *q_state_name(enum q_state s);
int q_state_from_name(const char *name, enum q_state *s);
const char *q_dir_name(enum q_dir d);
const char *q_origin_name(enum q_origin o);
const char *q_kind_name(enum q_kind k);
int q_state_pending(enum q_state s);	/* ready, deferred, held */

/* q_entry_add_key - append a key reference (copies uid). */
void q_entry_add_key(struct q_entry *e, const char *fpr, const char *uid);
/* q_entry_free - release what the entry owns (not e itself). */
void q_entry_free(struct q_entry *e);
/* q_entry_copy - deep copy. */
void q_entry_copy(struct q_entry *dst, const struct q_entry *src);
/*
 * Every change of an entry's state, schedule or lease happens here, and
 * nowhere else: the constructors below for new entries, the transitions
 * further down for stored ones.  So there is one answer to "may this
 * process deliver it now?", and an operator's action can never take an
 * entry from under a delivery in flight.
 */

/* Where a new entry came from: each copied; any may be NULL or 0. */
struct q_source {
	const char *sender;		/* envelope sender */
	const char *message_id;		/* of the mail */
	uint64_t size;			/* bytes of the mail */
	const char *parent;		/* entry it was split from */
};

/* q_entry_new - a new entry (everything else zeroed): pending (ready,
 * due at due, or at its creation if due is 0) or a decision already
 * taken (duplicate, loop, suppressed), with why (copied; may be NULL).
 * The caller adds the peer, the keys and the payload kind. */
void q_entry_new(struct q_entry *e, enum q_dir dir, enum q_origin origin,
		 enum q_state state, int64_t due, const char *why,
		 const struct q_source *src);

/* q_entry_new_reply - a reply to a mail command (outbound, local, kind
 * reply, size 0 until the reply is composed; see below)
 * reply): ready to be answered (due now), or suppressed with why, the
 * reason it will not be.  to (copied; may be NULL when no usable address
 * was found) becomes the peer. */
void q_entry_new_reply(struct q_entry *e, enum q_state state, const char *to,
		       const char *why, const struct q_source *src);

/* q_entry_new_quarantine - a quarantined piece, and why it cannot be
 * delivered. */
void q_entry_new_quarantine(struct q_entry *e, enum q_dir dir,
			    enum q_origin origin, const char *why,
			    const struct q_source *src);

/* q_entry_lease_new - lease a new ready entry, not yet inserted, to this
 * process for secs: the filter that will deliver inline takes its entry
 * in the transaction that accepts it. */
void q_entry_lease_new(struct q_entry *e, int64_t now, int secs);

/* q_entry_due - a pending entry whose next attempt has come at now (a
 * waiting reply is not due before its parent finishes). */
int q_entry_due(const struct q_entry *e, int64_t now);

/* q_entry_lease_holder - the process delivering e at time now, or 0.
 * A lease whose process is gone (killed mid-delivery) is over at once
 * rather than at lease_until: the spool is local, so the pid means
 * something here.  A lease without a pid counts until lease_until. */
long q_entry_lease_holder(const struct q_entry *e, int64_t now);

/* q_entry_leased_elsewhere - a live process other than this one holds
 * a lease on e at time now. */
int q_entry_leased_elsewhere(const struct q_entry *e, int64_t now);

/* Transitions of stored entries.  Each runs inside the caller's
 * transaction, reads the entry for update, and either applies the change
 * and writes it back (0), or leaves the entry alone and says why (1, with
 * why filled: "being delivered by pid 123", "held (release it first)");
 * -1 is an error: PB_ENOTFOUND, as from queue_get, if the entry no
 * longer exists, else a spool error. */
#define Q_WHY_LEN 160

/* queue_lease - lease entry id, of direction dir, to this process for
 * secs, if it is pending (ready or deferred), due (or, with
 * Q_LEASE_READY_EARLY, ready: outbound coalescing takes a peer's ready
 * entries along with its due one), not leased by another live process,
 * and fits (its keys within max_keys and payload within max_bytes;
 * UINT64_MAX for no bound).  *e_r receives the entry as leased (free it
 * with q_entry_free) when it was. */
#define Q_LEASE_READY_EARLY 1u
struct q_lease_want {
	enum q_dir dir;
	int64_t now;
	int secs;
	unsigned flags;
	uint64_t max_keys, max_bytes;
};
int queue_lease(struct spool *sp, DB_TXN *txn, const char *id,
		const struct q_lease_want *want, struct q_entry *e_r,
		char why[Q_WHY_LEN], struct pb_err *err);

/* queue_unlease - give back this process's lease on id (a claim that
 * will not be sent after all). */
int queue_unlease(struct spool *sp, DB_TXN *txn, const char *id,
		  char why[Q_WHY_LEN], struct pb_err *err);

/* queue_attempted - record the end of one attempt at id, which this
 * process leased: lease dropped, attempt counted, last_error = error
 * (copied; NULL for none), state as given.  QS_DEFERRED, a temporary
 * failure, gets its next attempt from cfg's retry_schedule, or fails
 * once the entry is max_queue_lifetime old.  Refused if the lease is no
 * longer ours or the entry no longer pending (the operator held, retried
 * or deleted it meanwhile: theirs wins).  *e_r receives the entry as
 * recorded (free it with q_entry_free) when it was.  An entry that
 * finishes (any state but deferred) makes its waiting child due, in the
 * same transaction: the reply to an ADD goes out once its keys are
 * delivered, or refused, or given up. */
/* queue_note_policy - the key policy's JSON object for each key of id
 * whose fingerprint is kp[i].fpr (the first such key without one yet),
 * recorded beside the outcome, in the same transaction. */
struct q_key_policy {
	const char *fpr;
	const char *json;
};
int queue_note_policy(struct spool *sp, DB_TXN *txn, const char *id,
		      const struct q_key_policy *kp, size_t n,
		      struct pb_err *err);

struct config;
int queue_attempted(struct spool *sp, DB_TXN *txn, const char *id,
		    enum q_state state, const char *error,
		    const struct config *cfg, int64_t now, struct q_entry *e_r,
		    char why[Q_WHY_LEN], struct pb_err *err);

/* The operator's actions (queue retry, hold, release, flush).  retry:
 * a deferred or failed entry (or a ready one waiting for its time) is
 * due now; refused while a live process delivers it.  hold: a ready or
 * deferred entry waits for the operator (a delivery in flight finishes,
 * but its outcome is not recorded).  release: a held entry is pending
 * again as it was, due now at the latest.  flush: a pending entry
 * waiting for its time is due now (one being delivered is left alone).
 * *ch receives the states before and after (for the log). */
struct q_change {
	enum q_state from, to;
};
int queue_retry(struct spool *sp, DB_TXN *txn, const char *id, int64_t now,
		struct q_change *ch, char why[Q_WHY_LEN], struct pb_err *err);
int queue_hold(struct spool *sp, DB_TXN *txn, const char *id, int64_t now,
	       struct q_change *ch, char why[Q_WHY_LEN], struct pb_err *err);
int queue_release(struct spool *sp, DB_TXN *txn, const char *id, int64_t now,
		  struct q_change *ch, char why[Q_WHY_LEN], struct pb_err *err);
int queue_flush(struct spool *sp, DB_TXN *txn, const char *id, int64_t now,
		struct q_change *ch, char why[Q_WHY_LEN], struct pb_err *err);

/* queue_insert - store a new entry (its id is assigned here, unique and
 * increasing with time) with its payload, and index it if pending. */
int queue_insert(struct spool *sp, DB_TXN *txn, struct q_entry *e,
		 const void *payload, size_t payload_len, struct pb_err *err);

/* queue_insert_child - queue_insert for a reply that waits for the
 * pending entry parent_id (already in the queue) to finish: child
 * records its parent, the parent its child. */
int queue_insert_child(struct spool *sp, DB_TXN *txn, const char *parent_id,
		       struct q_entry *child, const void *payload,
		       size_t payload_len, struct pb_err *err);

/* queue_replace_payload - id's payload becomes payload[0..len) (a
 * waiting reply's request, with what its parent's delivery found). */
int queue_replace_payload(struct spool *sp, DB_TXN *txn, const char *id,
			  const void *payload, size_t len, struct pb_err *err);

/* queue_get - read an entry; with for_update, write-lock it (use before
 * queue_update in the same txn).  PB_ENOTFOUND if there is none. */
int queue_get(struct spool *sp, DB_TXN *txn, const char *id, int for_update,
	      struct q_entry *e, struct pb_err *err);

/* queue_get_payload - the entry's payload appended to out. */
int queue_get_payload(struct spool *sp, DB_TXN *txn, const char *id,
		      struct buf *out, struct pb_err *err);

/* queue_update - write e back (same id); old is the entry as read in
 * this txn, so the due index can be kept in step. */
int queue_update(struct spool *sp, DB_TXN *txn, const struct q_entry *old,
		 const struct q_entry *e, struct pb_err *err);

/* queue_delete - remove an entry and its payload, and its child if that
 * still waits for it (a request whose keys the operator removed is not
 * answered). */
int queue_delete(struct spool *sp, DB_TXN *txn, const char *id,
		 struct pb_err *err);

/* Iteration: cb gets each entry (owned by the iterator, valid during the
 * call); returning non-zero stops the scan. */
typedef int (*queue_cb)(void *ctx, const struct q_entry *e);

/* queue_scan - every entry in id (= creation) order. */
int queue_scan(struct spool *sp, DB_TXN *txn, queue_cb cb, void *ctx,
	       struct pb_err *err);

/* What the due index keeps of each entry in it, so that the runner can
 * route an entry, and see that another process works on it, without
 * reading it. */
struct q_due {
	char id[QID_LEN + 1];
	enum q_dir dir;
	enum q_kind kind;
	char *peer;		/* outbound: the recipient (owned), or NULL */
	uint64_t payload_len;
	int64_t lease_until, lease_pid;
};

/* queue_due - the pending entries whose next attempt is at or before
 * now, oldest first, at most max; free *due_r with q_due_free. */
int queue_due(struct spool *sp, DB_TXN *txn, int64_t now, size_t max,
	      struct q_due **due_r, size_t *n_r, struct pb_err *err);
void q_due_free(struct q_due *due, size_t n);

/* q_due_leased_elsewhere - as q_entry_leased_elsewhere. */
int q_due_leased_elsewhere(const struct q_due *d, int64_t now);

/* queue_peer_ids - ids of the pending (ready, deferred, held) outbound
 * sync entries for peer, oldest first, at most max; caller frees *ids_r.
 * (Replies are never coalesced: each answers one request.) */
int queue_peer_ids(struct spool *sp, DB_TXN *txn, const char *peer, size_t max,
		   char (**ids_r)[QID_LEN + 1], size_t *n_r, struct pb_err *err);

/* queue_next_due - the earliest next_attempt of any pending entry, or 0. */
int queue_next_due(struct spool *sp, DB_TXN *txn, int64_t *when_r,
		   struct pb_err *err);

#endif
