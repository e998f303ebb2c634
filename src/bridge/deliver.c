/*
 * deliver.c - the delivery agent for inbound entries: their keys to the
 * key database (a row of delivery.c's table; agent.h).
 *
 * An attempt reads every claimed entry's keys, judges each with the key
 * policy (gate.h: trimmed, a delta against the database's copy, a
 * blocked or empty key left out), asks GnuPG about the rest in one call
 * and hands the accepted ones to the key database in one call: batching
 * is what makes bulk delivery cheap, gpg starts once per batch instead
 * of once per mail.  What the attempt found beside
 * the outcome is recorded with it: keys GnuPG rejected split off into a
 * quarantined entry, a failed entry's keys no longer counted as seen,
 * and an ADD's facts for its waiting reply.
 */
#include "bridge/addreply.h"
#include "bridge/agent.h"
#include "bridge/mailreq.h"
#include "openpgp/pgp.h"
#include "spool/dedup.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the attempt keeps per item, for the record and the log. */
struct kd_item {
	size_t first, nkeys;		/* its keys in kd_batch.keys */
	struct q_entry rejected;	/* keys GnuPG refused, to split off */
	struct buf rpayload;
	struct mailreq facts;		/* for an ADD's reply (entry.child) */
	char quarantine_id[QID_LEN + 1];
	size_t nblocked;		/* keys the policy found blocked */
	struct gate_tally tally;	/* for the spool's counters */
	size_t nleft;			/* keys the policy left out whole */
};

/* What the key policy decided for a key. */
enum kd_judged {
	KD_PASS,	/* trimmed (maybe), on to GnuPG and the database */
	KD_REFUSE,	/* quarantined (too large, nothing valid left) */
	KD_LEAVE,	/* not delivered, nothing to keep: blocked with no
			 * revocation, or a delta the database has whole */
};

struct kd_batch {
	struct kd_item *items;		/* beside the frame's items */
	struct pgp_key *keys;		/* every item's keys (owned) */
	size_t nkeys;
	unsigned char *accepted;	/* per key: GnuPG accepts it */
	const char **reasons;		/* per key: else why not */
	unsigned char *kept;		/* per key: goes to the database */
	unsigned char *judged;		/* per key: enum kd_judged */
	struct pgp_key *orig;		/* per key: as received, when the
					 * policy trimmed it (a quarantined
					 * piece keeps what came) */
	char **refused;			/* per key: KD_REFUSE's why (owned) */
	char **pjson;			/* per key: the policy's JSON object,
					 * for the entry's record (owned) */
};

int
keydb_lease_secs(int timeout_ms)
{
	/* The key check and the database call together, with room. */
	return 2 * (timeout_ms / 1000) + 60;
}

/* read_keys - every claimed item's keys into kb->keys, dropping each
 * payload as soon as it is parsed so a large batch is held once. */
static int
read_keys(struct agent_batch *b, struct kd_batch *kb, struct pb_err *err)
{
	for (size_t i = 0; i < b->n; i++) {
		struct agent_item *it = &b->items[i];
		struct kd_item *k = &kb->items[i];
		struct buf payload = BUF_INIT;
		const unsigned char *kp;
		size_t off = 0, klen;
		struct pb_err kerr;
		int r;

		if (!it->claimed)
			continue;
		if (queue_get_payload(b->d->sp, NULL, it->id, &payload, err) != 0) {
			buf_free(&payload);
			return -1;
		}
		k->first = kb->nkeys;
		pb_err_clear(&kerr);
		while ((r = pgp_keyseq_next(payload.data, payload.len, &off,
					       &kp, &klen)) == 1) {
			kb->keys = xreallocarray(kb->keys, kb->nkeys + 1,
						 sizeof *kb->keys);
			if (pgp_parse_key_blob(kp, klen, &kb->keys[kb->nkeys],
					       &kerr) != 0) {
				r = -1;
				break;
			}
			kb->nkeys++;
		}
		k->nkeys = kb->nkeys - k->first;
		buf_free(&payload);
		if (r < 0 || k->nkeys == 0) {
			/* Our bug or disk damage: retrying cannot help. */
			it->outcome = QS_FAILED;
			it->error = xasprintf("unreadable payload: %s",
					      kerr.msg[0] ? kerr.msg : "no keys");
		}
	}
	return 0;
}

/* reject - key k of item it, which who (GnuPG, the key policy) refused
 * for reason, goes to the item's quarantined piece; the ADD's reply
 * hears of it. */
static void
reject(struct agent_item *it, struct kd_item *k, const struct pgp_key *key,
       const char *who, const char *reason, struct buf *why)
{
	struct q_entry *r = &k->rejected;

	if (it->entry.child) {
		struct mailreq_fact f = mailreq_key_fact(MAILREQ_REJECTED, key);

		f.why = (char *)reason;
		mailreq_add_fact(&k->facts, &f);
	}
	if (r->nkeys == 0) {
		struct q_source src = {
			it->entry.sender, it->entry.message_id, it->entry.size,
			it->id,
		};

		q_entry_new_quarantine(r, Q_INBOUND, it->entry.origin, NULL, &src);
		r->payload_kind = Q_PAYLOAD_KEYS;
	}
	q_entry_add_key(r, key->fpr_hex, key->uid);
	pgp_keyseq_add(&k->rpayload, key->data, key->len);
	buf_printf(why, "%s%s rejected key %s: %s", why->len ? "; " : "",
		   who, key->fpr_hex, reason ? reason : "unusable");
}

/* split_rejected - per item, keys GnuPG refused become a quarantined
 * entry; an item with none left is itself quarantined.  Marks kb->kept
 * for the accepted keys of undecided items, and returns how many.  A
 * key GnuPG parsed but found no self-signature for is a PKS delta, not
 * a bad key, when the key database merges packets: it goes through
 * (unless it is a primary key packet alone, which adds nothing). */
static size_t
split_rejected(struct agent_batch *b, struct kd_batch *kb, int merges)
{
	size_t ngood = 0;

	for (size_t i = 0; i < b->n; i++) {
		struct agent_item *it = &b->items[i];
		struct kd_item *k = &kb->items[i];
		struct buf why = BUF_INIT;
		size_t kept = 0;

		if (!it->claimed || it->outcome != QS_READY)
			continue;
		for (size_t j = k->first; j < k->first + k->nkeys; j++) {
			if (kb->judged[j] == KD_LEAVE)
				continue;
			if (kb->judged[j] == KD_REFUSE) {
				reject(it, k, &kb->keys[j], "the key policy",
				       kb->refused[j], &why);
				continue;
			}
			if (kb->accepted[j] ||
			    (merges && kb->keys[j].npackets > 1 &&
			     keycheck_unbound(kb->reasons[j]))) {
				kb->kept[j] = 1;
				kept++;
				continue;
			}
			reject(it, k, kb->orig[j].data ? &kb->orig[j] :
			       &kb->keys[j], "GnuPG", kb->reasons[j], &why);
		}
		ngood += kept;
		if (!why.len && kept == 0) {
			/* The policy left every key out. */
			it->outcome = k->nblocked ? QS_BLOCKED : QS_DUPLICATE;
			it->error = xstrdup(k->nblocked ?
				"key policy: blocked (no revocation to pass on)" :
				"key policy: the key database holds every packet");
		} else if (why.len && kept == 0) {
			/* Nothing left: the entry itself is the quarantine
			 * record. */
			it->outcome = QS_QUARANTINED;
			it->error = (char *)buf_steal(&why, NULL);
			q_entry_free(&k->rejected);
			buf_free(&k->rpayload);
		} else if (why.len) {
			k->rejected.last_error = (char *)buf_steal(&why, NULL);
		}
		buf_free(&why);
	}
	return ngood;
}

/* describe_adds - before the put: for every ADD in the batch, what each
 * of its keys adds to the database's copy (addreply.h).  An ADD is a
 * person's, so the few lookups this costs are worth the answer. */
static void
describe_adds(struct agent_batch *b, struct kd_batch *kb)
{
	struct deliverer *d = b->d;

	for (size_t i = 0; i < b->n; i++) {
		struct agent_item *it = &b->items[i];
		struct kd_item *k = &kb->items[i];
		struct mailreq_fact later = { .kind = MAILREQ_MERGED_LATER };

		if (!it->claimed || it->outcome != QS_READY || !it->entry.child)
			continue;
		for (size_t j = k->first; j < k->first + k->nkeys; j++)
			if (kb->kept[j])
				/* The stored copy may be a flood the policy
				 * has not seen: bounded by the mail size. */
				addreply_describe(d->db, &kb->keys[j],
						  (size_t)d->cfg->max_message_size,
						  b->timeout_ms / 4, &k->facts);
		if (!(d->db->does & KEYDB_REPORTS_REFUSALS))
			mailreq_add_fact(&k->facts, &later);
	}
}

/* put_kept - the kept keys, to the key database in one call. */
static void
put_kept(struct agent_batch *b, struct kd_batch *kb, size_t ngood)
{
	struct deliverer *d = b->d;
	struct pgp_key *good = xcalloc(ngood + 1, sizeof *good);
	const char *first = NULL;
	struct pb_err derr;
	size_t n = 0;
	char *why;

	for (size_t j = 0; j < kb->nkeys; j++)
		if (kb->kept[j])
			good[n++] = kb->keys[j];	/* shallow */
	for (size_t i = 0; i < b->n && !first; i++)
		if (b->items[i].claimed)
			first = b->items[i].id;
	describe_adds(b, kb);
	if (d->db->put(d->db, first, good, n, b->timeout_ms, &derr) != 0) {
		why = xasprintf("%s: %s", d->db->name, derr.msg);
		agent_set_outcome(b, derr.status == PB_EPERM ? QS_FAILED :
				  QS_DEFERRED, why);
		free(why);
	} else {
		agent_set_outcome(b, QS_DONE, NULL);
	}
	free(good);
}

/* nothing_dropped - an empty result that dropped nothing: a delta whose
 * every packet the database already holds. */
static int
nothing_dropped(const struct policy_result *res)
{
	for (int r = 0; r < POLICY_NREASONS; r++)
		if (res->dropped[r])
			return 0;
	return 1;
}

/* judge_one - key j of item it through the key policy: trimmed in
 * place, or marked refused or left out.  -1 when the database could
 * not be asked for the stored key a delta needs: the item defers. */
static int
judge_one(struct agent_batch *b, struct kd_batch *kb, struct agent_item *it,
	  struct kd_item *k, size_t j, struct keydb *db)
{
	struct pgp_key *key = &kb->keys[j];
	struct policy_result res;
	struct pgp_key trimmed;
	struct buf json = BUF_INIT;
	struct pb_err err;

	pb_err_clear(&err);
	if (gate_judge(b->d->gate, GATE_KEYDB, key, db, b->timeout_ms / 4, &res,
		       &err) != 0) {
		policy_result_free(&res);
		if (err.status == PB_ETEMP) {
			it->outcome = QS_DEFERRED;
			it->error = xasprintf("key policy: the stored copy of "
					      "%s for a delta: %s", key->fpr_hex,
					      err.msg);
			return -1;
		}
		kb->judged[j] = KD_REFUSE;
		kb->refused[j] = xstrdup(err.msg);
		return 0;
	}
	gate_log(it->id, GATE_KEYDB, key, &res);
	gate_tally_add(&k->tally, &res);
	policy_result_json(&res, &json);
	kb->pjson[j] = (char *)buf_steal(&json, NULL);
	if (res.verdict == POLICY_BLOCKED)
		k->nblocked++;
	if (gate_passes(GATE_KEYDB, &res)) {
		if (gate_take(&res, &trimmed, &err) != 0) {
			kb->judged[j] = KD_REFUSE;
			kb->refused[j] = xasprintf("trimmed key: %s", err.msg);
		} else {
			kb->orig[j] = *key;
			*key = trimmed;
		}
	} else if (res.verdict == POLICY_BLOCKED ||
		   (res.verdict == POLICY_EMPTY && nothing_dropped(&res))) {
		kb->judged[j] = KD_LEAVE;
		k->nleft++;
	} else {
		kb->judged[j] = KD_REFUSE;
		kb->refused[j] = xstrdup(res.why[0] ? res.why :
					 policy_verdict_name(res.verdict));
	}
	policy_result_free(&res);
	return 0;
}

/* judge_keys - every undecided item's keys through the key policy, in
 * front of GnuPG and the database (SPEC "Key policy"): nothing reaches
 * the key database unjudged.  0, or -1 when the policy cannot be set up
 * (every item defers). */
static int
judge_keys(struct agent_batch *b, struct kd_batch *kb)
{
	struct deliverer *d = b->d;
	struct keydb *db;
	struct pb_err err;
	char *why;

	if (deliverer_gate(d, &err) != 0) {
		why = xasprintf("key policy: %s", err.msg);
		agent_set_outcome(b, QS_DEFERRED, why);
		free(why);
		return -1;
	}
	db = deliverer_keydb(d, &err) == 0 ? d->db : NULL;
	for (size_t i = 0; i < b->n; i++) {
		struct agent_item *it = &b->items[i];
		struct kd_item *k = &kb->items[i];

		if (!it->claimed || it->outcome != QS_READY)
			continue;
		for (size_t j = k->first; j < k->first + k->nkeys; j++)
			if (judge_one(b, kb, it, k, j, db) != 0)
				break;
	}
	return 0;
}

/* check_passed - GnuPG's verdict on the keys the policy passed, in one
 * call (the others keep accepted 0, and split_rejected reads their
 * judgement instead). */
static int
check_passed(struct keycheck *kc, struct kd_batch *kb, struct pb_err *err)
{
	struct pgp_key *keys = xcalloc(kb->nkeys + 1, sizeof *keys);
	size_t *at = xcalloc(kb->nkeys + 1, sizeof *at);
	unsigned char *acc = xcalloc(kb->nkeys + 1, 1);
	const char **reasons = xcalloc(kb->nkeys + 1, sizeof *reasons);
	size_t n = 0;
	int r = 0;

	for (size_t j = 0; j < kb->nkeys; j++)
		if (kb->judged[j] == KD_PASS) {
			keys[n] = kb->keys[j];	/* shallow */
			at[n++] = j;
		}
	if (n)
		r = keycheck_keys(kc, keys, n, acc, reasons, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		kb->accepted[at[i]] = acc[i];
		kb->reasons[at[i]] = reasons[i];
	}
	free(keys);
	free(at);
	free(acc);
	free(reasons);
	return r;
}

/* mark_blocked - an entry whose every key is blocked is recorded
 * blocked, also when their revocations were delivered (SPEC: a blocked
 * key goes nowhere but its revocations). */
static void
mark_blocked(struct agent_batch *b, struct kd_batch *kb)
{
	for (size_t i = 0; i < b->n; i++) {
		struct agent_item *it = &b->items[i];
		const struct kd_item *k = &kb->items[i];

		if (!it->claimed || it->outcome != QS_DONE || k->nkeys == 0 ||
		    k->nblocked != k->nkeys)
			continue;
		it->outcome = QS_BLOCKED;
		free(it->error);
		it->error = xstrdup("key policy: blocked; only its revocations "
				    "were delivered");
	}
}

static int
keycheck_ready(struct deliverer *d, struct pb_err *err)
{
	char *home;
	int r;

	if (d->kc)
		return 0;
	home = xasprintf("%s/keycheck", spool_dir(d->sp));
	r = keycheck_open(home, &d->kc, err);
	free(home);
	return r;
}

int
keydb_attempt(struct agent_batch *b, struct pb_err *err)
{
	struct deliverer *d = b->d;
	struct kd_batch *kb = xcalloc(1, sizeof *kb);
	struct pb_err derr;
	size_t ngood;
	int opened;
	char *why;

	b->state = kb;
	kb->items = xcalloc(b->n + 1, sizeof *kb->items);
	if (read_keys(b, kb, err) != 0)
		return -1;
	kb->accepted = xcalloc(kb->nkeys + 1, 1);
	kb->reasons = xcalloc(kb->nkeys + 1, sizeof *kb->reasons);
	kb->kept = xcalloc(kb->nkeys + 1, 1);
	kb->judged = xcalloc(kb->nkeys + 1, 1);
	kb->orig = xcalloc(kb->nkeys + 1, sizeof *kb->orig);
	kb->pjson = xcalloc(kb->nkeys + 1, sizeof *kb->pjson);
	kb->refused = xcalloc(kb->nkeys + 1, sizeof *kb->refused);
	if (judge_keys(b, kb) != 0)
		return 0;
	pb_err_clear(&derr);
	if (keycheck_ready(d, &derr) != 0 ||
	    check_passed(d->kc, kb, &derr) != 0) {
		why = xasprintf("key check: %s", derr.msg);
		agent_set_outcome(b, QS_DEFERRED, why);
		free(why);
		return 0;
	}
	/* Opening only parses: what the backend does decides which keys go
	 * to it. */
	opened = deliverer_keydb(d, &derr) == 0;
	ngood = split_rejected(b, kb, opened && (d->db->does & KEYDB_MERGES));
	if (ngood == 0)
		return 0;	/* every item decided already */
	if (!opened) {
		why = xasprintf("key database: %s", derr.msg);
		agent_set_outcome(b, QS_DEFERRED, why);
		free(why);
		return 0;
	}
	put_kept(b, kb, ngood);
	mark_blocked(b, kb);
	return 0;
}

/* report - an ADD's facts, into its waiting reply (made due by the
 * record of its parent e, in this transaction). */
static int
report(struct spool *sp, DB_TXN *txn, const struct q_entry *e,
       const struct kd_item *k, struct pb_err *err)
{
	struct buf payload = BUF_INIT;
	struct mailreq mr;
	struct pb_err derr;
	int r;

	if (queue_get_payload(sp, txn, e->child, &payload, err) != 0) {
		buf_free(&payload);
		return -1;
	}
	if (payload.len == 0 ||
	    mailreq_decode(payload.data, payload.len, &mr, &derr) != 0) {
		/* Gone, or damaged: the reply says what it can. */
		buf_free(&payload);
		return 0;
	}
	for (size_t i = 0; i < k->facts.nfacts; i++)
		if (e->state == QS_DONE || k->facts.facts[i].kind == MAILREQ_REJECTED)
			mailreq_add_fact(&mr, &k->facts.facts[i]);
	if (e->state == QS_FAILED) {
		struct mailreq_fact f = { .kind = MAILREQ_DB_REFUSED,
					  .why = e->last_error };

		mailreq_add_fact(&mr, &f);
	}
	buf_reset(&payload);
	mailreq_encode(&mr, &payload);
	mailreq_free(&mr);
	r = queue_replace_payload(sp, txn, e->child, payload.data, payload.len,
				  err);
	buf_free(&payload);
	if (r < 0 && err->status == PB_ENOTFOUND)
		r = 0;
	return r < 0 ? -1 : 0;
}

/* note_policy - what the policy did to each of the item's keys, into
 * its entry (queue show --json's "policy"). */
static int
note_policy(struct spool *sp, DB_TXN *txn, const char *id,
	    const struct kd_batch *kb, const struct kd_item *k,
	    struct pb_err *err)
{
	struct q_key_policy *kp = xcalloc(k->nkeys + 1, sizeof *kp);
	size_t n = 0;
	int r;

	for (size_t j = k->first; j < k->first + k->nkeys; j++) {
		if (!kb->pjson[j])
			continue;
		kp[n].fpr = kb->keys[j].fpr_hex;
		kp[n++].json = kb->pjson[j];
	}
	r = n ? queue_note_policy(sp, txn, id, kp, n, err) : 0;
	free(kp);
	return r;
}

int
keydb_record(struct spool *sp, DB_TXN *txn, struct agent_batch *b,
	     struct agent_item *it, const struct q_entry *e, struct pb_err *err)
{
	struct kd_batch *kb = b->state;
	struct kd_item *k = &kb->items[it - b->items];
	int r = 0;

	k->quarantine_id[0] = '\0';
	/* A failed entry must not make its keys look seen: a resend within
	 * dedup_ttl would be taken for a duplicate and the keys never
	 * delivered.  (Keys GnuPG rejected stay seen: a resend would be
	 * rejected again.) */
	for (size_t j = k->first; r == 0 && e->state == QS_FAILED &&
	     j < k->first + k->nkeys; j++)
		r = dedup_forget_key(sp, txn, kb->orig[j].data ? &kb->orig[j] :
				     &kb->keys[j], e->origin, e->created, err);
	/* A deferred entry is judged again at its next attempt: it is
	 * counted once, when it finishes. */
	if (r == 0 && e->state != QS_DEFERRED)
		r = note_policy(sp, txn, it->id, kb, k, err);
	if (r == 0 && e->state != QS_DEFERRED)
		r = gate_tally_record(sp, txn, GATE_KEYDB, &k->tally, err);
	if (r == 0 && k->rejected.nkeys) {
		struct q_entry q;

		q_entry_copy(&q, &k->rejected);
		r = queue_insert(sp, txn, &q, k->rpayload.data, k->rpayload.len,
				 err);
		memcpy(k->quarantine_id, q.id, sizeof q.id);
		q_entry_free(&q);
	}
	if (r == 0 && e->child && e->state != QS_DEFERRED)
		r = report(sp, txn, e, k, err);
	return r;
}

void
keydb_log(const struct agent_batch *b, const struct agent_item *it)
{
	const struct kd_batch *kb = b->state;
	const struct kd_item *k = &kb->items[it - b->items];
	const struct deliverer *d = b->d;

	if (!it->recorded) {
		log_warning(it->id, "status=%s not recorded (%s)",
			    agent_status(it->outcome, "delivered"), it->why_lost);
		return;
	}
	log_msg(it->final == QS_DONE ? LOG_INFO : LOG_WARNING, it->id,
		"to=<%s>, keys=%zu, delay=%.2f, attempts=%u, status=%s%s%s%s",
		d->db ? d->db->name : d->cfg->keydb,
		it->final == QS_DONE || it->final == QS_BLOCKED ?
		k->nkeys - k->rejected.nkeys - k->nleft : 0,
		clock_since(b->t0), it->entry.attempts + 1,
		agent_status(it->final, "delivered"),
		it->error ? " (" : "", it->error ? it->error : "",
		it->error ? ")" : "");
	if (k->quarantine_id[0])
		log_notice(k->quarantine_id, "parent=%s, status=quarantined (%s)",
			   it->id, k->rejected.last_error);
}

void
keydb_done(struct agent_batch *b)
{
	struct kd_batch *kb = b->state;

	if (!kb)
		return;
	for (size_t i = 0; i < b->n; i++) {
		q_entry_free(&kb->items[i].rejected);
		buf_free(&kb->items[i].rpayload);
		mailreq_free(&kb->items[i].facts);
	}
	for (size_t j = 0; j < kb->nkeys; j++) {
		pgp_key_free_contents(&kb->keys[j]);
		if (kb->orig)
			pgp_key_free_contents(&kb->orig[j]);
	}
	free(kb->orig);
	free(kb->keys);
	free(kb->accepted);
	free(kb->reasons);
	free(kb->kept);
	free(kb->judged);
	for (size_t j = 0; kb->refused && j < kb->nkeys; j++)
		free(kb->refused[j]);
	for (size_t j = 0; kb->pjson && j < kb->nkeys; j++)
		free(kb->pjson[j]);
	free(kb->pjson);
	free(kb->refused);
	free(kb->items);
	free(kb);
}
