/*
 * delivery.h - one frame for every delivery: claim, attempt, record.
 *
 * Every queue entry that goes somewhere is delivered the same way, as
 * Postfix's delivery agents share one protocol and one status API:
 *
 *   claim    one transaction leases the entries (queue_lease), so that
 *            no two processes deliver one at once; a lease this process
 *            took when it committed the entry is no obstacle;
 *   attempt  outside any transaction, the kind's attempt decides each
 *            claimed entry's outcome: a q_state (done, deferred, failed,
 *            quarantined, suppressed) and, but for done, why;
 *   record   one transaction records every outcome (queue_attempted:
 *            a deferral gets its next attempt from retry_schedule, or
 *            fails past max_queue_lifetime; an operator's hold, retry or
 *            delete meanwhile wins) and what the kind records beside
 *            it; then each entry's log line.
 *
 * enum q_state is the one outcome vocabulary.  The kinds are the rows of
 * one table (delivery.c), each with its attempt function:
 *
 *   DELIVERY_KEYDB  inbound entries to the key database (deliver.c), many
 *                   per attempt: one key check and one database call for
 *                   all of them
 *   DELIVERY_PEER   sync mail to one PKS peer (outdeliver.c): all its due
 *                   and ready entries coalesced into one mail
 *   DELIVERY_REPLY  the reply to one mail command (reply.c)
 *
 * A new kind of delivery is a new row and its agent (bridge/agent.h).
 * The runner routes an entry by the due index (queue_due: direction and
 * kind) to its row without reading it.
 */
#ifndef PB_DELIVERY_H
#define PB_DELIVERY_H

#include <stddef.h>

#include "config/config.h"
#include "spool/queue.h"
#include "spool/spool.h"
#include "util/err.h"

enum delivery_kind { DELIVERY_KEYDB, DELIVERY_PEER, DELIVERY_REPLY };

/* A deliverer holds what attempts keep warm between entries: the key
 * database handle and the key checker, opened at first use. */
struct deliverer;

/* deliverer_open - for sp and cfg, which must outlive it. */
struct deliverer *deliverer_open(struct spool *sp, const struct config *cfg);
void deliverer_close(struct deliverer *d);

/* delivery_kind_of - the kind that delivers entries of dir and kind. */
enum delivery_kind delivery_kind_of(enum q_dir dir, enum q_kind kind);

/* delivery_lease_secs - how long a kind's lease lasts for an attempt
 * bounded by timeout_ms (a filter that will deliver inline leases its
 * entries for that long when it commits them). */
int delivery_lease_secs(enum delivery_kind kind, int timeout_ms);

/* delivery_run - one attempt at entries ids[0..n) of kind KEYDB (all in
 * one frame) or REPLY (a frame each), each if it is due and no other
 * live process holds it.  states[i] receives the state entry i was left
 * in, QS_READY if it was not attempted (not due, leased elsewhere,
 * gone, or its outcome not recorded).  Each wait for the key database
 * or a relay is bounded by timeout_ms.  -1 only for spool errors: the
 * delivery's own failures are outcomes, recorded in the entries. */
int delivery_run(struct deliverer *d, enum delivery_kind kind,
		 const char *const *ids, size_t n, int timeout_ms,
		 enum q_state *states, struct pb_err *err);

/* delivery_peer - the due mail for PKS peer: a frame per mail until
 * nothing due is left for it or it fails.  *sent_r counts mails sent. */
int delivery_peer(struct deliverer *d, const char *peer, int timeout_ms,
		  size_t *sent_r, struct pb_err *err);

/* delivery_due - delivery_run for every entry of kind REPLY due now,
 * oldest first, until none is left (entries queued meanwhile included)
 * or max_secs have passed; *n_r counts the attempts made. */
int delivery_due(struct deliverer *d, enum delivery_kind kind, int timeout_ms,
		 int max_secs, size_t *n_r, struct pb_err *err);

#endif
