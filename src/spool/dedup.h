/*
 * dedup.h - the dedup index: which OpenPGP packets were seen, from where,
 * and which mails were already accepted.
 *
 * Per key fingerprint, one record per packet digest (pgp.h) with the
 * time it was last seen from PKS and from a local source; per key a
 * summary; per accepted inbound mail its Message-ID.  Records older than
 * dedup_ttl count as absent and are purged by dedup_expire().  This is
 * what makes a resent PKS mail, or one with nothing new, a duplicate,
 * and what lets the outbound side recognise SKS echoing PKS traffic (a
 * key all of whose packets came from PKS is never sent back to PKS).
 */
#ifndef PB_DEDUP_H
#define PB_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "openpgp/pgp.h"
#include "spool/queue.h"
#include "spool/spool.h"

/* How a key's packets relate to what the index has seen recently. */
struct dedup_verdict {
	size_t npackets;
	size_t n_new;		/* never seen (or only longer ago than ttl) */
	size_t n_from_pks;	/* seen from PKS within ttl */
	size_t n_from_local;	/* seen from a local source within ttl */
};

/* dedup_check_key - classify key's packets as of now. */
int dedup_check_key(struct spool *sp, DB_TXN *txn, const struct pgp_key *key,
		    int64_t now, int64_t ttl, struct dedup_verdict *v,
		    struct pb_err *err);

/* dedup_record_key - note every packet of key as seen now from origin. */
int dedup_record_key(struct spool *sp, DB_TXN *txn, const struct pgp_key *key,
		     enum q_origin origin, int64_t now, struct pb_err *err);

/* dedup_forget_key - undo dedup_record_key(key, origin, when) for the
 * packets whose latest sighting from origin is still exactly `when`, so
 * that a resend is not a duplicate when the entry that recorded them
 * failed.  Sightings by other, later mails are left alone. */
int dedup_forget_key(struct spool *sp, DB_TXN *txn, const struct pgp_key *key,
		     enum q_origin origin, int64_t when, struct pb_err *err);

/* dedup_msgid_seen - 1 (and the accepting entry's id in qid_r, if not
 * NULL) if msgid was accepted within ttl, else 0; -1 on error. */
int dedup_msgid_seen(struct spool *sp, DB_TXN *txn, const char *msgid,
		     int64_t now, int64_t ttl, char qid_r[QID_LEN + 1],
		     struct pb_err *err);
int dedup_msgid_record(struct spool *sp, DB_TXN *txn, const char *msgid,
		       const char *qid, int64_t now, struct pb_err *err);

/* Outbound no-repeat: which packets a peer was sent, so that no peer is
 * sent the same packets twice within dedup_ttl. */
int dedup_sent_check(struct spool *sp, DB_TXN *txn, const char *peer,
		     const struct pgp_key *key, int64_t now, int64_t ttl,
		     size_t *n_unsent_r, struct pb_err *err);
int dedup_sent_record(struct spool *sp, DB_TXN *txn, const char *peer,
		      const struct pgp_key *key, int64_t now,
		      struct pb_err *err);

/* What dedup lookup shows. */
struct dedup_packet_info {
	unsigned char digest[PGP_DIGEST_LEN];
	int64_t first_seen;
	int64_t seen_pks;	/* 0 = never */
	int64_t seen_local;	/* 0 = never */
};

struct dedup_key_info {
	char fpr_hex[2 * PGP_FPR_MAX + 1];
	int64_t first_seen;
	int64_t last_seen;
	int64_t last_pks;
	int64_t last_local;
	int64_t last_new;	/* a packet last seen for the first time */
	size_t npackets;
	struct dedup_packet_info *packets;	/* owned */
};

/* dedup_lookup - what the index knows about fpr; PB_ENOTFOUND if
 * nothing.  Free with dedup_key_info_free. */
int dedup_lookup(struct spool *sp, DB_TXN *txn, const unsigned char *fpr,
		 size_t fpr_len, struct dedup_key_info *info,
		 struct pb_err *err);
void dedup_key_info_free(struct dedup_key_info *info);

/* dedup_changed_since - the keys of which a packet was first seen at
 * or after since (what "LAST <days>" answers): the first max of them
 * (hex fingerprints, caller frees *fprs_r) and, in *total_r, how many
 * there are in all.  A scan of one record per key. */
int dedup_changed_since(struct spool *sp, DB_TXN *txn, int64_t since,
			size_t max, char (**fprs_r)[2 * PGP_FPR_MAX + 1],
			size_t *n_r, uint64_t *total_r, struct pb_err *err);

/* dedup_count - keys in the index (dedup_entries in queue stats). */
int dedup_count(struct spool *sp, DB_TXN *txn, uint64_t *n_r,
		struct pb_err *err);

/* dedup_expire - delete every record last seen before now - ttl.  Runs
 * its own short transactions (a few hundred records each) so it never
 * holds locks for long; *n_r is the number deleted. */
int dedup_expire(struct spool *sp, int64_t now, int64_t ttl, size_t *n_r,
		 struct pb_err *err);

#endif
