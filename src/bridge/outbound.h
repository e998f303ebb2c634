/*
 * outbound.h - outbound entries: locally originated keys, one entry per
 * PKS peer; only local changes go out to PKS.
 *
 * Two intakes feed it: SKS's mailsync through "pksbridge sendmail" (peers
 * from the mail's recipients) and ADD mails from users through ingest
 * (peers from the mailsync file).  A key all of whose packets arrived
 * from PKS within dedup_ttl is an echo (SKS merging what pksbridge fed
 * it, mailsyncing it back): it is not sent anywhere.  Each peer gets the
 * other keys, less those whose every packet it was already sent within
 * dedup_ttl; a peer left with nothing gets a "suppressed" entry, so the
 * decision stays visible in queue list --all.
 */
#ifndef PB_OUTBOUND_H
#define PB_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "mail/extract.h"
#include "spool/queue.h"
#include "spool/spool.h"

/* One ready entry made by outbound_enqueue, for the log line its caller
 * writes once the transaction has committed: a line written inside the
 * transaction would name an entry that a retried or aborted attempt never
 * made.  peer points into the caller's peers array. */
struct outbound_queued {
	char id[QID_LEN + 1];
	const char *peer;
	size_t nkeys;
};

/* Zero it before the first outbound_enqueue and release it with
 * outbound_result_free; outbound_enqueue starts it afresh on every
 * attempt of a retried transaction, keeping its allocation. */
struct outbound_result {
	size_t nready;			/* entries queued for delivery */
	size_t nsuppressed;		/* suppressed entries recorded */
	size_t nechoes;			/* keys that were PKS echoes */
	char first_id[QID_LEN + 1];	/* first entry created, or "" */
	struct outbound_queued *queued;	/* the nready entries, owned */
	size_t queued_cap;
};

/* outbound_enqueue - inside txn, for x's keys (only those with take[i]
 * if take is not NULL): one entry per peer, due after batch_window so
 * that a burst goes out as one mail.  Records the keys that are not
 * echoes as seen from a local source.  sender, message_id, size and
 * parent describe where the keys came from. */
int outbound_enqueue(struct spool *sp, DB_TXN *txn, const struct config *cfg,
		     const struct extract *x, const unsigned char *take,
		     char *const *peers, size_t npeers, const char *sender,
		     uint64_t size, const char *parent, int64_t now,
		     struct outbound_result *res, struct pb_err *err);

/* outbound_log_queued - after the commit: one "status=queued" line per
 * entry res holds. */
void outbound_log_queued(const struct outbound_result *res);

void outbound_result_free(struct outbound_result *res);

#endif
