/*
 * replylimit.h - reply_limit and reply_limit_total, kept in the spool.
 *
 * One token bucket (util/ratelimit.h) per requester, keyed by the
 * lower-cased address, and one for all replies, keyed "*" (no address
 * is that).  A bucket is read for update and written in the caller's
 * transaction, the one that records the reply entry, so that a crash
 * keeps both or neither, and concurrent filters queue on the record's
 * lock instead of both spending the last token.
 *
 * The order is what keeps one sender from starving the others: the
 * sender's own bucket is asked first, and the total only if that
 * allowed it; a token is taken from both, or from neither.  A flood from
 * one address is refused by its own bucket and never drains the total.
 *
 * A bucket that has refilled completely says nothing a fresh one would
 * not; replylimit_expire deletes those, so the database holds only the
 * requesters of the last period.
 */
#ifndef PB_REPLYLIMIT_H
#define PB_REPLYLIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"
#include "util/err.h"
#include "util/ratelimit.h"

enum replylimit_verdict {
	REPLYLIMIT_OK,		/* a token taken from both buckets */
	REPLYLIMIT_SENDER,	/* the requester's bucket is empty */
	REPLYLIMIT_TOTAL,	/* the requester's had one, the total not */
};

/* replylimit_take - one reply for requester as of now, under per (its
 * own bucket) and total.  *verdict_r says whether it may be sent; for a
 * refusal *wait_r (may be NULL) is the seconds until the refusing bucket
 * holds a token again.  -1 only for spool errors. */
int replylimit_take(struct spool *sp, DB_TXN *txn, const char *requester,
		    const struct ratelimit *per, const struct ratelimit *total,
		    int64_t now, enum replylimit_verdict *verdict_r,
		    int64_t *wait_r, struct pb_err *err);

/* replylimit_expire - delete the buckets that have refilled by now (the
 * requesters' under per, the total's under total), in short
 * transactions of their own; *n_r is how many. */
int replylimit_expire(struct spool *sp, const struct ratelimit *per,
		      const struct ratelimit *total, int64_t now, size_t *n_r,
		      struct pb_err *err);

#endif
