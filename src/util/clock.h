/*
 * clock.h - the time helpers every layer shares: a monotonic clock for
 * deadlines and delays (never the wall clock, which an NTP step moves),
 * and local wall-clock times as operators read them.  The clock that
 * queue and dedup decisions use is spool_now (spool.h): tests can fix it.
 */
#ifndef PB_CLOCK_H
#define PB_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* clock_ms - monotonic milliseconds, for deadlines and budgets. */
int64_t clock_ms(void);

/* clock_since - seconds elapsed since t0_ms (a clock_ms value), for the
 * delay= field of log lines. */
double clock_since(int64_t t0_ms);

/* clock_nap_ms - sleep ms milliseconds (the rest of them after a
 * signal). */
void clock_nap_ms(int ms);

/* clock_backoff - sleep a little, more with each attempt (up to 51 ms),
 * randomly, so that processes that collided on a lock do not collide
 * again in lockstep. */
void clock_backoff(int attempt);

/* clock_format - Unix time t as local time "2026-12-01 23:44:00 +0000"
 * into out (32 bytes are enough), or "never" for 0; returns out. */
const char *clock_format(int64_t t, char *out, size_t len);

#endif
