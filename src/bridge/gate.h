/*
 * gate.h - the key policy (openpgp/policy.h) as the bridge's doors apply
 * it: one configured policy per deliverer, a key judged at the door it
 * is crossing, and the stored key fetched from the key database when
 * the policy needs it (SPEC "Key policy").
 *
 * The doors: GATE_KEYDB (inbound keys, before the key database),
 * GATE_PEER (before a PKS peer gets them), GATE_REPLY (before a reply
 * carries them).  What differs between them is only who may be asked
 * for a stored key, the gnupg: exception for hard-revoked keys, and
 * that a reply never carries a blocked key; the policy itself is the
 * same everywhere.
 */
#ifndef PB_GATE_H
#define PB_GATE_H

#include "config/blocklist.h"
#include "config/config.h"
#include "keydb/keydb.h"
#include "openpgp/policy.h"
#include "spool/spool.h"

enum gate_door { GATE_KEYDB, GATE_PEER, GATE_REPLY };

struct gate {
	struct policy pol;
	struct blocklist file;		/* blocklist_file, read at open */
	struct blocklist ops;		/* the spool's `block` list, read at
					 * each gate_refresh */
};

/* gate_open - the policy of cfg, with blocklist_file read now (an
 * unreadable list is an error: judging without it would pass what the
 * operator blocked). */
int gate_open(const struct config *cfg, struct gate **g_r,
	      struct pb_err *err);
void gate_close(struct gate *g);

/* gate_refresh - read the operator's block list (spool/blocks.h) again,
 * so that a `block add` is obeyed from the next delivery frame of a
 * running runner on.  -1 on a spool error (the caller defers: judging
 * without the list would pass what the operator blocked). */
int gate_refresh(struct gate *g, struct spool *sp, struct pb_err *err);

/* gate_judge - key judged for door into *res (always to be freed with
 * policy_result_free).  db (NULL: none to ask) is asked, within
 * timeout_ms, for its copy of the key when the key is a delta (judged
 * alone, it lost packets as unbound, or everything), and, at
 * GATE_KEYDB of a database that does not merge (gnupg:), when the key
 * is hard-revoked (a keyring without the key gets its self-signed user
 * IDs).  -1 with PB_ETEMP when the database could not answer (the
 * caller defers: a delta is never passed on unjudged), PB_EDATA when
 * key is not one key. */
int gate_judge(const struct gate *g, enum gate_door door,
	       const struct pgp_key *key, struct keydb *db, int timeout_ms,
	       struct policy_result *res, struct pb_err *err);

/* gate_passes - 1 when res.kept holds packets to pass through door
 * (kept, unjudged, or a blocked key's revocations outside a reply). */
int gate_passes(enum gate_door door, const struct policy_result *res);

/* gate_take - res.kept as a key, into *out (the caller frees it with
 * pgp_key_free_contents).  -1 if it does not parse (a policy bug). */
int gate_take(const struct policy_result *res, struct pgp_key *out,
	      struct pb_err *err);

/* gate_log - the one log line per judged key: its fingerprint, the
 * door, the verdict and policy=kept:N,third_party:N,... */
void gate_log(const char *qid, enum gate_door door, const struct pgp_key *key,
	      const struct policy_result *res);

/* What a door judged, to be added to the spool's counters (spool/
 * counters.h) in the transaction that records it: keys by verdict, and
 * dropped packets by reason. */
struct gate_tally {
	uint64_t keys[POLICY_TOO_LARGE + 1];
	uint64_t dropped[POLICY_NREASONS];
};

/* gate_tally_add - res counted into t. */
void gate_tally_add(struct gate_tally *t, const struct policy_result *res);

/* gate_tally_record - t added to the counters policy_keys:DOOR:VERDICT
 * and policy_dropped:DOOR:REASON, in txn. */
int gate_tally_record(struct spool *sp, DB_TXN *txn, enum gate_door door,
		      const struct gate_tally *t, struct pb_err *err);

/* gate_door_name - "keydb", "peer", "reply". */
const char *gate_door_name(enum gate_door door);

/* gate_trim_list - every key of list through door without asking a
 * database (a reply's keys come whole from it), trimmed in place; keys
 * that do not pass are removed.  Returns how many were removed. */
size_t gate_trim_list(const struct gate *g, enum gate_door door,
		      const char *qid, struct pgp_keylist *list);

#endif
