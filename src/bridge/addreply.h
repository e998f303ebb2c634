/*
 * addreply.h - what an ADD's key adds to the key database's copy, as a
 * fact for its reply (mailreq.h; answer.c says it in words).
 *
 * Only the key database knows what a submitted key adds: the dedup index
 * knows just what this gateway saw within dedup_ttl, and would call
 * "new" a key the database has held for years.  So before the keys go
 * in, the database's copy of each is looked up, and the fact says which
 * of the key's packets that copy lacked: a new key, new user IDs, new
 * subkeys, new signatures, or nothing new.  The delivery records the
 * facts in the reply entry, which waits for it (queue.h), in the
 * transaction that records the delivery.
 */
#ifndef PB_ADDREPLY_H
#define PB_ADDREPLY_H

#include <stddef.h>

#include "bridge/mailreq.h"
#include "keydb/keydb.h"
#include "openpgp/pgp.h"

/* addreply_describe - the fact for key, from what db holds of it now
 * (asked within timeout_ms), added to facts: MAILREQ_NEW, MAILREQ_ADDED
 * with its counts, or, if db cannot say, MAILREQ_ACCEPTED. */
void addreply_describe(struct keydb *db, const struct pgp_key *key,
		       size_t max_key_size, int timeout_ms,
		       struct mailreq *facts);

#endif
