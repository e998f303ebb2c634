/*
 * outdeliver.h - sending what is queued for one PKS peer.
 *
 * Everything pending for the peer goes out together: when
 * one of its entries is due, all its ready entries are coalesced into
 * one mail, bounded by max_batch_keys and max_batch_bytes, further mails
 * following until nothing due is left.  Keys the peer was already sent
 * within dedup_ttl are left out, and exact duplicates sent once.  The
 * outcome is recorded per entry: done (and the packets remembered as
 * sent to this peer), deferred per retry_schedule (SMTP 4xx, network,
 * timeouts), or failed (5xx, or max_queue_lifetime passed).
 *
 * The runner calls this in a child process per peer, so a dead or slow
 * peer never delays the others.
 */
#ifndef PB_OUTDELIVER_H
#define PB_OUTDELIVER_H

#include <signal.h>
#include <stdint.h>

#include "config/config.h"
#include "spool/spool.h"
#include "util/err.h"

/* outdeliver_peer - send the due mail for peer.  *sent_r counts mails
 * sent.  Returns -1 only for spool errors; delivery failures are
 * recorded in the entries. */
int outdeliver_peer(struct spool *sp, const struct config *cfg,
		    const char *peer, int timeout_s, size_t *sent_r,
		    struct pb_err *err);

#endif
