/*
 * clock.c - monotonic deadlines and local times (see clock.h).
 */
#include "util/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double
clock_since(int64_t t0_ms)
{
	return (double)(clock_ms() - t0_ms) / 1000.0;
}

const char *
clock_format(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || !localtime_r(&tt, &tm))
		snprintf(out, len, "never");
	else
		strftime(out, len, "%Y-%m-%d %H:%M:%S %z", &tm);
	return out;
}

void
clock_nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;	/* a signal: sleep the rest */
}

void
clock_backoff(int attempt)
{
	long max_us = 100L << (attempt < 9 ? attempt : 9);
	struct timespec ts;
	long us = 50 + (long)((unsigned)rand() % (unsigned)max_us);

	ts.tv_sec = 0;
	ts.tv_nsec = us * 1000;
	nanosleep(&ts, NULL);
}
