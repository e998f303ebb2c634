/*
 * addreply.h - the reply to an ADD, made when its keys are delivered.
 *
 * Only the key database knows what a submitted key adds: the dedup index
 * knows just what this gateway saw within dedup_ttl, and would call
 * "new" a key the database has held for years.  So before the keys go
 * in, the database's copy of each is looked up, and the reply says, per
 * key, which of its packets that copy lacked: a new key, new user IDs,
 * new subkeys, new signatures, or nothing new.  After the delivery the
 * reply entry is made in the transaction that records it: keys
 * delivered (with those lines), refused by GnuPG (and why), or the
 * database's refusal.
 *
 * With sks: the delivery only hands the keys to SKS's spool, which SKS
 * merges within about ten seconds and never reports on: the reply says
 * so, and what the copy SKS had before lacked.
 */
#ifndef PB_ADDREPLY_H
#define PB_ADDREPLY_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/mailreq.h"
#include "keydb/keydb.h"
#include "openpgp/pgp.h"
#include "spool/queue.h"
#include "spool/spool.h"
#include "util/err.h"

/* addreply_describe - one line of the reply for key, from what db holds
 * of it now (asked within timeout_ms), appended to lines: "FPR (uid):
 * new key", "...: 2 new signatures, 1 new user ID", "...: nothing new";
 * if db cannot say, that the key was accepted. */
void addreply_describe(struct keydb *db, const struct pgp_key *key,
		       size_t max_key_size, int timeout_ms,
		       struct mailreq *lines);

/* addreply_insert - inside txn, the reply to the ADD whose inbound entry
 * e (as recorded, with its reply_to and request) has finished: the
 * request's lines, then lines; ready, due now.  *id_out receives its id. */
int addreply_insert(struct spool *sp, DB_TXN *txn, const struct q_entry *e,
		    const struct mailreq *lines, int64_t now,
		    char id_out[QID_LEN + 1], struct pb_err *err);

#endif
