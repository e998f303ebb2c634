/*
 * test_replylimit.c - the reply rate buckets in a real spool: a sender's
 * burst then refusals, a flood from one sender that leaves the total
 * (and so every other sender) alone, the total's refusal taking nothing
 * from the sender, case-insensitive requesters, a damaged record, and
 * expiry of the buckets that refilled.
 */
#include "lib/unit.h"
#include "spool/replylimit.h"
#include "spool/spool_db.h"
#include "spool/spool.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define T0 1700000000

struct take_ctx {
	const char *who;
	const struct ratelimit *per, *total;
	int64_t now;
	enum replylimit_verdict v;
	int64_t wait;
};

static int
take_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct take_ctx *c = vctx;

	return replylimit_take(sp, txn, c->who, c->per, c->total, c->now, &c->v,
			       &c->wait, err);
}

/* take - one reply for who at now: its verdict (-1 on a spool error). */
static int
take(struct spool *sp, const char *who, const struct ratelimit *per,
     const struct ratelimit *total, int64_t now, int64_t *wait_r)
{
	struct take_ctx c = { who, per, total, now, REPLYLIMIT_OK, 0 };
	struct pb_err err;

	if (spool_txn(sp, SPOOL_NOSYNC, take_fn, &c, &err) != 0)
		return -1;
	if (wait_r)
		*wait_r = c.wait;
	return (int)c.v;
}

static struct spool *
open_spool(const char *name)
{
	char path[512];
	struct spool *sp = NULL;
	struct pb_err err;

	snprintf(path, sizeof path, "%s/%s", unit_tmpdir(), name);
	mkdir(path, 0700);
	if (spool_open(path, &sp, &err) != 0)
		return NULL;
	return sp;
}

static void
test_flood_and_total(void)
{
	struct ratelimit per = { 3, 3600 }, total = { 5, 3600 };
	struct spool *sp = open_spool("flood");
	int64_t wait;
	int ok_a = 0;

	CHECK(sp != NULL);
	/* A floods: 3 answered, 27 refused by A's own bucket. */
	for (int i = 0; i < 30; i++) {
		int v = take(sp, i % 2 ? "A@client.test" : "a@client.test", &per,
			     &total, T0, &wait);

		CHECK(v == REPLYLIMIT_OK || v == REPLYLIMIT_SENDER);
		ok_a += v == REPLYLIMIT_OK;
	}
	CHECK_INT(ok_a, 3);
	CHECK_INT(take(sp, "a@client.test", &per, &total, T0, &wait),
		  REPLYLIMIT_SENDER);
	CHECK_INT(wait, 1200);	/* one token per 3600/3 s */
	/* The total took only A's 3: B gets 2, then the total refuses C
	 * and takes nothing from C's bucket. */
	CHECK_INT(take(sp, "b@client.test", &per, &total, T0, NULL), REPLYLIMIT_OK);
	CHECK_INT(take(sp, "b@client.test", &per, &total, T0, NULL), REPLYLIMIT_OK);
	CHECK_INT(take(sp, "c@client.test", &per, &total, T0, &wait),
		  REPLYLIMIT_TOTAL);
	CHECK_INT(wait, 720);	/* one token per 3600/5 s */
	/* 720 s later the total has one again: C gets it with a full
	 * bucket of its own (the refusal cost C nothing). */
	CHECK_INT(take(sp, "c@client.test", &per, &total, T0 + 720, NULL),
		  REPLYLIMIT_OK);
	CHECK_INT(take(sp, "c@client.test", &per, &total, T0 + 720, NULL),
		  REPLYLIMIT_TOTAL);
	spool_close(sp);
}

struct corrupt_ctx { const char *key; const char *val; };

static int
corrupt_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct corrupt_ctx *c = vctx;
	DBT k, v;
	int ret;

	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)c->key;
	k.size = (u_int32_t)strlen(c->key);
	v.data = (void *)c->val;
	v.size = (u_int32_t)strlen(c->val);
	ret = sp->replylimit->put(sp->replylimit, txn, &k, &v, 0);
	return ret ? spool_dberr(sp, ret, err, "put") : 0;
}

/* A damaged record counts as a full bucket; expiry deletes exactly the
 * buckets that have refilled, and keeps the others. */
static void
test_corrupt_and_expire(void)
{
	struct ratelimit per = { 2, 3600 }, total = { 100, 3600 };
	struct corrupt_ctx cc = { "d@client.test", "garbage" };
	struct spool *sp = open_spool("expire");
	struct pb_err err;
	size_t n;

	CHECK(sp != NULL);
	CHECK_OK(spool_txn(sp, SPOOL_NOSYNC, corrupt_fn, &cc, &err), &err);
	CHECK_INT(take(sp, "d@client.test", &per, &total, T0, NULL), REPLYLIMIT_OK);
	CHECK_INT(take(sp, "d@client.test", &per, &total, T0, NULL), REPLYLIMIT_OK);
	CHECK_INT(take(sp, "d@client.test", &per, &total, T0, NULL),
		  REPLYLIMIT_SENDER);
	CHECK_INT(take(sp, "e@client.test", &per, &total, T0 + 3000, NULL),
		  REPLYLIMIT_OK);
	/* At T0 + 3600: d has refilled, and the total (3 of 100 an hour
	 * refill in 108 s); e, used at T0 + 3000, has not. */
	CHECK_OK(replylimit_expire(sp, &per, &total, T0 + 3600, &n, &err), &err);
	CHECK_INT(n, 2);
	/* e still has one token left, then none. */
	CHECK_INT(take(sp, "e@client.test", &per, &total, T0 + 3600, NULL),
		  REPLYLIMIT_OK);
	CHECK_INT(take(sp, "e@client.test", &per, &total, T0 + 3600, NULL),
		  REPLYLIMIT_SENDER);
	/* Much later everything has refilled and goes. */
	CHECK_OK(replylimit_expire(sp, &per, &total, T0 + 86400, &n, &err), &err);
	CHECK_INT(n, 2);
	CHECK_OK(replylimit_expire(sp, &per, &total, T0 + 86400, &n, &err), &err);
	CHECK_INT(n, 0);
	spool_close(sp);
}

/* More records than one expiry batch holds. */
static void
test_expire_batches(void)
{
	struct ratelimit per = { 1, 60 }, total = { 100000, 60 };
	struct spool *sp = open_spool("batches");
	struct pb_err err;
	char who[64];
	size_t n;

	CHECK(sp != NULL);
	for (int i = 0; i < 1234; i++) {
		snprintf(who, sizeof who, "u%04d@client.test", i);
		CHECK_INT(take(sp, who, &per, &total, T0, NULL), REPLYLIMIT_OK);
	}
	/* Half a period on, only the total has refilled (1234 of 100000 a
	 * minute); a whole period on, every requester's bucket too. */
	CHECK_OK(replylimit_expire(sp, &per, &total, T0 + 30, &n, &err), &err);
	CHECK_INT(n, 1);
	CHECK_OK(replylimit_expire(sp, &per, &total, T0 + 60, &n, &err), &err);
	CHECK_INT(n, 1234);
	spool_close(sp);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "a flood from one sender leaves the total to the others",
		  test_flood_and_total },
		{ "damaged record, expiry of refilled buckets",
		  test_corrupt_and_expire },
		{ "expiry over several batches", test_expire_batches },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "replylimit", tests);
}
