/*
 * plant.c - the planted loss of test builds (see plant.h).  Empty unless
 * compiled with PB_PLANT_LOSS.
 */
#include "plant.h"

#ifdef PB_PLANT_LOSS
#include "spool/queue.h"
#include "spool/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct plant {
	const char *const *ids;
	size_t n;
	const char *list;
	size_t ndeleted;
};

/* listed - whether msgid is a word of list. */
static int
listed(const char *list, const char *msgid)
{
	size_t len = strlen(msgid);

	for (const char *p = list; (p = strstr(p, msgid)) != NULL; p++)
		if ((p == list || p[-1] == ' ') && (p[len] == ' ' || !p[len]))
			return 1;
	return 0;
}

static int
plant_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct plant *pl = vctx;

	pl->ndeleted = 0;
	for (size_t i = 0; i < pl->n; i++) {
		struct q_entry e;
		int hit;

		if (queue_get(sp, txn, pl->ids[i], 1, &e, err) != 0)
			return -1;
		hit = e.message_id && listed(pl->list, e.message_id);
		q_entry_free(&e);
		if (hit && queue_delete(sp, txn, pl->ids[i], err) != 0)
			return -1;
		pl->ndeleted += hit;
	}
	return 0;
}

void
plant_loss(struct spool *sp, const char *const *ids, size_t n)
{
	struct plant pl = { ids, n, getenv("PB_PLANT_LOSS"), 0 };
	struct pb_err err;

	if (!pl.list || !*pl.list || n == 0)
		return;
	if (spool_txn(sp, SPOOL_SYNC, plant_fn, &pl, &err) != 0)
		fprintf(stderr, "pksbridge: plant: %s\n", err.msg);
	else if (pl.ndeleted)
		fprintf(stderr, "pksbridge: plant: deleted %zu acknowledged "
			"entries on purpose\n", pl.ndeleted);
}
#endif
