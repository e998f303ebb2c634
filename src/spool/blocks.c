/*
 * blocks.c - the operator's blocklist in the spool (see blocks.h): one
 * record per blocked fingerprint in blocks.db.
 */
#include "spool/blocks.h"
#include "spool/spool_db.h"
#include "util/bytes.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#define REC_V 1
#define REC_HEAD (1 + 8)

static int
fpr_ok(size_t fpr_len, struct pb_err *err)
{
	if (fpr_len == 20 || fpr_len == 32)
		return 0;
	return pb_err_set(err, PB_EUSAGE, "a fingerprint has 20 or 32 bytes, "
			  "not %zu", fpr_len);
}

int
blocks_add(struct spool *sp, DB_TXN *txn, const unsigned char *fpr,
	   size_t fpr_len, const char *reason, int64_t now, struct pb_err *err)
{
	unsigned char val[REC_HEAD + BLOCKS_REASON_MAX];
	size_t rl = reason ? strnlen(reason, BLOCKS_REASON_MAX) : 0;
	DBT dk, dv;
	int ret;

	if (fpr_ok(fpr_len, err) != 0)
		return -1;
	val[0] = REC_V;
	be64_put(val + 1, (uint64_t)now);
	if (rl)
		memcpy(val + REC_HEAD, reason, rl);
	dbt_init(&dk, (void *)fpr, fpr_len);
	dbt_init(&dv, val, REC_HEAD + rl);
	ret = sp->blocks->put(sp->blocks, txn, &dk, &dv, DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST)
		return 1;
	if (ret != 0)
		return spool_dberr(sp, ret, err, "adding to the blocklist");
	return 0;
}

int
blocks_remove(struct spool *sp, DB_TXN *txn, const unsigned char *fpr,
	      size_t fpr_len, struct pb_err *err)
{
	DBT dk;
	int ret;

	if (fpr_ok(fpr_len, err) != 0)
		return -1;
	dbt_init(&dk, (void *)fpr, fpr_len);
	ret = sp->blocks->del(sp->blocks, txn, &dk, 0);
	if (ret == DB_NOTFOUND)
		return 1;
	if (ret != 0)
		return spool_dberr(sp, ret, err, "removing from the blocklist");
	return 0;
}

int
blocks_list(struct spool *sp, DB_TXN *txn, struct blocks_entry **list,
	    size_t *n_r, struct pb_err *err)
{
	struct blocks_entry *l = NULL;
	size_t n = 0;
	DBC *c = NULL;
	DBT dk, dv;
	int ret;

	*list = NULL;
	*n_r = 0;
	if ((ret = sp->blocks->cursor(sp->blocks, txn, &c, 0)) != 0)
		return spool_dberr(sp, ret, err, "reading the blocklist");
	dbt_init(&dk, NULL, 0);
	dbt_init(&dv, NULL, 0);
	while ((ret = c->get(c, &dk, &dv, DB_NEXT)) == 0) {
		const unsigned char *v = dv.data;
		struct blocks_entry *e;
		size_t rl;

		/* Never trust a stored length: a record of another shape is
		 * not a block. */
		if ((dk.size != 20 && dk.size != 32) || dv.size < REC_HEAD ||
		    dv.size > REC_HEAD + BLOCKS_REASON_MAX || v[0] != REC_V)
			continue;
		l = xreallocarray(l, n + 1, sizeof *l);
		e = &l[n++];
		memset(e, 0, sizeof *e);
		memcpy(e->fpr, dk.data, dk.size);
		e->fpr_len = dk.size;
		e->added = (int64_t)be64_get(v + 1);
		rl = dv.size - REC_HEAD;
		memcpy(e->reason, v + REC_HEAD, rl);
		e->reason[rl] = '\0';
	}
	c->close(c);
	if (ret != DB_NOTFOUND) {
		free(l);
		return spool_dberr(sp, ret, err, "reading the blocklist");
	}
	*list = l;
	*n_r = n;
	return 0;
}
