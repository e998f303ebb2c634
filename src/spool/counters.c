/*
 * counters.c - monotonic counters in the spool (see counters.h).
 */
#include "spool/counters.h"
#include "spool/spool_db.h"
#include "util/bytes.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>


int
counters_add(struct spool *sp, DB_TXN *txn, const char *name, uint64_t delta,
	     struct pb_err *err)
{
	unsigned char val[8];
	size_t nl = strlen(name);
	uint64_t v = 0;
	DBT dk, dv;
	int ret;

	if (nl == 0 || nl > COUNTERS_NAME_MAX)
		return pb_err_set(err, PB_EDATA, "counter name \"%.40s\" "
				  "is empty or too long", name);
	if (delta == 0)
		return 0;
	dbt_init(&dk, (void *)name, nl);
	dbt_init(&dv, val, sizeof val);
	dv.ulen = sizeof val;
	dv.flags = DB_DBT_USERMEM;
	ret = sp->counters->get(sp->counters, txn, &dk, &dv, DB_RMW);
	if (ret == 0 && dv.size == sizeof val)
		v = be64_get(val);
	else if (ret != 0 && ret != DB_NOTFOUND && ret != DB_BUFFER_SMALL)
		return spool_dberr(sp, ret, err, "reading counter %s", name);
	/* A damaged record restarts the counter: Prometheus reads a
	 * decrease as a reset. */
	be64_put(val, v + delta < v ? UINT64_MAX : v + delta);
	dbt_init(&dv, val, sizeof val);
	ret = sp->counters->put(sp->counters, txn, &dk, &dv, 0);
	if (ret != 0)
		return spool_dberr(sp, ret, err, "writing counter %s", name);
	return 0;
}

int
counters_list(struct spool *sp, DB_TXN *txn, struct counter **list,
	      size_t *n_r, struct pb_err *err)
{
	struct counter *l = NULL;
	size_t n = 0;
	DBC *c = NULL;
	DBT dk, dv;
	int ret;

	*list = NULL;
	*n_r = 0;
	if ((ret = sp->counters->cursor(sp->counters, txn, &c, 0)) != 0)
		return spool_dberr(sp, ret, err, "reading the counters");
	dbt_init(&dk, NULL, 0);
	dbt_init(&dv, NULL, 0);
	while ((ret = c->get(c, &dk, &dv, DB_NEXT)) == 0) {
		if (dk.size == 0 || dk.size > COUNTERS_NAME_MAX || dv.size != 8 ||
		    memchr(dk.data, '\0', dk.size))
			continue;
		l = xreallocarray(l, n + 1, sizeof *l);
		memcpy(l[n].name, dk.data, dk.size);
		l[n].name[dk.size] = '\0';
		l[n++].value = be64_get(dv.data);
	}
	c->close(c);
	if (ret != DB_NOTFOUND) {
		free(l);
		return spool_dberr(sp, ret, err, "reading the counters");
	}
	*list = l;
	*n_r = n;
	return 0;
}
