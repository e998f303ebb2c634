/*
 * test_blocks.c - what the key policy keeps in the spool, in a real
 * spool: the operator's blocklist (add, a repeated add keeping its first
 * reason, remove, list in order, durable across a reopen, a damaged
 * record skipped), the policy's counters (adding, saturating, listed
 * after a reopen) and each key's policy object recorded beside its entry
 * (queue_note_policy, matched by fingerprint, kept through a reopen).
 */
#include "lib/unit.h"
#include "spool/blocks.h"
#include "spool/counters.h"
#include "spool/queue.h"
#include "spool/spool_db.h"
#include "spool/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

struct op {
	int kind;	/* 0 add, 1 remove, 2 counter, 3 note, 4 insert */
	unsigned char fpr[32];
	size_t fpr_len;
	const char *text;
	uint64_t delta;
	struct q_entry *e;
	const struct q_key_policy *kp;
	size_t nkp;
	int r;
};

static int
op_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct op *o = vctx;

	switch (o->kind) {
	case 0:
		o->r = blocks_add(sp, txn, o->fpr, o->fpr_len, o->text, 1700000000,
				  err);
		break;
	case 1:
		o->r = blocks_remove(sp, txn, o->fpr, o->fpr_len, err);
		break;
	case 2:
		o->r = counters_add(sp, txn, o->text, o->delta, err);
		break;
	case 3:
		o->r = queue_note_policy(sp, txn, o->text, o->kp, o->nkp, err);
		break;
	default:
		o->r = queue_insert(sp, txn, o->e, "", 0, err);
		break;
	}
	return o->r < 0 ? -1 : 0;
}

static int
run(struct spool *sp, struct op *o)
{
	struct pb_err err;

	return spool_txn(sp, SPOOL_SYNC, op_fn, o, &err) != 0 ? -1 : o->r;
}

static void
test_blocklist(void)
{
	struct spool *sp = open_spool("blocks");
	struct blocks_entry *l;
	struct op o;
	struct pb_err err;
	size_t n;

	CHECK(sp != NULL);
	memset(&o, 0, sizeof o);
	o.fpr_len = 20;
	memset(o.fpr, 0xBB, 20);
	o.text = "second";
	CHECK_INT(run(sp, &o), 0);
	memset(o.fpr, 0xAA, 20);
	o.text = "first";
	CHECK_INT(run(sp, &o), 0);
	o.text = "again";
	CHECK_INT(run(sp, &o), 1);	/* already there: first reason stays */
	o.fpr_len = 32;
	memset(o.fpr, 0xCC, 32);
	o.text = NULL;
	CHECK_INT(run(sp, &o), 0);
	o.fpr_len = 8;			/* a key ID is no fingerprint */
	CHECK_INT(run(sp, &o), -1);
	spool_close(sp);

	sp = open_spool("blocks");
	CHECK(sp != NULL);
	/* A record of another shape (a short value) is not a block. */
	{
		unsigned char k[20], v[3] = { 1, 0, 0 };
		DBT dk, dv;

		memset(k, 0x11, sizeof k);
		memset(&dk, 0, sizeof dk);
		memset(&dv, 0, sizeof dv);
		dk.data = k;
		dk.size = sizeof k;
		dv.data = v;
		dv.size = sizeof v;
		CHECK_INT(sp->blocks->put(sp->blocks, NULL, &dk, &dv, DB_AUTO_COMMIT), 0);
	}
	CHECK_OK(blocks_list(sp, NULL, &l, &n, &err), &err);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_INT(l[0].fpr[0], 0xAA);
		CHECK_STR(l[0].reason, "first");
		CHECK_INT(l[0].added, 1700000000);
		CHECK_INT(l[1].fpr[0], 0xBB);
		CHECK_INT(l[2].fpr_len, 32);
		CHECK_STR(l[2].reason, "");
	}
	free(l);
	memset(&o, 0, sizeof o);
	o.kind = 1;
	o.fpr_len = 20;
	memset(o.fpr, 0xAA, 20);
	CHECK_INT(run(sp, &o), 0);
	CHECK_INT(run(sp, &o), 1);	/* gone already */
	CHECK_OK(blocks_list(sp, NULL, &l, &n, &err), &err);
	CHECK_INT(n, 2);
	free(l);
	spool_close(sp);
}

static void
test_counters(void)
{
	struct spool *sp = open_spool("counters");
	struct counter *l;
	struct op o;
	struct pb_err err;
	size_t n;

	CHECK(sp != NULL);
	memset(&o, 0, sizeof o);
	o.kind = 2;
	o.text = "policy_dropped:keydb:third_party";
	o.delta = 2000;
	CHECK_INT(run(sp, &o), 0);
	o.delta = 500;
	CHECK_INT(run(sp, &o), 0);
	o.text = "policy_keys:keydb:kept";
	o.delta = UINT64_MAX;
	CHECK_INT(run(sp, &o), 0);
	o.delta = 5;			/* saturates, never wraps to 4 */
	CHECK_INT(run(sp, &o), 0);
	o.text = "";
	CHECK_INT(run(sp, &o), -1);
	spool_close(sp);
	sp = open_spool("counters");
	CHECK(sp != NULL);
	CHECK_OK(counters_list(sp, NULL, &l, &n, &err), &err);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(l[0].name, "policy_dropped:keydb:third_party");
		CHECK_INT(l[0].value, 2500);
		CHECK_STR(l[1].name, "policy_keys:keydb:kept");
		CHECK(l[1].value == UINT64_MAX);
	}
	free(l);
	spool_close(sp);
}

static void
test_note_policy(void)
{
	struct spool *sp = open_spool("note");
	const char *a = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	const char *b = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
	struct q_key_policy kp[] = {
		{ b, "{\"verdict\":\"blocked\"}" },
		{ a, "{\"verdict\":\"kept\"}" },
		{ a, "{\"verdict\":\"empty\"}" },
		{ "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", "{}" },
	};
	struct q_source src = { "x@y.example", "m@y.example", 10, NULL };
	struct q_entry e, got;
	struct pb_err err;
	struct op o;
	char id[QID_LEN + 1];

	CHECK(sp != NULL);
	q_entry_new(&e, Q_INBOUND, Q_ORIGIN_PKS, QS_READY, 0, NULL, &src);
	q_entry_add_key(&e, a, "alice");
	q_entry_add_key(&e, b, NULL);
	q_entry_add_key(&e, a, "alice again");
	memset(&o, 0, sizeof o);
	o.kind = 4;
	o.e = &e;
	CHECK_INT(run(sp, &o), 0);
	memcpy(id, e.id, sizeof id);
	q_entry_free(&e);
	memset(&o, 0, sizeof o);
	o.kind = 3;
	o.text = id;
	o.kp = kp;
	o.nkp = 4;
	CHECK_INT(run(sp, &o), 0);
	spool_close(sp);

	sp = open_spool("note");
	CHECK(sp != NULL);
	CHECK_OK(queue_get(sp, NULL, id, 0, &got, &err), &err);
	CHECK_INT(got.nkeys, 3);
	if (got.nkeys == 3) {
		/* Each fingerprint's notes go to its keys in order; the one
		 * for a key the entry does not carry is dropped. */
		CHECK_STR(got.keys[0].policy, "{\"verdict\":\"kept\"}");
		CHECK_STR(got.keys[1].policy, "{\"verdict\":\"blocked\"}");
		CHECK_STR(got.keys[2].policy, "{\"verdict\":\"empty\"}");
		CHECK_STR(got.keys[0].uid, "alice");
		CHECK(got.keys[1].uid == NULL);
	}
	q_entry_free(&got);
	spool_close(sp);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "the operator's blocklist", test_blocklist },
		{ "the policy's counters", test_counters },
		{ "each key's policy object beside its entry", test_note_policy },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "blocks", tests);
}
