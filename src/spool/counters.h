/*
 * counters.h - monotonic counters in the spool, for Prometheus (`queue
 * stats --prometheus`): what the key policy did, summed over every
 * delivery since the spool was made.  Queue entries are purged, so
 * counting them cannot give a counter; these survive purges, restarts
 * and crashes, and are added to in the transaction that records what
 * they count.
 *
 * Layout (counters.db): key = the counter's name (at most
 * COUNTERS_NAME_MAX bytes, no NUL; the caller's naming); value = 8
 * bytes, big-endian.
 */
#ifndef PB_COUNTERS_H
#define PB_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"
#include "util/err.h"

#define COUNTERS_NAME_MAX 96

struct counter {
	char name[COUNTERS_NAME_MAX + 1];
	uint64_t value;
};

/* counters_add - add delta to the counter name (created at 0), in txn
 * (which must be a write transaction). */
int counters_add(struct spool *sp, DB_TXN *txn, const char *name,
		 uint64_t delta, struct pb_err *err);

/* counters_list - every counter, in name order, into *list (free() it).
 * A record of the wrong shape is skipped. */
int counters_list(struct spool *sp, DB_TXN *txn, struct counter **list,
		  size_t *n_r, struct pb_err *err);

#endif
