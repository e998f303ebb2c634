/*
 * deliver.h - delivery attempts of inbound entries to the key database,
 * shared by ingest's inline attempt and the runner.
 *
 * An attempt leases its entries (so two processes never deliver one at
 * once), asks GnuPG which keys it accepts, hands those to the key
 * database, and records each outcome: done, deferred with the next
 * attempt from retry_schedule, or failed once max_queue_lifetime has
 * passed or the database refused for good.  An ADD mail's entry, once
 * finished, gets its reply entry in the same transaction
 * (bridge/addreply.h).  Keys GnuPG rejects are split
 * off into a quarantined entry and never delivered.  The runner delivers
 * many entries per attempt: one gpg run and one database call for all.
 */
#ifndef PB_DELIVER_H
#define PB_DELIVER_H

#include "config/config.h"
#include "spool/queue.h"
#include "spool/spool.h"
#include "util/err.h"

struct deliverer;

/* deliver_open - resources for delivering (key database handle, GnuPG
 * checker), created lazily on first use.  Release with deliver_close. */
struct deliverer *deliver_open(struct spool *sp, const struct config *cfg);
void deliver_close(struct deliverer *d);

enum deliver_outcome {
	DELIVER_SKIPPED,	/* not due, leased elsewhere, or gone */
	DELIVER_DONE,
	DELIVER_DEFERRED,
	DELIVER_FAILED,
	DELIVER_QUARANTINED,	/* GnuPG rejected every key */
};

/* deliver_inbound - one attempt at entry id, if it is due and no other
 * live process holds it (a lease of this process's own, taken when the
 * entry was committed, is no obstacle).  Returns -1 only for spool
 * errors; the delivery's own failure is an outcome, recorded in the
 * entry. */
int deliver_inbound(struct deliverer *d, const char *id, int timeout_ms,
		    enum deliver_outcome *out, struct pb_err *err);

/* deliver_inbound_batch - one attempt at entries ids[0..n) together;
 * outcomes[i] receives each one's outcome. */
int deliver_inbound_batch(struct deliverer *d, const char *const *ids,
			  size_t n, int timeout_ms,
			  enum deliver_outcome *outcomes, struct pb_err *err);

/* deliver_reply_id - the reply entry to an ADD that the last
 * deliver_inbound(_batch) made, or NULL: for an inline attempt to send
 * it right away. */
const char *deliver_reply_id(const struct deliverer *d);

/* deliver_lease_secs - how long a lease lasts for a given timeout. */
int deliver_lease_secs(int timeout_ms);

#endif
