/*
 * test_ratelimit.c - token buckets: their bounds, a burst of N
 * then one per period/N, refused takes that cost nothing, two senders
 * with separate buckets (one's flood never drains the other's), slow
 * refills without rounding loss, clocks going back, corrupt buckets.
 */
#include "util/ratelimit.h"
#include "lib/unit.h"

#define T0 1700000000

static void
test_valid(void)
{
	CHECK(ratelimit_valid(1, 1));
	CHECK(ratelimit_valid(RATELIMIT_COUNT_MAX, RATELIMIT_PERIOD_MAX));
	CHECK(!ratelimit_valid(0, 3600));
	CHECK(!ratelimit_valid(RATELIMIT_COUNT_MAX + 1, 3600));
	CHECK(!ratelimit_valid(10, 0));
	CHECK(!ratelimit_valid(10, RATELIMIT_PERIOD_MAX + 1));
}

static void
test_burst_then_steady(void)
{
	struct ratelimit l = { 10, 3600 };
	struct ratebucket b;
	int got = 0;

	ratelimit_fresh(&l, T0, &b);
	for (int i = 0; i < 30; i++)
		got += ratelimit_take(&l, &b, T0);
	CHECK_INT(got, 10);
	/* One token per 360 s. */
	CHECK_INT(ratelimit_wait(&l, &b, T0), 360);
	CHECK_INT(ratelimit_take(&l, &b, T0 + 359), 0);
	CHECK_INT(ratelimit_wait(&l, &b, T0 + 359), 1);
	CHECK_INT(ratelimit_take(&l, &b, T0 + 360), 1);
	CHECK_INT(ratelimit_take(&l, &b, T0 + 360), 0);
	/* A refused take costs nothing: the next token is still due at
	 * T0 + 720 however often we ask in between. */
	for (int s = 361; s < 720; s += 7)
		CHECK_INT(ratelimit_take(&l, &b, T0 + s), 0);
	CHECK_INT(ratelimit_take(&l, &b, T0 + 720), 1);
	/* After a whole period the bucket is full again, not more. */
	CHECK(!ratelimit_idle(&l, &b, T0 + 720 + 3599));
	CHECK(ratelimit_idle(&l, &b, T0 + 720 + 3600 * 5));
	got = 0;
	for (int i = 0; i < 30; i++)
		got += ratelimit_take(&l, &b, T0 + 720 + 3600 * 5);
	CHECK_INT(got, 10);
}

/* The flood test of the issue, in arithmetic: sender A's 50 requests
 * use A's bucket; the total is taken only for what A's bucket allowed,
 * so B is still answered. */
static void
test_flood_does_not_starve(void)
{
	struct ratelimit per = { 10, 3600 }, total = { 15, 3600 };
	struct ratebucket a, b, all;
	int answered_a = 0, answered_b = 0;

	ratelimit_fresh(&per, T0, &a);
	ratelimit_fresh(&per, T0, &b);
	ratelimit_fresh(&total, T0, &all);
	for (int i = 0; i < 50; i++) {
		struct ratebucket save = a;

		if (!ratelimit_take(&per, &a, T0 + i))
			continue;
		if (!ratelimit_take(&total, &all, T0 + i)) {
			a = save;	/* not answered: give A's token back */
			continue;
		}
		answered_a++;
	}
	CHECK_INT(answered_a, 10);
	if (ratelimit_take(&per, &b, T0 + 60) && ratelimit_take(&total, &all, T0 + 60))
		answered_b++;
	CHECK_INT(answered_b, 1);
}

static void
test_slow_refill_exact(void)
{
	struct ratelimit l = { 1000, 86400 };
	struct ratebucket b;
	int got = 0;

	ratelimit_fresh(&l, T0, &b);
	for (int i = 0; i < 1000; i++)
		got += ratelimit_take(&l, &b, T0);
	CHECK_INT(got, 1000);
	CHECK_INT(ratelimit_take(&l, &b, T0), 0);
	/* 86.4 s per token: asking every second must not lose the
	 * fractions (100 tokens in 8640 s). */
	got = 0;
	for (int s = 1; s <= 8640; s++)
		got += ratelimit_take(&l, &b, T0 + s);
	CHECK_INT(got, 100);
}

static void
test_clock_and_corruption(void)
{
	struct ratelimit l = { 2, 60 };
	struct ratebucket b;

	ratelimit_fresh(&l, T0, &b);
	CHECK(ratelimit_take(&l, &b, T0));
	CHECK(ratelimit_take(&l, &b, T0));
	/* The clock goes back an hour: nothing refills, nothing breaks. */
	CHECK(!ratelimit_take(&l, &b, T0 - 3600));
	CHECK(!ratelimit_idle(&l, &b, T0 - 3600));
	CHECK(ratelimit_take(&l, &b, T0 + 30));
	/* A corrupt record (from an older or damaged spool) is a full
	 * bucket, never an endless one or a locked-out sender. */
	b.ticks = -5;
	CHECK(ratelimit_take(&l, &b, T0 + 31));
	CHECK(ratelimit_take(&l, &b, T0 + 31));
	CHECK(!ratelimit_take(&l, &b, T0 + 31));
	b.ticks = INT64_MAX;
	CHECK(ratelimit_take(&l, &b, T0 + 31));
	CHECK(ratelimit_take(&l, &b, T0 + 31));
	CHECK(!ratelimit_take(&l, &b, T0 + 31));
	b.updated = INT64_MIN;
	CHECK(ratelimit_take(&l, &b, T0 + 31));
	/* Far future: full, no overflow. */
	CHECK(ratelimit_idle(&l, &b, INT64_MAX / 2));
	{
		struct ratelimit big = { 100000, 366 * 86400 };
		struct ratebucket bb;

		ratelimit_fresh(&big, T0, &bb);
		CHECK(ratelimit_take(&big, &bb, T0));
		CHECK(ratelimit_take(&big, &bb, T0 + 366 * 86400 - 1));
		CHECK(ratelimit_wait(&big, &bb, T0 + 366 * 86400 - 1) == 0);
	}
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "bounds: count and period", test_valid },
		{ "burst_then_steady", test_burst_then_steady },
		{ "flood_does_not_starve", test_flood_does_not_starve },
		{ "slow_refill_exact", test_slow_refill_exact },
		{ "clock_and_corruption", test_clock_and_corruption },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "ratelimit", tests);
}
