/*
 * ratelimit.h - token buckets for "at most N per period" limits
 * (reply_limit: 10/1h per requester, reply_limit_total: 1000/1h).
 *
 * A bucket holds up to N tokens and gains N per period, continuously: a
 * sender may use N at once, then one every period/N.  Fixed windows
 * would let 2N through around a window's edge, and a log of timestamps
 * grows with the traffic; a bucket is two numbers, which is what the
 * spool stores per requester.  The level is kept in ticks, one token
 * being `period` ticks and one second adding `count` ticks, so refilling
 * is exact integer arithmetic: no fraction of a token is ever rounded
 * away or counted twice, however often the bucket is looked at.  (A
 * bucket stored under another limit is clamped to the new size.)
 *
 * Pure arithmetic: no clock (callers pass now) and no storage.  A clock
 * that goes backwards refills nothing, and never lets more through.
 */
#ifndef PB_RATELIMIT_H
#define PB_RATELIMIT_H

#include <stdint.h>

struct ratelimit {
	uint32_t count;		/* N: tokens per period, and the bucket size */
	int64_t period;		/* seconds, > 0 */
};

struct ratebucket {
	int64_t ticks;		/* tokens held times period */
	int64_t updated;	/* when ticks was computed (Unix seconds) */
};

/* Bounds that keep the arithmetic far inside int64_t: a full bucket is
 * count * period <= 100000 * 366 d < 3.2 * 10^12 ticks. */
#define RATELIMIT_COUNT_MAX 100000
#define RATELIMIT_PERIOD_MAX (366 * 86400)

/* ratelimit_valid - count and period (seconds) within those bounds
 * (count 1..RATELIMIT_COUNT_MAX, period 1 s .. 366 d).  The "N/DURATION"
 * text of the configuration is parsed there (config_parse_ratelimit). */
int ratelimit_valid(uint64_t count, int64_t period);

/* ratelimit_fresh - a bucket nobody used yet: full, as of now. */
void ratelimit_fresh(const struct ratelimit *lim, int64_t now,
		     struct ratebucket *b);

/* ratelimit_level - b refilled up to now (copy in *out), without taking
 * anything. */
void ratelimit_level(const struct ratelimit *lim, const struct ratebucket *b,
		     int64_t now, struct ratebucket *out);

/* ratelimit_take - one token from b as of now: 1 and b updated if there
 * was one, 0 and b left exactly as it was if not, so that refused
 * requests never push the next allowed one further away.  A corrupt
 * bucket (negative, over the limit) counts as full. */
int ratelimit_take(const struct ratelimit *lim, struct ratebucket *b,
		   int64_t now);

/* ratelimit_idle - true when b has refilled completely by now: the
 * stored record says nothing a fresh one would not, and may be deleted. */
int ratelimit_idle(const struct ratelimit *lim, const struct ratebucket *b,
		   int64_t now);

/* ratelimit_wait - seconds from now until b holds a token again (0 if it
 * does now): for the "try again in N minutes" of a refusal. */
int64_t ratelimit_wait(const struct ratelimit *lim, const struct ratebucket *b,
		       int64_t now);

#endif
