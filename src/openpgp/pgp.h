/*
 * pgp.h - OpenPGP packet framing (RFC 4880 / RFC 9580 section 4), written
 * by hand because spawning gpg per key is too slow for digests.
 *
 * Splits a binary keyring (the decoded contents of an armor block) into
 * transferable public keys, computes each key's fingerprint (v4: SHA-1;
 * v5/v6: SHA-256), its primary user ID, and one digest per packet for the
 * dedup index.  Lengths come from untrusted mail: every length is checked
 * against the remaining buffer, partial lengths are refused inside keys,
 * and sizes are bounded by the caller's limits.
 *
 * This is framing, not validation: GnuPG (keycheck.h) decides whether a
 * key is acceptable.  But secret-key packets are always detected here so
 * that they can never be stored or forwarded.
 */
#ifndef PB_PGP_H
#define PB_PGP_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define PGP_DIGEST_LEN 20	/* SHA-256 truncated to 160 bits */
#define PGP_FPR_MAX 32
#define PGP_UID_MAX 1024	/* longest pgp_key.uid, in bytes */
#define PGP_MAX_PROBLEMS 100	/* then one "more than ..." entry, no more */

enum pgp_tag {
	PGP_TAG_SIGNATURE = 2,
	PGP_TAG_SECRET_KEY = 5,
	PGP_TAG_PUBLIC_KEY = 6,
	PGP_TAG_SECRET_SUBKEY = 7,
	PGP_TAG_TRUST = 12,
	PGP_TAG_USER_ID = 13,
	PGP_TAG_PUBLIC_SUBKEY = 14,
	PGP_TAG_USER_ATTRIBUTE = 17,
};

struct pgp_digest {
	unsigned char d[PGP_DIGEST_LEN];
};

/* One transferable public key, as it will be stored and delivered. */
struct pgp_key {
	unsigned char *data;		/* the key's packets exactly as
					 * received (headers included), trust
					 * packets dropped; owned, freed by
					 * pgp_keylist_free */
	size_t len;
	int version;			/* primary key packet version: 4..6
					 * (v2/v3 keys are problems: GnuPG
					 * cannot take them, and their MD5
					 * fingerprints are forgeable) */
	unsigned char fpr[PGP_FPR_MAX];	/* v4: SHA-1 (20), v5/v6: SHA-256 (32) */
	size_t fpr_len;
	char fpr_hex[2 * PGP_FPR_MAX + 1]; /* upper-case hex */
	char *uid;			/* primary user ID, chosen as GnuPG
					 * does: among user IDs not revoked
					 * by the key, the one whose newest
					 * self-signature (issuer = this key)
					 * has the hashed primary flag, else
					 * the most recently self-signed one,
					 * else the first; valid UTF-8 with
					 * control characters and invalid
					 * bytes replaced by '?', at most
					 * PGP_UID_MAX bytes; NULL if none.
					 * Signatures are not verified: it is
					 * for display only. */
	size_t npackets;
	struct pgp_digest *digests;	/* npackets entries, in packet order;
					 * digest = SHA-256(tag octet ||
					 * 4-octet big-endian body length ||
					 * body)[0..20), independent of the
					 * header format */
	uint8_t *tags;			/* npackets tags, parallel to digests */
};

/* A problem found while splitting: reported, then the caller quarantines
 * just that piece. */
struct pgp_problem {
	char fpr_hex[2 * PGP_FPR_MAX + 1]; /* affected key, "" if unknown
					 * (32 hex digits for a v3 key) */
	char reason[200];
};

/* Only pgp_split_keys grows the arrays (it relies on their sizes). */
struct pgp_keylist {
	struct pgp_key *keys;
	size_t nkeys;
	struct pgp_problem *problems;
	size_t nproblems;		/* at most PGP_MAX_PROBLEMS + 1 */
	int secret_seen;		/* a secret key/subkey packet was found
					 * (and that key was dropped) */
};

struct pgp_limits {
	size_t max_key_size;		/* bytes of one key */
	size_t max_keys;		/* keys accepted into the list */
};

/* pgp_split_keys - split data[0..len) into keys and append them to list
 * (which must be zeroed or hold earlier results).  Broken framing stops
 * the split of this buffer with a problem recorded; keys before it are
 * kept.  Keys with secret material, keys over max_key_size, keys past
 * max_keys and keys without a primary key packet become problems, not
 * keys; trust packets are dropped.  limits may be NULL (no limits).
 * Never fails as a whole except on allocation (which aborts). */
void pgp_split_keys(const unsigned char *data, size_t len,
		    const struct pgp_limits *limits, struct pgp_keylist *list);

void pgp_keylist_free(struct pgp_keylist *list);

/* pgp_key_free_contents - free what one struct pgp_key owns. */
void pgp_key_free_contents(struct pgp_key *key);

/* pgp_key_copy - deep copy of src into dst (overwritten, not freed). */
void pgp_key_copy(struct pgp_key *dst, const struct pgp_key *src);

/* pgp_parse_key_blob - parse a single stored key (as produced by
 * pgp_split_keys) back into a struct pgp_key; -1 if it is not exactly one
 * public key.  Used when reading keys back from the queue. */
int pgp_parse_key_blob(const unsigned char *data, size_t len,
		       struct pgp_key *key, struct pb_err *err);

/* A key sequence: stored keys one after the other, each prefixed with
 * its length (4 bytes, big-endian).  The queue keeps an entry's keys in
 * this form, and extract packs a mail's keys into it once, so that a
 * large mail's keys are never held twice.  pgp_keyseq_add appends one
 * key to seq. */
void pgp_keyseq_add(struct buf *seq, const unsigned char *key, size_t len);
/* pgp_keyseq_next - iterate: *off starts at 0; returns 1 with the key,
 * 0 at the end, -1 if the sequence is corrupt (a length runs past the
 * end, or is 0). */
int pgp_keyseq_next(const unsigned char *seq, size_t len, size_t *off,
		    const unsigned char **key_r, size_t *key_len_r);

/* pgp_fpr_from_hex - parse 32/40/64 hex digits (optional 0x, spaces)
 * into fpr (PGP_FPR_MAX bytes); 0, or -1 if malformed. */
int pgp_fpr_from_hex(const char *hex, unsigned char *fpr, size_t *len_r);

/* pgp_hex - upper-case hex of data into out (2*len+1 bytes). */
void pgp_hex(const unsigned char *data, size_t len, char *out);

/* One packet as framed in a caller's buffer: for code that walks a key
 * packet by packet (the key policy).  Pointers into that buffer. */
struct pgp_packet {
	unsigned tag;
	const unsigned char *hdr;	/* the packet, header first */
	size_t hlen;			/* header bytes */
	const unsigned char *body;	/* hdr + hlen */
	size_t blen;			/* body bytes */
};

/* pgp_packet_next - frame the packet at data[*off] (data[0..len)): 1
 * with p filled and *off past it, 0 at the end of the data, -1 if the
 * framing is broken there (a length running past len, a partial or
 * indeterminate length, tag 0), with why (if not NULL) saying how.  The
 * same framing as pgp_split_keys. */
int pgp_packet_next(const unsigned char *data, size_t len, size_t *off,
		    struct pgp_packet *p, char *why, size_t why_len);

/* pgp_key_fingerprint - the version and fingerprint of a public key or
 * subkey packet body (the public part): v4 SHA-1 (20 bytes), v5/v6
 * SHA-256 (32).  0, or -1 for another version or a body too short or
 * too long to fingerprint. */
int pgp_key_fingerprint(const unsigned char *body, size_t len, int *version_r,
			unsigned char fpr[PGP_FPR_MAX], size_t *fpr_len_r);

#endif
