/*
 * gate.c - the key policy at the bridge's doors (gate.h): setting the
 * policy up from the configuration, fetching the stored key a delta is
 * judged against, and the one log line per judged key.
 */
#include "bridge/gate.h"
#include "spool/blocks.h"
#include "spool/counters.h"

#include <stdio.h>
#include "util/log.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* A stored key is fetched to be judged, not served: a flooded copy in
 * the database must still be readable, so the cap is the policy's own
 * input bound, not max_key_size. */
#define GATE_STORED_MAX (64u << 20)

/* blocked - the policy's lookup: blocklist_file or the operator's list. */
static int
blocked(void *ctx, const unsigned char *fpr, size_t fpr_len)
{
	const struct gate *g = ctx;

	return blocklist_contains(&g->file, fpr, fpr_len) ||
	       blocklist_contains(&g->ops, fpr, fpr_len);
}

int
gate_open(const struct config *cfg, struct gate **g_r, struct pb_err *err)
{
	struct gate *g = xcalloc(1, sizeof *g);

	config_policy_settings(cfg, &g->pol.set);
	if (cfg->blocklist_file &&
	    blocklist_load(cfg->blocklist_file, &g->file, err) != 0) {
		free(g);
		return -1;
	}
	g->pol.blocked = blocked;
	g->pol.blocked_ctx = g;
	*g_r = g;
	return 0;
}

int
gate_refresh(struct gate *g, struct spool *sp, struct pb_err *err)
{
	struct blocks_entry *l;
	size_t n;

	if (blocks_list(sp, NULL, &l, &n, err) != 0)
		return -1;
	blocklist_free(&g->ops);
	for (size_t i = 0; i < n; i++)
		blocklist_add(&g->ops, l[i].fpr, l[i].fpr_len);
	blocklist_sort(&g->ops);
	free(l);
	return 0;
}

void
gate_close(struct gate *g)
{
	if (!g)
		return;
	blocklist_free(&g->file);
	blocklist_free(&g->ops);
	free(g);
}

/* fetch_stored - db's copy of key into *out (empty: it holds none).  -1
 * with PB_ETEMP when db could not answer. */
static int
fetch_stored(struct keydb *db, const struct pgp_key *key, int timeout_ms,
	     struct buf *out, struct pb_err *err)
{
	struct keydb_query q;
	struct keydb_answer a;
	char search[2 + 2 * PGP_FPR_MAX + 1];
	int r;

	search[0] = '0';
	search[1] = 'x';
	memcpy(search + 2, key->fpr_hex, strlen(key->fpr_hex) + 1);
	memset(&q, 0, sizeof q);
	q.kind = KEYDB_SEARCH_FPR;
	q.search = search;
	q.want = KEYDB_WANT_KEYS;
	q.max = 10;
	q.max_key_size = GATE_STORED_MAX;
	r = db->lookup(db, &q, &a, timeout_ms, err);
	if (r == 0 && (a.unsupported || a.too_many))
		r = pb_err_set(err, PB_ETEMP, "%s cannot look the key up: %s",
			       db->name, a.why);
	for (size_t i = 0; r == 0 && i < a.keys.nkeys; i++) {
		const struct pgp_key *k = &a.keys.keys[i];

		if (k->fpr_len == key->fpr_len &&
		    memcmp(k->fpr, key->fpr, k->fpr_len) == 0) {
			buf_append(out, k->data, k->len);
			break;
		}
	}
	keydb_answer_free(&a);
	if (r != 0 && err->status != PB_ETEMP)
		err->status = PB_ETEMP;	/* asking again may work */
	return r;
}

int
gate_judge(const struct gate *g, enum gate_door door,
	   const struct pgp_key *key, struct keydb *db, int timeout_ms,
	   struct policy_result *res, struct pb_err *err)
{
	struct buf stored = BUF_INIT;
	int gnupg_exception, delta;

	if (policy_judge(&g->pol, key->data, key->len, NULL, 0, res, err) != 0)
		return -1;
	gnupg_exception = door == GATE_KEYDB && db &&
			  !(db->does & KEYDB_MERGES) && res->hard_revoked;
	/* needs_stored is also set by a user ID kept for its revocation
	 * alone (every cleaned key has some): only a key that lost packets
	 * for want of a binding, or everything, is a delta worth asking
	 * the database about (and deferring for when it cannot answer). */
	delta = res->needs_stored &&
		(res->dropped[POLICY_R_UNBOUND] || res->verdict == POLICY_EMPTY);
	if (!db || (!delta && !gnupg_exception))
		return 0;
	if (fetch_stored(db, key, timeout_ms, &stored, err) != 0) {
		buf_free(&stored);
		return -1;
	}
	if (stored.len == 0 && !gnupg_exception) {
		/* A delta of a key the database does not hold: the first
		 * judgement stands (its unbound packets are dropped). */
		buf_free(&stored);
		return 0;
	}
	policy_result_free(res);
	if (gnupg_exception && stored.len == 0) {
		/* GnuPG refuses a new key without a user ID: its self-signed
		 * ones go with it, never its certifications. */
		struct policy p = g->pol;

		p.set.keep_uids_when_revoked = 1;
		buf_free(&stored);
		return policy_judge(&p, key->data, key->len, NULL, 0, res, err);
	}
	if (policy_judge(&g->pol, key->data, key->len, stored.data, stored.len,
			 res, err) != 0) {
		buf_free(&stored);
		return -1;
	}
	buf_free(&stored);
	return 0;
}

int
gate_passes(enum gate_door door, const struct policy_result *res)
{
	switch (res->verdict) {
	case POLICY_KEPT:
	case POLICY_UNJUDGED:
		return res->kept.len > 0;
	case POLICY_BLOCKED:
		/* Its revocations travel alone, but a reply never shows a
		 * blocked key at all. */
		return door != GATE_REPLY && res->kept.len > 0;
	case POLICY_EMPTY:
	case POLICY_TOO_LARGE:
		break;
	}
	return 0;
}

int
gate_take(const struct policy_result *res, struct pgp_key *out,
	  struct pb_err *err)
{
	return pgp_parse_key_blob(res->kept.data, res->kept.len, out, err);
}

static const char *const door_names[] = { "keydb", "peer", "reply" };

const char *
gate_door_name(enum gate_door door)
{
	return door_names[door];
}

void
gate_tally_add(struct gate_tally *t, const struct policy_result *res)
{
	t->keys[res->verdict]++;
	for (int r = 0; r < POLICY_NREASONS; r++)
		t->dropped[r] += res->dropped[r];
}

int
gate_tally_record(struct spool *sp, DB_TXN *txn, enum gate_door door,
		  const struct gate_tally *t, struct pb_err *err)
{
	char name[COUNTERS_NAME_MAX + 1];

	for (int v = 0; v <= POLICY_TOO_LARGE; v++) {
		snprintf(name, sizeof name, "policy_keys:%s:%s", door_names[door],
			 policy_verdict_name((enum policy_verdict)v));
		if (counters_add(sp, txn, name, t->keys[v], err) != 0)
			return -1;
	}
	for (int r = 0; r < POLICY_NREASONS; r++) {
		snprintf(name, sizeof name, "policy_dropped:%s:%s",
			 door_names[door], policy_reason_name((enum policy_reason)r));
		if (counters_add(sp, txn, name, t->dropped[r], err) != 0)
			return -1;
	}
	return 0;
}

void
gate_log(const char *qid, enum gate_door door, const struct pgp_key *key,
	 const struct policy_result *res)
{
	struct buf counts = BUF_INIT;

	policy_result_log(res, &counts);
	log_msg(res->verdict == POLICY_KEPT ? LOG_INFO : LOG_NOTICE, qid,
		"key=%s, door=%s, verdict=%s, policy=%s%s%s%s", key->fpr_hex,
		door_names[door], policy_verdict_name(res->verdict),
		buf_str(&counts), res->why[0] ? " (" : "", res->why,
		res->why[0] ? ")" : "");
	buf_free(&counts);
}

size_t
gate_trim_list(const struct gate *g, enum gate_door door, const char *qid,
	       struct pgp_keylist *list)
{
	size_t n = 0, removed = 0;

	for (size_t i = 0; i < list->nkeys; i++) {
		struct pgp_key *k = &list->keys[i];
		struct policy_result res;
		struct pgp_key t;
		struct pb_err err;
		int pass = 0;

		if (gate_judge(g, door, k, NULL, 0, &res, &err) == 0) {
			gate_log(qid, door, k, &res);
			pass = gate_passes(door, &res) && gate_take(&res, &t, &err) == 0;
		} else {
			log_warning(qid, "key=%s, door=%s, not passed: %s",
				    k->fpr_hex, door_names[door], err.msg);
		}
		policy_result_free(&res);
		if (!pass) {
			pgp_key_free_contents(k);
			removed++;
			continue;
		}
		pgp_key_free_contents(k);
		list->keys[n++] = t;
	}
	list->nkeys = n;
	return removed;
}
