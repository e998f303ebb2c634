/*
 * addreply.c - the reply to an ADD (see addreply.h).
 *
 * Packets are compared by their digests (pgp.h), which do not depend on
 * the header format, so a database that re-encodes a packet's header
 * still shows it as known.
 */
#include "bridge/addreply.h"
#include "util/buf.h"

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

static void
count(struct buf *b, size_t n, const char *what, const char *plural)
{
	if (n == 0)
		return;
	buf_printf(b, "%s%zu new %s", b->len ? ", " : "", n, n == 1 ? what : plural);
}

void
addreply_describe(struct keydb *db, const struct pgp_key *key,
		  size_t max_key_size, int timeout_ms, struct mailreq *lines)
{
	char search[2 + 2 * PGP_FPR_MAX + 1];
	struct keydb_query q = { KEYDB_SEARCH_FPR, search, KEYDB_WANT_KEYS, 1,
				 max_key_size };
	struct keydb_answer a;
	struct pb_err err;
	const struct pgp_key *copy = NULL;
	size_t uids = 0, subkeys = 0, sigs = 0, other = 0;
	struct buf what = BUF_INIT;

	memset(&a, 0, sizeof a);
	snprintf(search, sizeof search, "0x%s", key->fpr_hex);
	if (!db->lookup || db->lookup(db, &q, &a, timeout_ms, &err) != 0) {
		mailreq_add_line(lines, "%s (%s): accepted", key->fpr_hex,
				 key->uid ? key->uid : "no user ID");
		keydb_answer_free(&a);
		return;
	}
	for (size_t i = 0; i < a.keys.nkeys; i++)
		if (strcmp(a.keys.keys[i].fpr_hex, key->fpr_hex) == 0)
			copy = &a.keys.keys[i];
	if (!copy) {
		mailreq_add_line(lines, "%s (%s): new key", key->fpr_hex,
				 key->uid ? key->uid : "no user ID");
		keydb_answer_free(&a);
		return;
	}
	for (size_t i = 0; i < key->npackets; i++) {
		if (known(copy, &key->digests[i]))
			continue;
		switch (key->tags[i]) {
		case PGP_TAG_USER_ID:
		case PGP_TAG_USER_ATTRIBUTE: uids++; break;
		case PGP_TAG_PUBLIC_SUBKEY: subkeys++; break;
		case PGP_TAG_SIGNATURE: sigs++; break;
		default: other++; break;
		}
	}
	count(&what, uids, "user ID", "user IDs");
	count(&what, subkeys, "subkey", "subkeys");
	count(&what, sigs, "signature", "signatures");
	count(&what, other, "packet", "packets");
	mailreq_add_line(lines, "%s (%s): %s", key->fpr_hex,
			 key->uid ? key->uid : "no user ID",
			 what.len ? buf_str(&what) : "nothing new");
	buf_free(&what);
	keydb_answer_free(&a);
}

int
addreply_insert(struct spool *sp, DB_TXN *txn, const struct q_entry *e,
		const struct mailreq *lines, int64_t now,
		char id_out[QID_LEN + 1], struct pb_err *err)
{
	struct q_source src = { e->sender, e->message_id, e->size, e->id };
	struct mailreq mr;
	struct buf payload = BUF_INIT;
	struct q_entry rep;
	int r;

	if (mailreq_decode(e->request, e->request_len, &mr, err) != 0)
		return pb_err_prefix(err, "%s: ", e->id);
	for (size_t i = 0; lines && i < lines->nlines; i++)
		mailreq_add_line(&mr, "%s", lines->lines[i]);
	mailreq_encode(&mr, &payload);
	q_entry_new_reply(&rep, QS_READY, e->reply_to, NULL, &src);
	rep.payload_kind = Q_PAYLOAD_REQUEST;
	rep.created = now;
	r = queue_insert(sp, txn, &rep, payload.data, payload.len, err);
	if (r == 0)
		memcpy(id_out, rep.id, QID_LEN + 1);
	q_entry_free(&rep);
	buf_free(&payload);
	mailreq_free(&mr);
	return r;
}
