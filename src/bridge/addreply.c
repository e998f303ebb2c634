/*
 * addreply.c - what an ADD's key adds to the database's copy (see
 * addreply.h).
 *
 * Packets are compared by their digests (pgp.h), which do not depend on
 * the header format, so a database that re-encodes a packet's header
 * still shows it as known.
 */
#include "bridge/addreply.h"

#include <stdio.h>
#include <string.h>

/* known - digest d is one of copy's packets. */
static int
known(const struct pgp_key *copy, const struct pgp_digest *d)
{
	for (size_t i = 0; copy && i < copy->npackets; i++)
		if (memcmp(copy->digests[i].d, d->d, PGP_DIGEST_LEN) == 0)
			return 1;
	return 0;
}

/* lacked - f's counts: the packets of key that copy lacks. */
static void
lacked(const struct pgp_key *key, const struct pgp_key *copy,
       struct mailreq_fact *f)
{
	for (size_t i = 0; i < key->npackets; i++) {
		if (known(copy, &key->digests[i]))
			continue;
		switch (key->tags[i]) {
		case PGP_TAG_USER_ID:
		case PGP_TAG_USER_ATTRIBUTE: f->uids++; break;
		case PGP_TAG_PUBLIC_SUBKEY: f->subkeys++; break;
		case PGP_TAG_SIGNATURE: f->sigs++; break;
		default: f->other++; break;
		}
	}
}

void
addreply_describe(struct keydb *db, const struct pgp_key *key,
		  size_t max_key_size, int timeout_ms, struct mailreq *facts)
{
	char search[2 + 2 * PGP_FPR_MAX + 1];
	struct keydb_query q = { KEYDB_SEARCH_FPR, search, KEYDB_WANT_KEYS, 1,
				 max_key_size };
	struct keydb_answer a;
	struct pb_err err;
	const struct pgp_key *copy = NULL;
	struct mailreq_fact f = mailreq_key_fact(MAILREQ_ACCEPTED, key);

	memset(&a, 0, sizeof a);
	snprintf(search, sizeof search, "0x%s", key->fpr_hex);
	if (db->lookup && db->lookup(db, &q, &a, timeout_ms, &err) == 0) {
		for (size_t i = 0; i < a.keys.nkeys; i++)
			if (strcmp(a.keys.keys[i].fpr_hex, key->fpr_hex) == 0)
				copy = &a.keys.keys[i];
		f.kind = copy ? MAILREQ_ADDED : MAILREQ_NEW;
		if (copy)
			lacked(key, copy, &f);
	}
	mailreq_add_fact(facts, &f);
	keydb_answer_free(&a);
}
