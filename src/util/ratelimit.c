/*
 * ratelimit.c - token buckets (see ratelimit.h).
 *
 * Bounds keep the arithmetic far inside int64_t: a full bucket is
 * count * period <= 100000 * 366 d < 3.2 * 10^12 ticks.
 */
#include "util/ratelimit.h"

int
ratelimit_valid(uint64_t count, int64_t period)
{
	return count >= 1 && count <= RATELIMIT_COUNT_MAX && period >= 1 &&
	       period <= RATELIMIT_PERIOD_MAX;
}

static int64_t
capacity(const struct ratelimit *lim)
{
	return (int64_t)lim->count * lim->period;
}

void
ratelimit_fresh(const struct ratelimit *lim, int64_t now, struct ratebucket *b)
{
	b->ticks = capacity(lim);
	b->updated = now;
}

void
ratelimit_level(const struct ratelimit *lim, const struct ratebucket *b,
		int64_t now, struct ratebucket *out)
{
	int64_t cap = capacity(lim);

	/* A corrupt record (negative time: now - updated could overflow). */
	if (b->ticks < 0 || b->ticks > cap || b->updated < 0) {
		ratelimit_fresh(lim, now, out);
		return;
	}
	*out = *b;
	if (now <= b->updated)
		return;		/* the clock went back: no refill */
	/* A whole period refills any bucket: checked first, so that the
	 * product below stays within cap. */
	if (now - b->updated >= lim->period ||
	    b->ticks + (now - b->updated) * lim->count >= cap)
		out->ticks = cap;
	else
		out->ticks = b->ticks + (now - b->updated) * lim->count;
	out->updated = now;
}

int
ratelimit_take(const struct ratelimit *lim, struct ratebucket *b, int64_t now)
{
	struct ratebucket lv;

	ratelimit_level(lim, b, now, &lv);
	if (lv.ticks < lim->period)
		return 0;
	lv.ticks -= lim->period;
	*b = lv;
	return 1;
}

int
ratelimit_idle(const struct ratelimit *lim, const struct ratebucket *b,
	       int64_t now)
{
	struct ratebucket lv;

	ratelimit_level(lim, b, now, &lv);
	return lv.ticks >= capacity(lim);
}

int64_t
ratelimit_wait(const struct ratelimit *lim, const struct ratebucket *b,
	       int64_t now)
{
	struct ratebucket lv;
	int64_t missing;

	ratelimit_level(lim, b, now, &lv);
	if (lv.ticks >= lim->period)
		return 0;
	missing = lim->period - lv.ticks;
	/* Round up: after this many seconds a token is certainly there. */
	return (missing + lim->count - 1) / lim->count;
}
