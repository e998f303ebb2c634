/*
 * agent.h - inside the delivery frame (delivery.h): what one kind of
 * delivery implements, and the batch the frame hands it.  Only
 * delivery.c, which holds the table of kinds and runs the frame, and
 * the agents (deliver.c, outdeliver.c, reply.c) include it.
 *
 * The frame owns the claim and the record of every entry, and the
 * batch: the items, their entries as claimed, their outcomes and
 * errors.  An agent owns what it keeps in b->state between its attempt
 * and its record and log lines, and frees it in done().
 */
#ifndef PB_AGENT_H
#define PB_AGENT_H

#include <stdint.h>

#include "bridge/delivery.h"
#include "bridge/gate.h"
#include "keydb/keydb.h"
#include "openpgp/keycheck.h"

struct deliverer {
	struct spool *sp;
	const struct config *cfg;
	struct keydb *db;	/* opened by deliverer_keydb, or NULL */
	struct keycheck *kc;	/* opened by the keydb agent, or NULL */
	struct gate *gate;	/* opened by deliverer_gate, or NULL */
};

/* deliverer_keydb - d's key database handle, opened at first use
 * (opening only parses the keydb value). */
int deliverer_keydb(struct deliverer *d, struct pb_err *err);

/* deliverer_gate - d's key policy (gate.h), set up at first use and its
 * block list read again at every call (once per attempt): every door of
 * every kind judges the keys it passes with it. */
int deliverer_gate(struct deliverer *d, struct pb_err *err);

struct agent_item {
	char id[QID_LEN + 1];
	int claimed;
	struct q_entry entry;		/* as claimed */
	enum q_state outcome;		/* the attempt's; QS_READY: undecided */
	char *error;			/* owned: why, or NULL */
	int recorded;			/* the outcome was recorded, as: */
	enum q_state final;		/* (a deferral may have failed) */
	char why_lost[Q_WHY_LEN];	/* else why not (the operator's) */
};

struct agent_batch {
	struct deliverer *d;
	const struct agent *agent;
	struct agent_item *items;
	size_t n;
	int timeout_ms;
	int lease_secs;
	int64_t t0;			/* clock_ms() at the claim */
	const char *peer;		/* DELIVERY_PEER: whose entries, */
	char (*candidates)[QID_LEN + 1];	/* its pending ones, which */
	size_t ncandidates;		/* its claim picks items from */
	int nothing_due;		/* a claim found nothing to take */
	void *state;			/* the agent's own */
};

/* agent_set_outcome - every claimed item still undecided gets outcome
 * and a copy of error (NULL: none). */
void agent_set_outcome(struct agent_batch *b, enum q_state outcome,
		       const char *error);

/* agent_status - a final state as the log lines say it: "delivered" or
 * "sent" (done_word) for done, else the state's name. */
const char *agent_status(enum q_state s, const char *done_word);

struct agent {
	const char *name;
	enum q_dir dir;
	int claim_flags;	/* spool_txn flags of the claim */
	int one_at_a_time;	/* delivery_run: a frame per entry */
	int (*lease_secs)(int timeout_ms);
	/* claim - inside the claim transaction: lease the items to
	 * deliver.  NULL: each item's own id, if it is due. */
	int (*claim)(struct spool *sp, DB_TXN *txn, struct agent_batch *b,
		     struct pb_err *err);
	/* accepts - after the default claim: is the claimed entry one this
	 * kind delivers?  If not, its lease is given back.  NULL: yes. */
	int (*accepts)(const struct q_entry *e);
	/* attempt - outside any transaction: each claimed item's outcome.
	 * -1 only for a spool error: then nothing is recorded, and the
	 * leases run out. */
	int (*attempt)(struct agent_batch *b, struct pb_err *err);
	/* record - inside the record transaction, once item it's outcome
	 * is recorded as e: what the kind records beside it.  NULL: none. */
	int (*record)(struct spool *sp, DB_TXN *txn, struct agent_batch *b,
		      struct agent_item *it, const struct q_entry *e,
		      struct pb_err *err);
	/* record_batch - the same, once for the batch.  NULL: none. */
	int (*record_batch)(struct spool *sp, DB_TXN *txn,
			    struct agent_batch *b, struct pb_err *err);
	/* log - item it's log line, recorded or not. */
	void (*log)(const struct agent_batch *b, const struct agent_item *it);
	/* done - free b->state.  NULL: nothing to free. */
	void (*done)(struct agent_batch *b);
};

/* The kinds' functions, for delivery.c's table. */

/* deliver.c: inbound entries to the key database.  The keys are read,
 * checked by GnuPG in one call (keys it rejects split off into a
 * quarantined entry, or the entry itself quarantined), and handed to
 * the key database in one call; an ADD's waiting reply gets the facts
 * (addreply.h) when its entry finishes; a failed entry's keys are no
 * longer counted as seen. */
int keydb_lease_secs(int timeout_ms);
int keydb_attempt(struct agent_batch *b, struct pb_err *err);
int keydb_record(struct spool *sp, DB_TXN *txn, struct agent_batch *b,
		 struct agent_item *it, const struct q_entry *e,
		 struct pb_err *err);
void keydb_log(const struct agent_batch *b, const struct agent_item *it);
void keydb_done(struct agent_batch *b);

/* outdeliver.c: a peer's entries coalesced into one mail. */
int peer_lease_secs(int timeout_ms);
int peer_claim(struct spool *sp, DB_TXN *txn, struct agent_batch *b,
	       struct pb_err *err);
int peer_attempt(struct agent_batch *b, struct pb_err *err);
int peer_record_batch(struct spool *sp, DB_TXN *txn, struct agent_batch *b,
		      struct pb_err *err);
void peer_log(const struct agent_batch *b, const struct agent_item *it);
void peer_done(struct agent_batch *b);

/* reply.c: the reply to one mail command. */
int reply_lease_secs(int timeout_ms);
int reply_accepts(const struct q_entry *e);
int reply_attempt(struct agent_batch *b, struct pb_err *err);
int reply_record(struct spool *sp, DB_TXN *txn, struct agent_batch *b,
		 struct agent_item *it, const struct q_entry *e,
		 struct pb_err *err);
void reply_log(const struct agent_batch *b, const struct agent_item *it);
void reply_done(struct agent_batch *b);

#endif
