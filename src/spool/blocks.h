/*
 * blocks.h - the operator's blocklist in the spool (`pksbridge block
 * add|remove|list`; SPEC "Key policy"): fingerprints whose keys go
 * nowhere but their revocations.  Durable and transactional like the
 * queue, so a block survives restarts and crashes, and is seen by every
 * process (the runner reads it at each delivery frame, gate.h).
 *
 * Layout (blocks.db): key = the fingerprint's bytes (20 or 32); value =
 * version byte, added (8, big-endian Unix seconds), the reason (UTF-8,
 * at most BLOCKS_REASON_MAX bytes, no NUL).
 */
#ifndef PB_BLOCKS_H
#define PB_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "openpgp/pgp.h"
#include "spool/spool.h"
#include "util/err.h"

#define BLOCKS_REASON_MAX 512

struct blocks_entry {
	unsigned char fpr[PGP_FPR_MAX];
	size_t fpr_len;
	int64_t added;
	char reason[BLOCKS_REASON_MAX + 1];
};

/* blocks_add - block fpr (20 or 32 bytes) with reason (NULL: none; cut
 * at BLOCKS_REASON_MAX).  1 if it was blocked already (then the first
 * reason and time stay), 0 if added, -1 on a spool error. */
int blocks_add(struct spool *sp, DB_TXN *txn, const unsigned char *fpr,
	       size_t fpr_len, const char *reason, int64_t now,
	       struct pb_err *err);

/* blocks_remove - 1 if fpr was not blocked, 0 if removed, -1 on error. */
int blocks_remove(struct spool *sp, DB_TXN *txn, const unsigned char *fpr,
		  size_t fpr_len, struct pb_err *err);

/* blocks_list - every entry, in fingerprint order, into *list (free()
 * it); *n_r how many.  A record of the wrong shape is skipped. */
int blocks_list(struct spool *sp, DB_TXN *txn, struct blocks_entry **list,
		size_t *n_r, struct pb_err *err);

#endif
