/*
 * reply.h - sending the replies to mail commands.
 *
 * A reply entry is delivered like sync mail (leased, tried, recorded:
 * done, deferred per retry_schedule, failed once max_queue_lifetime has
 * passed or the relay refused it for good), but each reply is its own
 * mail, never coalesced: it answers one request, and goes to one
 * address (RFC 3834 asks for exactly one recipient per response).  The
 * answer is looked up now (bridge/answer.h), so a retry gets a fresh
 * one; a key database that cannot answer defers the entry like a relay
 * that cannot take it.  Replies go out with a null envelope sender, so
 * that one that bounces comes back to nobody, through the same
 * smtp_relay or sendmail_cmd as sync mail.
 *
 * One replier keeps one key database handle (and so its HKP connection)
 * for every reply it sends: the runner's reply worker sends all due
 * replies with one, and the ingest filter makes one for its inline
 * attempt when no runner listens.
 */
#ifndef PB_REPLY_H
#define PB_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "spool/queue.h"
#include "spool/spool.h"
#include "util/err.h"

struct replier;

/* reply_open - a replier for sp and cfg (the key database is opened at
 * the first reply).  Release with reply_close. */
struct replier *reply_open(struct spool *sp, const struct config *cfg);
void reply_close(struct replier *r);

enum reply_outcome {
	REPLY_SKIPPED,		/* not due, leased elsewhere, gone, not a reply */
	REPLY_SENT,
	REPLY_DEFERRED,
	REPLY_FAILED,
};

/* reply_send - one attempt at reply entry id, if it is due and no other
 * live process holds it (a lease this process took when it committed
 * the entry is no obstacle).  Each wait for the key database or the
 * relay is bounded by timeout_s.  -1 only for spool errors; the
 * outcome is recorded in the entry and logged. */
int reply_send(struct replier *r, const char *id, int timeout_s,
	       enum reply_outcome *out, struct pb_err *err);

/* reply_send_due - reply_send for every reply entry due at now, oldest
 * first, until none is left (replies queued meanwhile included) or
 * max_secs have passed; *n_r counts the attempts made. */
int reply_send_due(struct replier *r, int timeout_s, int max_secs,
		   size_t *n_r, struct pb_err *err);

/* reply_lease_secs - how long a reply's lease lasts for a timeout. */
int reply_lease_secs(int timeout_s);

#endif
