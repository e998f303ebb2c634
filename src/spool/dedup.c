/*
 * dedup.c - the dedup index (see dedup.h).
 *
 * Key layouts (all binary, so one btree range covers one fingerprint):
 *   dedup:    fpr_len(1) fpr digest(20)   -> packet record
 *   dedupkey: fpr_len(1) fpr              -> key record
 *   msgid:    Message-ID bytes            -> time(8) qid
 *   sent:     peer NUL fpr_len fpr digest -> time(8)
 * Values are fixed-layout, prefixed with a version byte.
 */
#include "spool/dedup.h"
#include "spool/spool_db.h"
#include "util/bytes.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#define REC_V 1
#define PKT_REC_LEN (1 + 3 * 8)
#define KEY_REC_LEN (1 + 5 * 8)
#define KEY_REC_LEN_OLD (1 + 4 * 8)	/* before last_new was kept */
#define MSGID_MAX 998
#define EXPIRE_BATCH 500

static size_t
key_prefix(const unsigned char *fpr, size_t fpr_len, unsigned char *out)
{
	out[0] = (unsigned char)fpr_len;
	memcpy(out + 1, fpr, fpr_len);
	return 1 + fpr_len;
}


struct pkt_rec {
	int64_t first_seen, seen_pks, seen_local;
};

static int
pkt_rec_decode(const DBT *d, struct pkt_rec *r)
{
	const unsigned char *p = d->data;

	if (d->size != PKT_REC_LEN || p[0] != REC_V)
		return -1;
	r->first_seen = (int64_t)be64_get(p + 1);
	r->seen_pks = (int64_t)be64_get(p + 9);
	r->seen_local = (int64_t)be64_get(p + 17);
	return 0;
}

static void
pkt_rec_encode(const struct pkt_rec *r, unsigned char out[PKT_REC_LEN])
{
	out[0] = REC_V;
	be64_put(out + 1, (uint64_t)r->first_seen);
	be64_put(out + 9, (uint64_t)r->seen_pks);
	be64_put(out + 17, (uint64_t)r->seen_local);
}

/* last_new: when a packet of the key was last seen for the first time
 * (what LAST answers from).  Records written before it was kept have
 * none, and their last sighting stands in for it. */
struct key_rec {
	int64_t first_seen, last_seen, last_pks, last_local, last_new;
};

static int
key_rec_decode(const DBT *d, struct key_rec *r)
{
	const unsigned char *p = d->data;

	if ((d->size != KEY_REC_LEN && d->size != KEY_REC_LEN_OLD) ||
	    p[0] != REC_V)
		return -1;
	r->first_seen = (int64_t)be64_get(p + 1);
	r->last_seen = (int64_t)be64_get(p + 9);
	r->last_pks = (int64_t)be64_get(p + 17);
	r->last_local = (int64_t)be64_get(p + 25);
	r->last_new = d->size == KEY_REC_LEN ? (int64_t)be64_get(p + 33)
					      : r->last_seen;
	return 0;
}

static void
key_rec_encode(const struct key_rec *r, unsigned char out[KEY_REC_LEN])
{
	out[0] = REC_V;
	be64_put(out + 1, (uint64_t)r->first_seen);
	be64_put(out + 9, (uint64_t)r->last_seen);
	be64_put(out + 17, (uint64_t)r->last_pks);
	be64_put(out + 25, (uint64_t)r->last_local);
	be64_put(out + 33, (uint64_t)r->last_new);
}

static int64_t
max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

int
dedup_check_key(struct spool *sp, DB_TXN *txn, const struct pgp_key *key,
		int64_t now, int64_t ttl, struct dedup_verdict *v,
		struct pb_err *err)
{
	unsigned char k[1 + PGP_FPR_MAX + PGP_DIGEST_LEN];
	size_t plen = key_prefix(key->fpr, key->fpr_len, k);
	int64_t horizon = now - ttl;

	memset(v, 0, sizeof *v);
	v->npackets = key->npackets;
	for (size_t i = 0; i < key->npackets; i++) {
		unsigned char val[PKT_REC_LEN];
		struct pkt_rec r;
		DBT dk, dv;
		int ret;

		memcpy(k + plen, key->digests[i].d, PGP_DIGEST_LEN);
		dbt_init(&dk, k, plen + PGP_DIGEST_LEN);
		dbt_init(&dv, val, sizeof val);
		dv.ulen = sizeof val;
		dv.flags = DB_DBT_USERMEM;
		ret = sp->dedup->get(sp->dedup, txn, &dk, &dv, spool_rflags(txn));
		if (ret == DB_NOTFOUND || (ret == 0 && pkt_rec_decode(&dv, &r) != 0) ||
		    ret == DB_BUFFER_SMALL) {
			v->n_new++;
			continue;
		}
		if (ret != 0)
			return spool_dberr(sp, ret, err, "dedup lookup %s",
					   key->fpr_hex);
		if (r.seen_pks >= horizon)
			v->n_from_pks++;
		if (r.seen_local >= horizon)
			v->n_from_local++;
		if (r.seen_pks < horizon && r.seen_local < horizon)
			v->n_new++;
	}
	return 0;
}

int
dedup_record_key(struct spool *sp, DB_TXN *txn, const struct pgp_key *key,
		 enum q_origin origin, int64_t now, struct pb_err *err)
{
	unsigned char k[1 + PGP_FPR_MAX + PGP_DIGEST_LEN];
	size_t plen = key_prefix(key->fpr, key->fpr_len, k);
	unsigned char kval[KEY_REC_LEN];
	struct key_rec kr;
	DBT dk, dv;
	int ret, any_new = 0;

	for (size_t i = 0; i < key->npackets; i++) {
		unsigned char val[PKT_REC_LEN];
		struct pkt_rec r;

		memcpy(k + plen, key->digests[i].d, PGP_DIGEST_LEN);
		dbt_init(&dk, k, plen + PGP_DIGEST_LEN);
		dbt_init(&dv, val, sizeof val);
		dv.ulen = sizeof val;
		dv.flags = DB_DBT_USERMEM;
		/* DB_RMW: take the write lock now, not after a read lock
		 * that two concurrent ingests would both hold. */
		ret = sp->dedup->get(sp->dedup, txn, &dk, &dv, txn ? DB_RMW : 0);
		if (ret == 0 && pkt_rec_decode(&dv, &r) == 0) {
			;
		} else if (ret == 0 || ret == DB_NOTFOUND || ret == DB_BUFFER_SMALL) {
			memset(&r, 0, sizeof r);
			r.first_seen = now;
			any_new = 1;
		} else {
			return spool_dberr(sp, ret, err, "dedup read %s",
					   key->fpr_hex);
		}
		if (origin == Q_ORIGIN_PKS)
			r.seen_pks = max64(r.seen_pks, now);
		else
			r.seen_local = max64(r.seen_local, now);
		pkt_rec_encode(&r, val);
		dbt_init(&dk, k, plen + PGP_DIGEST_LEN);
		dbt_init(&dv, val, sizeof val);
		if ((ret = sp->dedup->put(sp->dedup, txn, &dk, &dv, 0)) != 0)
			return spool_dberr(sp, ret, err, "dedup write %s",
					   key->fpr_hex);
	}

	dbt_init(&dk, k, plen);
	dbt_init(&dv, kval, sizeof kval);
	dv.ulen = sizeof kval;
	dv.flags = DB_DBT_USERMEM;
	ret = sp->dedupkey->get(sp->dedupkey, txn, &dk, &dv, txn ? DB_RMW : 0);
	if (ret == 0 && key_rec_decode(&dv, &kr) == 0) {
		;
	} else if (ret == 0 || ret == DB_NOTFOUND || ret == DB_BUFFER_SMALL) {
		memset(&kr, 0, sizeof kr);
		kr.first_seen = now;
	} else {
		return spool_dberr(sp, ret, err, "dedup key read %s", key->fpr_hex);
	}
	kr.last_seen = max64(kr.last_seen, now);
	if (any_new)
		kr.last_new = max64(kr.last_new, now);
	if (origin == Q_ORIGIN_PKS)
		kr.last_pks = max64(kr.last_pks, now);
	else
		kr.last_local = max64(kr.last_local, now);
	key_rec_encode(&kr, kval);
	dbt_init(&dk, k, plen);
	dbt_init(&dv, kval, sizeof kval);
	if ((ret = sp->dedupkey->put(sp->dedupkey, txn, &dk, &dv, 0)) != 0)
		return spool_dberr(sp, ret, err, "dedup key write %s", key->fpr_hex);
	return 0;
}

int
dedup_forget_key(struct spool *sp, DB_TXN *txn, const struct pgp_key *key,
		 enum q_origin origin, int64_t when, struct pb_err *err)
{
	unsigned char k[1 + PGP_FPR_MAX + PGP_DIGEST_LEN];
	size_t plen = key_prefix(key->fpr, key->fpr_len, k);

	for (size_t i = 0; i < key->npackets; i++) {
		unsigned char val[PKT_REC_LEN];
		struct pkt_rec r;
		int64_t *seen;
		DBT dk, dv;
		int ret;

		memcpy(k + plen, key->digests[i].d, PGP_DIGEST_LEN);
		dbt_init(&dk, k, plen + PGP_DIGEST_LEN);
		dbt_init(&dv, val, sizeof val);
		dv.ulen = sizeof val;
		dv.flags = DB_DBT_USERMEM;
		ret = sp->dedup->get(sp->dedup, txn, &dk, &dv, DB_RMW);
		if (ret == DB_NOTFOUND || ret == DB_BUFFER_SMALL ||
		    (ret == 0 && pkt_rec_decode(&dv, &r) != 0))
			continue;
		if (ret != 0)
			return spool_dberr(sp, ret, err, "dedup read %s", key->fpr_hex);
		seen = origin == Q_ORIGIN_PKS ? &r.seen_pks : &r.seen_local;
		if (*seen != when)
			continue;
		*seen = 0;
		dbt_init(&dk, k, plen + PGP_DIGEST_LEN);
		if (r.seen_pks == 0 && r.seen_local == 0) {
			ret = sp->dedup->del(sp->dedup, txn, &dk, 0);
		} else {
			pkt_rec_encode(&r, val);
			dbt_init(&dv, val, sizeof val);
			ret = sp->dedup->put(sp->dedup, txn, &dk, &dv, 0);
		}
		if (ret != 0 && ret != DB_NOTFOUND)
			return spool_dberr(sp, ret, err, "dedup forget %s",
					   key->fpr_hex);
	}
	return 0;
}

static size_t
msgid_len(const char *msgid)
{
	size_t n = strlen(msgid);

	return n > MSGID_MAX ? MSGID_MAX : n;
}

int
dedup_msgid_seen(struct spool *sp, DB_TXN *txn, const char *msgid, int64_t now,
		 int64_t ttl, char qid_r[QID_LEN + 1], struct pb_err *err)
{
	unsigned char val[8 + QID_LEN];
	DBT dk, dv;
	int ret;

	dbt_init(&dk, (void *)msgid, msgid_len(msgid));
	dbt_init(&dv, val, sizeof val);
	dv.ulen = sizeof val;
	dv.flags = DB_DBT_USERMEM;
	ret = sp->msgid->get(sp->msgid, txn, &dk, &dv, spool_rflags(txn));
	if (ret == DB_NOTFOUND || ret == DB_BUFFER_SMALL)
		return 0;
	if (ret != 0)
		return spool_dberr(sp, ret, err, "Message-ID lookup");
	if (dv.size != sizeof val || (int64_t)be64_get(val) < now - ttl)
		return 0;
	if (qid_r) {
		memcpy(qid_r, val + 8, QID_LEN);
		qid_r[QID_LEN] = '\0';
	}
	return 1;
}

int
dedup_msgid_record(struct spool *sp, DB_TXN *txn, const char *msgid,
		   const char *qid, int64_t now, struct pb_err *err)
{
	unsigned char val[8 + QID_LEN];
	DBT dk, dv;
	int ret;

	be64_put(val, (uint64_t)now);
	memcpy(val + 8, qid, QID_LEN);
	dbt_init(&dk, (void *)msgid, msgid_len(msgid));
	dbt_init(&dv, val, sizeof val);
	if ((ret = sp->msgid->put(sp->msgid, txn, &dk, &dv, 0)) != 0)
		return spool_dberr(sp, ret, err, "Message-ID record");
	return 0;
}

static size_t
sent_key(const char *peer, const struct pgp_key *key, size_t i,
	 unsigned char **buf_r)
{
	size_t plen = strlen(peer);
	unsigned char *k = xmalloc(plen + 1 + 1 + PGP_FPR_MAX + PGP_DIGEST_LEN);
	size_t n;

	memcpy(k, peer, plen);
	k[plen] = '\0';
	n = plen + 1 + key_prefix(key->fpr, key->fpr_len, k + plen + 1);
	memcpy(k + n, key->digests[i].d, PGP_DIGEST_LEN);
	*buf_r = k;
	return n + PGP_DIGEST_LEN;
}

int
dedup_sent_check(struct spool *sp, DB_TXN *txn, const char *peer,
		 const struct pgp_key *key, int64_t now, int64_t ttl,
		 size_t *n_unsent_r, struct pb_err *err)
{
	*n_unsent_r = 0;
	for (size_t i = 0; i < key->npackets; i++) {
		unsigned char *k, val[8];
		size_t klen = sent_key(peer, key, i, &k);
		DBT dk, dv;
		int ret;

		dbt_init(&dk, k, klen);
		dbt_init(&dv, val, sizeof val);
		dv.ulen = sizeof val;
		dv.flags = DB_DBT_USERMEM;
		ret = sp->sent->get(sp->sent, txn, &dk, &dv, spool_rflags(txn));
		free(k);
		if (ret == 0 && dv.size == 8 && (int64_t)be64_get(val) >= now - ttl)
			continue;
		if (ret != 0 && ret != DB_NOTFOUND && ret != DB_BUFFER_SMALL)
			return spool_dberr(sp, ret, err, "sent lookup");
		(*n_unsent_r)++;
	}
	return 0;
}

int
dedup_sent_record(struct spool *sp, DB_TXN *txn, const char *peer,
		  const struct pgp_key *key, int64_t now, struct pb_err *err)
{
	for (size_t i = 0; i < key->npackets; i++) {
		unsigned char *k, val[8];
		size_t klen = sent_key(peer, key, i, &k);
		DBT dk, dv;
		int ret;

		be64_put(val, (uint64_t)now);
		dbt_init(&dk, k, klen);
		dbt_init(&dv, val, sizeof val);
		ret = sp->sent->put(sp->sent, txn, &dk, &dv, 0);
		free(k);
		if (ret != 0)
			return spool_dberr(sp, ret, err, "sent record");
	}
	return 0;
}

int
dedup_lookup(struct spool *sp, DB_TXN *txn, const unsigned char *fpr,
	     size_t fpr_len, struct dedup_key_info *info, struct pb_err *err)
{
	unsigned char prefix[1 + PGP_FPR_MAX], kval[KEY_REC_LEN];
	size_t plen = key_prefix(fpr, fpr_len, prefix);
	struct key_rec kr;
	DBC *cur;
	DBT dk, dv;
	int ret;

	memset(info, 0, sizeof *info);
	pgp_hex(fpr, fpr_len, info->fpr_hex);
	dbt_init(&dk, prefix, plen);
	dbt_init(&dv, kval, sizeof kval);
	dv.ulen = sizeof kval;
	dv.flags = DB_DBT_USERMEM;
	ret = sp->dedupkey->get(sp->dedupkey, txn, &dk, &dv, spool_rflags(txn));
	if (ret == DB_NOTFOUND)
		return pb_err_set(err, PB_ENOTFOUND,
				  "%s: not in the dedup index", info->fpr_hex);
	if (ret != 0)
		return spool_dberr(sp, ret, err, "dedup lookup");
	if (key_rec_decode(&dv, &kr) != 0)
		return pb_err_set(err, PB_EDATA, "%s: corrupt dedup record",
				  info->fpr_hex);
	info->first_seen = kr.first_seen;
	info->last_seen = kr.last_seen;
	info->last_pks = kr.last_pks;
	info->last_local = kr.last_local;
	info->last_new = kr.last_new;

	if ((ret = sp->dedup->cursor(sp->dedup, txn, &cur, spool_cflags(txn))) != 0)
		return spool_dberr(sp, ret, err, "dedup cursor");
	dbt_init(&dk, prefix, plen);
	memset(&dv, 0, sizeof dv);
	/* DB_SET_RANGE lands on the first digest of this fingerprint; the
	 * scan ends where the prefix stops matching. */
	for (ret = cur->get(cur, &dk, &dv, DB_SET_RANGE); ret == 0;
	     ret = cur->get(cur, &dk, &dv, DB_NEXT)) {
		struct pkt_rec r;
		struct dedup_packet_info *pi;

		if (dk.size != plen + PGP_DIGEST_LEN ||
		    memcmp(dk.data, prefix, plen) != 0)
			break;
		if (pkt_rec_decode(&dv, &r) != 0)
			continue;
		info->packets = xreallocarray(info->packets, info->npackets + 1,
					      sizeof *info->packets);
		pi = &info->packets[info->npackets++];
		memcpy(pi->digest, (unsigned char *)dk.data + plen, PGP_DIGEST_LEN);
		pi->first_seen = r.first_seen;
		pi->seen_pks = r.seen_pks;
		pi->seen_local = r.seen_local;
	}
	cur->close(cur);
	if (ret != 0 && ret != DB_NOTFOUND) {
		dedup_key_info_free(info);
		return spool_dberr(sp, ret, err, "dedup scan");
	}
	return 0;
}

void
dedup_key_info_free(struct dedup_key_info *info)
{
	free(info->packets);
	info->packets = NULL;
	info->npackets = 0;
}

int
dedup_count(struct spool *sp, DB_TXN *txn, uint64_t *n_r, struct pb_err *err)
{
	DB_BTREE_STAT *st = NULL;
	int ret;

	*n_r = 0;
	ret = sp->dedupkey->stat(sp->dedupkey, txn, &st, spool_cflags(txn));
	if (ret != 0)
		return spool_dberr(sp, ret, err, "dedup stat");
	*n_r = st->bt_nkeys;
	free(st);
	return 0;
}

int
dedup_changed_since(struct spool *sp, DB_TXN *txn, int64_t since, size_t max,
		    char (**fprs_r)[2 * PGP_FPR_MAX + 1], size_t *n_r,
		    uint64_t *total_r, struct pb_err *err)
{
	char (*fprs)[2 * PGP_FPR_MAX + 1] = NULL;
	size_t n = 0;
	uint64_t total = 0;
	DBC *cur;
	DBT dk, dv;
	int ret;

	*fprs_r = NULL;
	*n_r = 0;
	*total_r = 0;
	if ((ret = sp->dedupkey->cursor(sp->dedupkey, txn, &cur,
					spool_cflags(txn))) != 0)
		return spool_dberr(sp, ret, err, "dedup cursor");
	memset(&dk, 0, sizeof dk);
	memset(&dv, 0, sizeof dv);
	while ((ret = cur->get(cur, &dk, &dv, DB_NEXT)) == 0) {
		const unsigned char *k = dk.data;
		struct key_rec kr;

		if (dk.size < 1 || k[0] == 0 || k[0] > PGP_FPR_MAX ||
		    dk.size != 1u + k[0] || key_rec_decode(&dv, &kr) != 0 ||
		    kr.last_new < since)
			continue;
		total++;
		if (n == max)
			continue;
		fprs = xreallocarray(fprs, n + 1, sizeof *fprs);
		pgp_hex(k + 1, k[0], fprs[n++]);
	}
	cur->close(cur);
	if (ret != DB_NOTFOUND) {
		free(fprs);
		return spool_dberr(sp, ret, err, "dedup scan");
	}
	*fprs_r = fprs;
	*n_r = n;
	*total_r = total;
	return 0;
}

/* Which records are stale: the newest time in each value layout. */
enum expire_kind { EXP_PKT, EXP_KEY, EXP_MSGID, EXP_SENT };

static int
stale(enum expire_kind kind, const DBT *dv, int64_t horizon)
{
	const unsigned char *p = dv->data;

	switch (kind) {
	case EXP_PKT: {
		struct pkt_rec r;

		if (pkt_rec_decode(dv, &r) != 0)
			return 1;
		return max64(r.seen_pks, r.seen_local) < horizon;
	}
	case EXP_KEY: {
		struct key_rec r;

		if (key_rec_decode(dv, &r) != 0)
			return 1;
		return r.last_seen < horizon;
	}
	case EXP_MSGID:
	case EXP_SENT:
		return dv->size < 8 || (int64_t)be64_get(p) < horizon;
	}
	return 0;
}

struct expire_ctx {
	DB *db;
	enum expire_kind kind;
	int64_t horizon;
	struct buf resume;	/* key to continue from */
	int done;
	size_t deleted;
};

static int
expire_batch(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct expire_ctx *c = vctx;
	size_t seen = 0, deleted = 0;
	DBC *cur;
	DBT dk, dv;
	int ret, flag;

	if ((ret = c->db->cursor(c->db, txn, &cur, 0)) != 0)
		return spool_dberr(sp, ret, err, "expire cursor");
	memset(&dk, 0, sizeof dk);
	memset(&dv, 0, sizeof dv);
	if (c->resume.len) {
		dk.data = c->resume.data;
		dk.size = (u_int32_t)c->resume.len;
		flag = DB_SET_RANGE;
	} else {
		flag = DB_FIRST;
	}
	c->done = 0;
	for (ret = cur->get(cur, &dk, &dv, flag); ret == 0;
	     ret = cur->get(cur, &dk, &dv, DB_NEXT)) {
		if (seen++ == EXPIRE_BATCH) {
			/* Remember where to go on in the next txn. */
			buf_reset(&c->resume);
			buf_append(&c->resume, dk.data, dk.size);
			break;
		}
		if (stale(c->kind, &dv, c->horizon)) {
			if ((ret = cur->del(cur, 0)) != 0)
				break;
			deleted++;
		}
	}
	cur->close(cur);
	if (ret == DB_NOTFOUND)
		c->done = 1;
	else if (ret != 0)
		return spool_dberr(sp, ret, err, "expiring dedup records");
	c->deleted += deleted;
	return 0;
}

int
dedup_expire(struct spool *sp, int64_t now, int64_t ttl, size_t *n_r,
	     struct pb_err *err)
{
	struct { DB *db; enum expire_kind kind; } dbs[] = {
		{ sp->dedup, EXP_PKT }, { sp->dedupkey, EXP_KEY },
		{ sp->msgid, EXP_MSGID }, { sp->sent, EXP_SENT },
	};
	size_t total = 0;

	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
		struct expire_ctx c = { dbs[i].db, dbs[i].kind, now - ttl,
					BUF_INIT, 0, 0 };

		while (!c.done) {
			if (spool_txn(sp, SPOOL_NOSYNC, expire_batch, &c, err) != 0) {
				buf_free(&c.resume);
				return -1;
			}
		}
		total += c.deleted;
		buf_free(&c.resume);
	}
	*n_r = total;
	return 0;
}
