/*
 * handoff.h - who delivers a queue entry right after its commit.
 *
 * Producers (the ingest filter, the sendmail intake, the queue CLI) only
 * hand their entries over; this module decides who delivers them, as
 * Postfix's producers only trigger qmgr (mail_trigger).  If a runner
 * ("pksbridge run") listens on the spool's wakeup FIFO, one byte wakes
 * it: it delivers faster than a filter can, keeping its GPGME context and
 * key database connection warm and checking a batch with one gpg run,
 * where an inline attempt starts gpg three times for one mail.  make
 * bench measured handing over against delivering inline: mail -> served
 * by SKS p50 12.9 ms against 24.7 ms; one filter at a time 197 mails/s
 * against 62; 905 keys 4 at a time 6.1 s against 7.8 s
 * (docs/BENCHMARKS.md).  With no runner listening, the
 * ingest filter delivers its inbound entry itself, one filter at a time
 * (an flock on the spool's inline.lock, never waited for), and wakes a
 * runner that may have started meanwhile if that attempt did not finish
 * the entry; outbound entries always wait for a runner, but for the
 * reply to a mail command, which the filter also sends itself then
 * (after its inline delivery, for the reply to an ADD, which waits for
 * the delivery of its keys).
 *
 * The choice is made before the commit, because only the filter holding
 * the inline slot leases its entry in the committing transaction, and
 * kept for after it, so that the FIFO is opened once per mail.
 */
#ifndef PB_HANDOFF_H
#define PB_HANDOFF_H

#include "config/config.h"
#include "spool/spool.h"
#include "util/err.h"

struct handoff {
	int runner_fd;		/* write end of the wakeup FIFO, or -1 */
	int slot_fd;		/* holds inline.lock, or -1 */
};

/* handoff_begin - before the commit: is a runner listening?  If not,
 * try for the inline slot.  End with handoff_after_commit or
 * handoff_cancel. */
void handoff_begin(struct handoff *h, const struct spool *sp);

/* handoff_lease_secs - how long the committing transaction should lease
 * the inbound entry to this process: 0 unless it will deliver inline. */
int handoff_lease_secs(const struct handoff *h);

/* handoff_after_commit - the entries are durable: wake the runner for
 * them, or, with none listening, deliver the ready inbound entry
 * inbound_id and send the ready reply entry reply_id (NULL: none) inline,
 * each within a bounded time.  outbound: outbound sync entries were
 * queued too.  Outcomes are recorded in the entries and logged; nothing
 * here can undo the commit.  Releases h. */
void handoff_after_commit(struct handoff *h, struct spool *sp,
			  const struct config *cfg, const char *inbound_id,
			  const char *reply_id, int outbound);

/* handoff_cancel - nothing was committed: release h. */
void handoff_cancel(struct handoff *h);

/* handoff_wake - nudge a listening runner through its wakeup FIFO
 * (after queue retry, release, flush, or outbound intake).  Returns 1
 * if one listens, 0 if none. */
int handoff_wake(const struct spool *sp);

/* handoff_listen - the runner's end of the wakeup FIFO (created if
 * missing; O_RDWR|O_NONBLOCK, so it never sees EOF), or -1 with err.
 * The caller polls and drains it, and closes it. */
int handoff_listen(const struct spool *sp, struct pb_err *err);

#endif
