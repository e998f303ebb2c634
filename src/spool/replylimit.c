/*
 * replylimit.c - reply rate buckets in the spool (see replylimit.h).
 *
 * Layout: key = the requester, lower-cased (at most REQUESTER_MAX
 * bytes), or "*" for all; value = version byte, ticks (8, big-endian),
 * updated (8).  A value of any other shape is taken as a full bucket: a
 * damaged record then costs at most one burst of replies, never a
 * requester shut out for good.
 */
#include "spool/replylimit.h"
#include "spool/spool_db.h"
#include "util/bytes.h"

#include <string.h>

#define REC_V 1
#define REC_LEN (1 + 8 + 8)
#define REQUESTER_MAX 320
#define TOTAL_KEY "*"
#define EXPIRE_BATCH 500


/* get - the bucket stored under key (DB_RMW: locked for our update), or
 * a fresh one. */
static int
get(struct spool *sp, DB_TXN *txn, const char *key, size_t klen,
    const struct ratelimit *lim, int64_t now, struct ratebucket *b,
    struct pb_err *err)
{
	unsigned char val[REC_LEN];
	DBT dk, dv;
	int ret;

	dbt_init(&dk, (void *)key, klen);
	dbt_init(&dv, val, sizeof val);
	dv.ulen = sizeof val;
	dv.flags = DB_DBT_USERMEM;
	ret = sp->replylimit->get(sp->replylimit, txn, &dk, &dv,
				  txn ? DB_RMW : 0);
	if (ret == 0 && dv.size == REC_LEN && val[0] == REC_V) {
		b->ticks = (int64_t)be64_get(val + 1);
		b->updated = (int64_t)be64_get(val + 9);
		return 0;
	}
	if (ret != 0 && ret != DB_NOTFOUND && ret != DB_BUFFER_SMALL)
		return spool_dberr(sp, ret, err, "reading reply limit of %s", key);
	ratelimit_fresh(lim, now, b);
	return 0;
}

static int
put(struct spool *sp, DB_TXN *txn, const char *key, size_t klen,
    const struct ratebucket *b, struct pb_err *err)
{
	unsigned char val[REC_LEN];
	DBT dk, dv;
	int ret;

	val[0] = REC_V;
	be64_put(val + 1, (uint64_t)b->ticks);
	be64_put(val + 9, (uint64_t)b->updated);
	dbt_init(&dk, (void *)key, klen);
	dbt_init(&dv, val, sizeof val);
	ret = sp->replylimit->put(sp->replylimit, txn, &dk, &dv, 0);
	if (ret != 0)
		return spool_dberr(sp, ret, err, "writing reply limit of %s", key);
	return 0;
}

int
replylimit_take(struct spool *sp, DB_TXN *txn, const char *requester,
		const struct ratelimit *per, const struct ratelimit *total,
		int64_t now, enum replylimit_verdict *verdict_r,
		int64_t *wait_r, struct pb_err *err)
{
	char key[REQUESTER_MAX + 1];
	size_t n = strnlen(requester, REQUESTER_MAX);
	struct ratebucket mine, all;

	for (size_t i = 0; i < n; i++)
		key[i] = requester[i] >= 'A' && requester[i] <= 'Z' ?
			 (char)(requester[i] - 'A' + 'a') : requester[i];
	key[n] = '\0';
	if (wait_r)
		*wait_r = 0;
	if (get(sp, txn, key, n, per, now, &mine, err) != 0)
		return -1;
	if (!ratelimit_take(per, &mine, now)) {
		*verdict_r = REPLYLIMIT_SENDER;
		if (wait_r)
			*wait_r = ratelimit_wait(per, &mine, now);
		return 0;
	}
	if (get(sp, txn, TOTAL_KEY, 1, total, now, &all, err) != 0)
		return -1;
	if (!ratelimit_take(total, &all, now)) {
		*verdict_r = REPLYLIMIT_TOTAL;
		if (wait_r)
			*wait_r = ratelimit_wait(total, &all, now);
		return 0;
	}
	if (put(sp, txn, key, n, &mine, err) != 0 ||
	    put(sp, txn, TOTAL_KEY, 1, &all, err) != 0)
		return -1;
	*verdict_r = REPLYLIMIT_OK;
	return 0;
}

/* One expiry pass, in batches.  A batch may be run again (spool_txn
 * retries on a lock conflict), so it reads only what committed batches
 * left (from) and writes its own results (next, ndeleted), which the
 * caller takes over once the batch has committed. */
struct expire_ctx {
	const struct ratelimit *per, *total;
	int64_t now;
	unsigned char from[REQUESTER_MAX + 1], next[REQUESTER_MAX + 1];
	size_t from_len, next_len;
	int done;
	size_t ndeleted;
};

static int
expire_batch(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct expire_ctx *c = vctx;
	size_t seen = 0;
	DBC *cur;
	DBT dk, dv;
	int ret, flag = DB_FIRST;

	c->done = 0;
	c->ndeleted = 0;
	c->next_len = 0;
	if ((ret = sp->replylimit->cursor(sp->replylimit, txn, &cur, 0)) != 0)
		return spool_dberr(sp, ret, err, "reply limit cursor");
	memset(&dk, 0, sizeof dk);
	memset(&dv, 0, sizeof dv);
	if (c->from_len) {
		memcpy(c->next, c->from, c->from_len);
		dk.data = c->next;
		dk.size = (u_int32_t)c->from_len;
		dk.ulen = sizeof c->next;
		dk.flags = DB_DBT_USERMEM;
		flag = DB_SET_RANGE;
	}
	for (ret = cur->get(cur, &dk, &dv, flag); ret == 0;
	     ret = cur->get(cur, &dk, &dv, DB_NEXT)) {
		const unsigned char *v = dv.data;
		const struct ratelimit *lim;
		struct ratebucket b;

		if (seen++ == EXPIRE_BATCH) {
			c->next_len = dk.size < sizeof c->next ? dk.size
							       : sizeof c->next;
			memmove(c->next, dk.data, c->next_len);
			break;
		}
		lim = dk.size == 1 && *(const char *)dk.data == '*' ? c->total
								     : c->per;
		if (dv.size == REC_LEN && v[0] == REC_V) {
			b.ticks = (int64_t)be64_get(v + 1);
			b.updated = (int64_t)be64_get(v + 9);
			if (!ratelimit_idle(lim, &b, c->now))
				continue;
		}
		if ((ret = cur->del(cur, 0)) != 0)
			break;
		c->ndeleted++;
	}
	cur->close(cur);
	if (ret == DB_NOTFOUND)
		c->done = 1;
	else if (ret != 0)
		return spool_dberr(sp, ret, err, "expiring reply limits");
	return 0;
}

int
replylimit_expire(struct spool *sp, const struct ratelimit *per,
		  const struct ratelimit *total, int64_t now, size_t *n_r,
		  struct pb_err *err)
{
	struct expire_ctx c;

	memset(&c, 0, sizeof c);
	c.per = per;
	c.total = total;
	c.now = now;
	*n_r = 0;
	while (!c.done) {
		if (spool_txn(sp, SPOOL_NOSYNC, expire_batch, &c, err) != 0)
			return -1;
		*n_r += c.ndeleted;
		memcpy(c.from, c.next, c.next_len);
		c.from_len = c.next_len;
	}
	return 0;
}
