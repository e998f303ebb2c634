/*
 * plant.h - a loss planted on purpose, in test builds only.
 *
 * The crash suites claim to see any acknowledged mail that goes missing.
 * A claim like that is only worth something once it has been seen to
 * fail: `make plant-build` compiles pksbridge with PB_PLANT_LOSS into
 * build-plant/, where an intake that has committed a mail whose
 * Message-ID is listed in $PB_PLANT_LOSS (space-separated, without the
 * angle brackets) deletes the entries it just made and still exits 0.
 * tests/integration/crash_plant.sh runs the crash suites on that build
 * and expects their loss checks, and only those, to fail.
 *
 * In every other build plant_loss is an empty inline function and the
 * variable is never read.
 */
#ifndef PB_PLANT_H
#define PB_PLANT_H

#include <stddef.h>

struct spool;

#ifdef PB_PLANT_LOSS
/* plant_loss - delete those of the n committed entries ids[] whose
 * Message-ID $PB_PLANT_LOSS lists, and say so on stderr. */
void plant_loss(struct spool *sp, const char *const *ids, size_t n);
#else
static inline void
plant_loss(struct spool *sp, const char *const *ids, size_t n)
{
	(void)sp;
	(void)ids;
	(void)n;
}
#endif

#endif
