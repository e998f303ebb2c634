/*
 * test_dedup.c - the dedup index: packet verdicts per origin and ttl,
 * Message-IDs, per-peer sent records, lookup, expiry.
 */
#include "lib/unit.h"
#include "openpgp/armor.h"
#include "openpgp/pgp.h"
#include "spool/dedup.h"
#include "spool/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *
fresh_dir(const char *name)
{
	static char path[512];

	snprintf(path, sizeof path, "%s/%s", unit_tmpdir(), name);
	mkdir(path, 0700);
	return path;
}

struct first_block {
	struct pgp_keylist *list;
};

static int
take_block(void *vctx, const struct armor_block *blk)
{
	struct first_block *c = vctx;
	struct pgp_limits lim = { 1 << 20, 100 };

	if (blk->kind == ARMOR_PUBLIC_KEY && blk->ok)
		pgp_split_keys(blk->data, blk->len, &lim, c->list);
	return 0;
}

/* load_key - the first key of a fixture file into list. */
static int
load_keys(const char *name, struct pgp_keylist *list)
{
	size_t len;
	char *text = unit_read_file(unit_data_path(name), &len);
	struct first_block c = { list };

	memset(list, 0, sizeof *list);
	if (!text)
		return -1;
	armor_scan(text, len, 1 << 20, take_block, &c);
	free(text);
	return list->nkeys > 0 ? 0 : -1;
}

struct rec_ctx {
	const struct pgp_key *key;
	enum q_origin origin;
	int64_t now;
};

static int
do_record(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct rec_ctx *c = vctx;

	return dedup_record_key(sp, txn, c->key, c->origin, c->now, err);
}

static void
test_verdicts(void)
{
	struct spool *sp;
	struct pb_err err;
	struct pgp_keylist carol, signed_carol;
	struct dedup_verdict v;
	struct rec_ctx rc;
	int64_t now = 1800000000, ttl = 7 * 86400;

	CHECK(load_keys("keys/carol.asc", &carol) == 0);
	CHECK(load_keys("keys/carol-signed.asc", &signed_carol) == 0);
	CHECK_OK(spool_open(fresh_dir("verdicts"), &sp, &err), &err);

	CHECK_OK(dedup_check_key(sp, NULL, &carol.keys[0], now, ttl, &v, &err), &err);
	CHECK_INT(v.n_new, carol.keys[0].npackets);
	CHECK_INT(v.n_from_pks, 0);

	rc = (struct rec_ctx){ &carol.keys[0], Q_ORIGIN_PKS, now };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);
	CHECK_OK(dedup_check_key(sp, NULL, &carol.keys[0], now + 10, ttl, &v, &err), &err);
	CHECK_INT(v.n_new, 0);
	CHECK_INT(v.n_from_pks, carol.keys[0].npackets);
	CHECK_INT(v.n_from_local, 0);

	/* The certified version has exactly one packet we have not seen. */
	CHECK_OK(dedup_check_key(sp, NULL, &signed_carol.keys[0], now + 10, ttl,
				 &v, &err), &err);
	CHECK_INT(v.npackets, carol.keys[0].npackets + 1);
	CHECK_INT(v.n_new, 1);
	CHECK_INT(v.n_from_pks, carol.keys[0].npackets);

	/* Locally seen too: both origins counted. */
	rc = (struct rec_ctx){ &signed_carol.keys[0], Q_ORIGIN_LOCAL, now + 20 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);
	CHECK_OK(dedup_check_key(sp, NULL, &signed_carol.keys[0], now + 30, ttl,
				 &v, &err), &err);
	CHECK_INT(v.n_new, 0);
	CHECK_INT(v.n_from_local, signed_carol.keys[0].npackets);
	CHECK_INT(v.n_from_pks, carol.keys[0].npackets);

	/* After the ttl everything is new again. */
	CHECK_OK(dedup_check_key(sp, NULL, &signed_carol.keys[0],
				 now + 20 + ttl + 1, ttl, &v, &err), &err);
	CHECK_INT(v.n_new, signed_carol.keys[0].npackets);

	pgp_keylist_free(&carol);
	pgp_keylist_free(&signed_carol);
	spool_close(sp);
}

/* LAST's question: which keys had a packet first seen since a time.
 * Seeing a key again with nothing new does not make it changed; a new
 * certification does; keys changed before the window are left out. */
static void
test_changed_since(void)
{
	struct spool *sp;
	struct pb_err err;
	struct pgp_keylist carol, signed_carol, alice, bob;
	struct rec_ctx rc;
	char (*fprs)[2 * PGP_FPR_MAX + 1];
	size_t n;
	uint64_t total;
	int64_t t = 1800000000;

	CHECK(load_keys("keys/carol.asc", &carol) == 0);
	CHECK(load_keys("keys/carol-signed.asc", &signed_carol) == 0);
	CHECK(load_keys("keys/alice.asc", &alice) == 0);
	CHECK(load_keys("keys/bob.asc", &bob) == 0);
	CHECK_OK(spool_open(fresh_dir("changed"), &sp, &err), &err);
	rc = (struct rec_ctx){ &carol.keys[0], Q_ORIGIN_PKS, t };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);
	rc = (struct rec_ctx){ &alice.keys[0], Q_ORIGIN_LOCAL, t + 100 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);
	/* carol again, nothing new, later: not a change. */
	rc = (struct rec_ctx){ &carol.keys[0], Q_ORIGIN_PKS, t + 200 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);

	CHECK_OK(dedup_changed_since(sp, NULL, t + 50, 10, &fprs, &n, &total,
				     &err), &err);
	CHECK_INT(total, 1);
	CHECK_INT(n, 1);
	CHECK_STR(fprs[0], alice.keys[0].fpr_hex);
	free(fprs);
	/* A new certification on carol: changed. */
	rc = (struct rec_ctx){ &signed_carol.keys[0], Q_ORIGIN_PKS, t + 300 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);
	rc = (struct rec_ctx){ &bob.keys[0], Q_ORIGIN_PKS, t + 300 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);
	CHECK_OK(dedup_changed_since(sp, NULL, t + 250, 10, &fprs, &n, &total,
				     &err), &err);
	CHECK_INT(total, 2);
	CHECK_INT(n, 2);
	CHECK(strcmp(fprs[0], carol.keys[0].fpr_hex) == 0 ||
	      strcmp(fprs[1], carol.keys[0].fpr_hex) == 0);
	free(fprs);
	/* At most max listed, all counted. */
	CHECK_OK(dedup_changed_since(sp, NULL, t, 2, &fprs, &n, &total, &err),
		 &err);
	CHECK_INT(total, 3);
	CHECK_INT(n, 2);
	free(fprs);
	CHECK_OK(dedup_changed_since(sp, NULL, t + 301, 2, &fprs, &n, &total,
				     &err), &err);
	CHECK_INT(total, 0);
	CHECK(fprs == NULL);
	pgp_keylist_free(&carol);
	pgp_keylist_free(&signed_carol);
	pgp_keylist_free(&alice);
	pgp_keylist_free(&bob);
	spool_close(sp);
}

struct msgid_ctx {
	const char *msgid, *qid;
	int64_t now;
};

static int
do_msgid(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct msgid_ctx *c = vctx;

	return dedup_msgid_record(sp, txn, c->msgid, c->qid, c->now, err);
}

static void
test_msgid(void)
{
	struct spool *sp;
	struct pb_err err;
	char qid[QID_LEN + 1];
	struct msgid_ctx c = { "abc@example.org", "0123456789ABCD", 1000 };

	CHECK_OK(spool_open(fresh_dir("msgid"), &sp, &err), &err);
	CHECK_INT(dedup_msgid_seen(sp, NULL, c.msgid, 1000, 60, qid, &err), 0);
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_msgid, &c, &err), &err);
	CHECK_INT(dedup_msgid_seen(sp, NULL, c.msgid, 1010, 60, qid, &err), 1);
	CHECK_STR(qid, "0123456789ABCD");
	CHECK_INT(dedup_msgid_seen(sp, NULL, c.msgid, 1061, 60, qid, &err), 0);
	CHECK_INT(dedup_msgid_seen(sp, NULL, "other@example.org", 1010, 60, qid,
				   &err), 0);
	spool_close(sp);
}

struct sent_ctx {
	const char *peer;
	const struct pgp_key *key;
	int64_t now;
};

static int
do_sent(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct sent_ctx *c = vctx;

	return dedup_sent_record(sp, txn, c->peer, c->key, c->now, err);
}

static void
test_sent(void)
{
	struct spool *sp;
	struct pb_err err;
	struct pgp_keylist carol, signed_carol;
	size_t unsent;
	struct sent_ctx c;

	CHECK(load_keys("keys/carol.asc", &carol) == 0);
	CHECK(load_keys("keys/carol-signed.asc", &signed_carol) == 0);
	CHECK_OK(spool_open(fresh_dir("sent"), &sp, &err), &err);
	c = (struct sent_ctx){ "a@peer.example", &carol.keys[0], 500 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_sent, &c, &err), &err);
	CHECK_OK(dedup_sent_check(sp, NULL, "a@peer.example", &carol.keys[0],
				  510, 100, &unsent, &err), &err);
	CHECK_INT(unsent, 0);
	CHECK_OK(dedup_sent_check(sp, NULL, "a@peer.example", &signed_carol.keys[0],
				  510, 100, &unsent, &err), &err);
	CHECK_INT(unsent, 1);
	/* Another peer has been sent nothing. */
	CHECK_OK(dedup_sent_check(sp, NULL, "b@peer.example", &carol.keys[0],
				  510, 100, &unsent, &err), &err);
	CHECK_INT(unsent, carol.keys[0].npackets);
	CHECK_OK(dedup_sent_check(sp, NULL, "a@peer.example", &carol.keys[0],
				  601, 100, &unsent, &err), &err);
	CHECK_INT(unsent, carol.keys[0].npackets);
	pgp_keylist_free(&carol);
	pgp_keylist_free(&signed_carol);
	spool_close(sp);
}

static void
test_lookup_count_expire(void)
{
	struct spool *sp;
	struct pb_err err;
	struct pgp_keylist alice, bob;
	struct dedup_key_info info;
	struct rec_ctx rc;
	uint64_t n;
	size_t nexp;

	CHECK(load_keys("keys/alice.asc", &alice) == 0);
	CHECK(load_keys("keys/bob.asc", &bob) == 0);
	CHECK_OK(spool_open(fresh_dir("lookup"), &sp, &err), &err);
	rc = (struct rec_ctx){ &alice.keys[0], Q_ORIGIN_PKS, 1000 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);
	rc = (struct rec_ctx){ &bob.keys[0], Q_ORIGIN_LOCAL, 5000 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);

	CHECK_OK(dedup_lookup(sp, NULL, alice.keys[0].fpr, alice.keys[0].fpr_len,
			      &info, &err), &err);
	CHECK_STR(info.fpr_hex, alice.keys[0].fpr_hex);
	CHECK_INT(info.npackets, alice.keys[0].npackets);
	CHECK_INT(info.last_pks, 1000);
	CHECK_INT(info.last_local, 0);
	/* Stored in digest order: every one must be one of alice's. */
	for (size_t i = 0; i < info.npackets; i++) {
		int found = 0;

		for (size_t j = 0; j < alice.keys[0].npackets; j++)
			found |= memcmp(info.packets[i].digest,
					alice.keys[0].digests[j].d,
					PGP_DIGEST_LEN) == 0;
		CHECK_MSG(found, "packet %zu is not alice's", i);
		CHECK_INT(info.packets[i].seen_pks, 1000);
	}
	dedup_key_info_free(&info);
	CHECK_OK(dedup_count(sp, NULL, &n, &err), &err);
	CHECK_INT(n, 2);

	/* Expire at 4000 with ttl 1000: alice (seen at 1000) goes. */
	CHECK_OK(dedup_expire(sp, 4000, 1000, &nexp, &err), &err);
	CHECK_INT(nexp, alice.keys[0].npackets + 1);
	CHECK(dedup_lookup(sp, NULL, alice.keys[0].fpr, alice.keys[0].fpr_len,
			   &info, &err) == -1);
	CHECK_INT(err.status, PB_ENOTFOUND);
	CHECK_OK(dedup_lookup(sp, NULL, bob.keys[0].fpr, bob.keys[0].fpr_len,
			      &info, &err), &err);
	CHECK_INT(info.npackets, bob.keys[0].npackets);
	dedup_key_info_free(&info);
	CHECK_OK(dedup_count(sp, NULL, &n, &err), &err);
	CHECK_INT(n, 1);
	pgp_keylist_free(&alice);
	pgp_keylist_free(&bob);
	spool_close(sp);
}

struct forget_ctx {
	const struct pgp_key *key;
	int64_t when;
};

static int
do_forget(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct forget_ctx *c = vctx;

	return dedup_forget_key(sp, txn, c->key, Q_ORIGIN_PKS, c->when, err);
}

/* A failed entry forgets only the sightings it made itself. */
static void
test_forget(void)
{
	struct spool *sp;
	struct pb_err err;
	struct pgp_keylist carol, signed_carol;
	struct dedup_verdict v;
	struct rec_ctx rc;
	struct forget_ctx fc;

	CHECK(load_keys("keys/carol.asc", &carol) == 0);
	CHECK(load_keys("keys/carol-signed.asc", &signed_carol) == 0);
	CHECK_OK(spool_open(fresh_dir("forget"), &sp, &err), &err);
	rc = (struct rec_ctx){ &carol.keys[0], Q_ORIGIN_PKS, 1000 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);
	rc = (struct rec_ctx){ &signed_carol.keys[0], Q_ORIGIN_PKS, 2000 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);

	/* Forgetting the sighting at 2000: carol's own packets were seen
	 * again at 2000 too, so they go; the mail at 1000 is not undone. */
	fc = (struct forget_ctx){ &signed_carol.keys[0], 2000 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_forget, &fc, &err), &err);
	CHECK_OK(dedup_check_key(sp, NULL, &signed_carol.keys[0], 2001, 86400,
				 &v, &err), &err);
	CHECK_INT(v.n_new, v.npackets);

	/* Forgetting at a time that is no packet's latest sighting changes
	 * nothing. */
	rc = (struct rec_ctx){ &carol.keys[0], Q_ORIGIN_PKS, 3000 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_record, &rc, &err), &err);
	fc = (struct forget_ctx){ &carol.keys[0], 1000 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_forget, &fc, &err), &err);
	CHECK_OK(dedup_check_key(sp, NULL, &carol.keys[0], 3001, 86400, &v, &err),
		 &err);
	CHECK_INT(v.n_new, 0);
	CHECK_INT(v.n_from_pks, carol.keys[0].npackets);
	pgp_keylist_free(&carol);
	pgp_keylist_free(&signed_carol);
	spool_close(sp);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "verdicts", test_verdicts },
		{ "keys changed since (LAST)", test_changed_since },
		{ "message-ids", test_msgid },
		{ "sent per peer", test_sent },
		{ "lookup, count, expire", test_lookup_count_expire },
		{ "forget what a failed entry recorded", test_forget },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "dedup", tests);
}
