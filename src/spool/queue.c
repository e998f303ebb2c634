/*
 * queue.c - queue entries in the spool (see queue.h).
 */
#include "spool/queue.h"
#include "config/config.h"
#include "spool/record.h"
#include "spool/spool_db.h"
#include "util/bytes.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

enum {
	T_DIR = 1, T_STATE, T_ORIGIN, T_HELD_FROM, T_PEER, T_SENDER, T_MSGID,
	T_PARENT, T_LAST_ERROR, T_CREATED, T_UPDATED, T_NEXT, T_LEASE_UNTIL,
	T_LEASE_PID, T_ATTEMPTS, T_SIZE, T_PAYLOAD_KIND, T_PAYLOAD_LEN, T_KEY,
	T_KIND,
	/* 21, 22: an ADD's requester and request, kept in its inbound entry
	 * before the reply became an entry of its own (T_WAITING, T_CHILD);
	 * never reused. */
	T_WAITING = 23, T_CHILD,
	T_KEY_POLICY,	/* the policy object of the T_KEY before it */
};

/* A transition's rule (see change() below): 0 to apply its change to
 * the entry, 1 to refuse with why. */
typedef int (*rule_fn)(struct q_entry *e, void *arg, char *why);

/* The due index's value (struct q_due). */
enum {
	D_DIR = 1, D_KIND, D_PEER, D_PAYLOAD_LEN, D_LEASE_UNTIL, D_LEASE_PID,
};

static const char *const state_names[QS__COUNT] = {
	"ready", "deferred", "held", "done", "failed", "quarantined",
	"duplicate", "suppressed", "loop", "blocked",
};

const char *
q_state_name(enum q_state s)
{
	return (unsigned)s < QS__COUNT ? state_names[s] : "unknown";
}

int
q_state_from_name(const char *name, enum q_state *s)
{
	for (int i = 0; i < QS__COUNT; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*s = (enum q_state)i;
			return 0;
		}
	}
	return -1;
}

const char *
q_dir_name(enum q_dir d)
{
	return d == Q_OUTBOUND ? "outbound" : "inbound";
}

const char *
q_origin_name(enum q_origin o)
{
	return o == Q_ORIGIN_LOCAL ? "local" : "pks";
}

const char *
q_kind_name(enum q_kind k)
{
	return k == Q_KIND_REPLY ? "reply" : "sync";
}

int
q_state_pending(enum q_state s)
{
	return s == QS_READY || s == QS_DEFERRED || s == QS_HELD;
}

/* Only these sit in the due index: held entries wait for the operator,
 * a waiting reply for its parent. */
static int
indexed(const struct q_entry *e)
{
	return (e->state == QS_READY || e->state == QS_DEFERRED) && !e->waiting;
}

static int64_t
due_time(const struct q_entry *e)
{
	return e->next_attempt ? e->next_attempt : e->created;
}

void
q_entry_add_key(struct q_entry *e, const char *fpr, const char *uid)
{
	struct q_keyref *k;

	e->keys = xreallocarray(e->keys, e->nkeys + 1, sizeof *e->keys);
	k = &e->keys[e->nkeys++];
	snprintf(k->fpr, sizeof k->fpr, "%s", fpr);
	k->uid = uid ? xstrdup(uid) : NULL;
	k->policy = NULL;
}

void
q_entry_free(struct q_entry *e)
{
	free(e->peer);
	free(e->sender);
	free(e->message_id);
	free(e->parent);
	free(e->last_error);
	for (size_t i = 0; i < e->nkeys; i++) {
		free(e->keys[i].uid);
		free(e->keys[i].policy);
	}
	free(e->keys);
	free(e->child);
	memset(e, 0, sizeof *e);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void
q_entry_copy(struct q_entry *dst, const struct q_entry *src)
{
	*dst = *src;
	dst->peer = dup_or_null(src->peer);
	dst->sender = dup_or_null(src->sender);
	dst->message_id = dup_or_null(src->message_id);
	dst->parent = dup_or_null(src->parent);
	dst->last_error = dup_or_null(src->last_error);
	dst->child = dup_or_null(src->child);
	dst->keys = NULL;
	dst->nkeys = 0;
	for (size_t i = 0; i < src->nkeys; i++) {
		q_entry_add_key(dst, src->keys[i].fpr, src->keys[i].uid);
		dst->keys[i].policy = dup_or_null(src->keys[i].policy);
	}
}

void
q_entry_new(struct q_entry *e, enum q_dir dir, enum q_origin origin,
	    enum q_state state, int64_t due, const char *why,
	    const struct q_source *src)
{
	memset(e, 0, sizeof *e);
	e->dir = dir;
	e->origin = origin;
	e->state = state;
	e->next_attempt = q_state_pending(state) ? due : 0;
	e->last_error = dup_or_null(why);
	e->sender = dup_or_null(src->sender);
	e->message_id = dup_or_null(src->message_id);
	e->size = src->size;
	e->parent = dup_or_null(src->parent);
}

void
q_entry_new_reply(struct q_entry *e, enum q_state state, const char *to,
		  const char *why, const struct q_source *src)
{
	q_entry_new(e, Q_OUTBOUND, Q_ORIGIN_LOCAL, state, 0, why, src);
	e->kind = Q_KIND_REPLY;
	/* Not the request's size: the reply is composed at delivery, which
	 * records its size (bridge/reply.c); 0 until then. */
	e->size = 0;
	e->peer = dup_or_null(to);
}

void
q_entry_new_quarantine(struct q_entry *e, enum q_dir dir, enum q_origin origin,
		       const char *why, const struct q_source *src)
{
	q_entry_new(e, dir, origin, QS_QUARANTINED, 0, why, src);
}

void
q_entry_lease_new(struct q_entry *e, int64_t now, int secs)
{
	e->lease_until = now + secs;
	e->lease_pid = getpid();
}

int
q_entry_due(const struct q_entry *e, int64_t now)
{
	return indexed(e) && (e->next_attempt == 0 || e->next_attempt <= now);
}

/* lease_holder - q_entry_lease_holder of a lease until until by pid. */
static long
lease_holder(int64_t until, int64_t pid, int64_t now)
{
	if (until <= now)
		return 0;
	if (pid <= 0)
		return -1;	/* no pid recorded: trust lease_until */
	if (pid != getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return 0;
	return (long)pid;
}

long
q_entry_lease_holder(const struct q_entry *e, int64_t now)
{
	return lease_holder(e->lease_until, e->lease_pid, now);
}

int
q_entry_leased_elsewhere(const struct q_entry *e, int64_t now)
{
	long pid = q_entry_lease_holder(e, now);

	return pid != 0 && pid != (long)getpid();
}

int
q_due_leased_elsewhere(const struct q_due *d, int64_t now)
{
	long pid = lease_holder(d->lease_until, d->lease_pid, now);

	return pid != 0 && pid != (long)getpid();
}

/* unlease - drop whatever lease e carries. */
static void
unlease(struct q_entry *e)
{
	e->lease_until = 0;
	e->lease_pid = 0;
}

/* attempted - e (as this process leased it) after one more attempt that
 * ended in state (see queue_attempted). */
static void
attempted(struct q_entry *e, enum q_state state, const char *error,
	  const struct config *cfg, int64_t now)
{
	unlease(e);
	e->attempts++;
	free(e->last_error);
	e->last_error = error ? xstrdup(error) : NULL;
	e->state = state;
	e->next_attempt = 0;
	if (state != QS_DEFERRED)
		return;
	if (now - e->created >= cfg->max_queue_lifetime) {
		free(e->last_error);
		e->last_error = xasprintf("expired after %lld s in the queue: %s",
					  (long long)(now - e->created),
					  error ? error : "");
		e->state = QS_FAILED;
	} else {
		e->next_attempt = now + config_retry_delay(cfg, e->attempts);
	}
}

static void
encode_entry(const struct q_entry *e, struct buf *b)
{
	rec_begin(b);
	rec_put_u64(b, T_DIR, (uint64_t)e->dir);
	rec_put_u64(b, T_STATE, (uint64_t)e->state);
	rec_put_u64(b, T_ORIGIN, (uint64_t)e->origin);
	rec_put_u64(b, T_HELD_FROM, (uint64_t)e->held_from);
	rec_put_str(b, T_PEER, e->peer);
	rec_put_str(b, T_SENDER, e->sender);
	rec_put_str(b, T_MSGID, e->message_id);
	rec_put_str(b, T_PARENT, e->parent);
	rec_put_str(b, T_LAST_ERROR, e->last_error);
	rec_put_i64(b, T_CREATED, e->created);
	rec_put_i64(b, T_UPDATED, e->updated);
	rec_put_i64(b, T_NEXT, e->next_attempt);
	rec_put_i64(b, T_LEASE_UNTIL, e->lease_until);
	rec_put_i64(b, T_LEASE_PID, e->lease_pid);
	rec_put_u64(b, T_ATTEMPTS, e->attempts);
	rec_put_u64(b, T_SIZE, e->size);
	rec_put_u64(b, T_PAYLOAD_KIND, (uint64_t)e->payload_kind);
	rec_put_u64(b, T_PAYLOAD_LEN, e->payload_len);
	/* Absent for sync entries, so that their records stay as they were
	 * (and an older pksbridge reads them unchanged). */
	if (e->kind != Q_KIND_SYNC)
		rec_put_u64(b, T_KIND, (uint64_t)e->kind);
	if (e->waiting)
		rec_put_u64(b, T_WAITING, 1);
	rec_put_str(b, T_CHILD, e->child);
	for (size_t i = 0; i < e->nkeys; i++) {
		size_t flen = strlen(e->keys[i].fpr);
		size_t ulen = e->keys[i].uid ? strlen(e->keys[i].uid) : 0;
		unsigned char *v = xmalloc(flen + 1 + ulen);

		/* "FPR" or "FPR\0UID": a uid is never empty when present. */
		memcpy(v, e->keys[i].fpr, flen);
		v[flen] = '\0';
		if (ulen)
			memcpy(v + flen + 1, e->keys[i].uid, ulen);
		rec_put_bytes(b, T_KEY, v, ulen ? flen + 1 + ulen : flen);
		free(v);
		rec_put_str(b, T_KEY_POLICY, e->keys[i].policy);
	}
}

static int
decode_entry(const char *id, const void *data, size_t len, struct q_entry *e,
	     struct pb_err *err)
{
	struct rec_reader r;
	const unsigned char *v;
	uint32_t vlen;
	uint8_t tag;
	uint64_t u;
	int rc;

	memset(e, 0, sizeof *e);
	snprintf(e->id, sizeof e->id, "%s", id);
	if (rec_open(&r, data, len) != 0)
		goto corrupt;
	while ((rc = rec_next(&r, &tag, &v, &vlen)) == 1) {
		char **str = NULL;

		switch (tag) {
		case T_DIR:
			if (rec_get_u64(v, vlen, &u) || u > Q_OUTBOUND)
				goto corrupt;
			e->dir = (enum q_dir)u;
			break;
		case T_STATE:
		case T_HELD_FROM:
			if (rec_get_u64(v, vlen, &u) || u >= QS__COUNT)
				goto corrupt;
			if (tag == T_STATE)
				e->state = (enum q_state)u;
			else
				e->held_from = (enum q_state)u;
			break;
		case T_ORIGIN:
			if (rec_get_u64(v, vlen, &u) || u > Q_ORIGIN_LOCAL)
				goto corrupt;
			e->origin = (enum q_origin)u;
			break;
		case T_KIND:
			if (rec_get_u64(v, vlen, &u) || u > Q_KIND_REPLY)
				goto corrupt;
			e->kind = (enum q_kind)u;
			break;
		case T_WAITING:
			if (rec_get_u64(v, vlen, &u) || u > 1)
				goto corrupt;
			e->waiting = (int)u;
			break;
		case T_CHILD: str = &e->child; break;
		case T_PEER: str = &e->peer; break;
		case T_SENDER: str = &e->sender; break;
		case T_MSGID: str = &e->message_id; break;
		case T_PARENT: str = &e->parent; break;
		case T_LAST_ERROR: str = &e->last_error; break;
		case T_CREATED:
			if (rec_get_i64(v, vlen, &e->created))
				goto corrupt;
			break;
		case T_UPDATED:
			if (rec_get_i64(v, vlen, &e->updated))
				goto corrupt;
			break;
		case T_NEXT:
			if (rec_get_i64(v, vlen, &e->next_attempt))
				goto corrupt;
			break;
		case T_LEASE_UNTIL:
			if (rec_get_i64(v, vlen, &e->lease_until))
				goto corrupt;
			break;
		case T_LEASE_PID:
			if (rec_get_i64(v, vlen, &e->lease_pid))
				goto corrupt;
			break;
		case T_ATTEMPTS:
			if (rec_get_u64(v, vlen, &u) || u > UINT32_MAX)
				goto corrupt;
			e->attempts = (uint32_t)u;
			break;
		case T_SIZE:
			if (rec_get_u64(v, vlen, &e->size))
				goto corrupt;
			break;
		case T_PAYLOAD_KIND:
			if (rec_get_u64(v, vlen, &u) || u > Q_PAYLOAD_REQUEST)
				goto corrupt;
			e->payload_kind = (enum q_payload)u;
			break;
		case T_PAYLOAD_LEN:
			if (rec_get_u64(v, vlen, &e->payload_len))
				goto corrupt;
			break;
		case T_KEY: {
			const unsigned char *nul = memchr(v, '\0', vlen);
			size_t flen = nul ? (size_t)(nul - v) : vlen;
			char fpr[65];
			char *uid = NULL;

			if (flen == 0 || flen >= sizeof fpr)
				goto corrupt;
			memcpy(fpr, v, flen);
			fpr[flen] = '\0';
			if (nul) {
				uid = rec_get_str(nul + 1, (uint32_t)(vlen - flen - 1));
				if (!uid)
					goto corrupt;
			}
			q_entry_add_key(e, fpr, uid);
			free(uid);
			break;
		}
		case T_KEY_POLICY:
			/* Belongs to the key before it; without one it is
			 * damage, and a policy note is not worth the entry. */
			if (e->nkeys == 0 || e->keys[e->nkeys - 1].policy)
				break;
			e->keys[e->nkeys - 1].policy = rec_get_str(v, vlen);
			if (!e->keys[e->nkeys - 1].policy)
				goto corrupt;
			break;
		default:
			break;	/* a field from a newer version */
		}
		if (str) {
			free(*str);
			*str = rec_get_str(v, vlen);
			if (!*str)
				goto corrupt;
		}
	}
	if (rc < 0)
		goto corrupt;
	return 0;
corrupt:
	q_entry_free(e);
	snprintf(e->id, sizeof e->id, "%s", id);
	return pb_err_set(err, PB_EDATA, "queue entry %s: corrupt record", id);
}

static void
due_key(const struct q_entry *e, unsigned char out[8 + QID_LEN])
{
	be64_put(out, (uint64_t)due_time(e));
	memcpy(out + 8, e->id, QID_LEN);
}

/* due_value - what the due index keeps of e (struct q_due). */
static void
due_value(const struct q_entry *e, struct buf *b)
{
	rec_begin(b);
	rec_put_u64(b, D_DIR, (uint64_t)e->dir);
	rec_put_u64(b, D_KIND, (uint64_t)e->kind);
	rec_put_str(b, D_PEER, e->peer);
	rec_put_u64(b, D_PAYLOAD_LEN, e->payload_len);
	rec_put_i64(b, D_LEASE_UNTIL, e->lease_until);
	rec_put_i64(b, D_LEASE_PID, e->lease_pid);
}

static int
due_put(struct spool *sp, DB_TXN *txn, const struct q_entry *e,
	struct pb_err *err)
{
	unsigned char k[8 + QID_LEN];
	struct buf v = BUF_INIT;
	DBT key, data;
	int ret;

	due_key(e, k);
	due_value(e, &v);
	memset(&key, 0, sizeof key);
	memset(&data, 0, sizeof data);
	key.data = k;
	key.size = sizeof k;
	data.data = v.data;
	data.size = (u_int32_t)v.len;
	ret = sp->due->put(sp->due, txn, &key, &data, 0);
	buf_free(&v);
	if (ret != 0)
		return spool_dberr(sp, ret, err, "indexing %s", e->id);
	return 0;
}

static int
due_del(struct spool *sp, DB_TXN *txn, const struct q_entry *e,
	struct pb_err *err)
{
	unsigned char k[8 + QID_LEN];
	DBT key;
	int ret;

	due_key(e, k);
	memset(&key, 0, sizeof key);
	key.data = k;
	key.size = sizeof k;
	ret = sp->due->del(sp->due, txn, &key, 0);
	if (ret != 0 && ret != DB_NOTFOUND)
		return spool_dberr(sp, ret, err, "unindexing %s", e->id);
	return 0;
}

/* The per-peer index: pending outbound sync entries only (it is how a
 * peer's keys are coalesced into one mail; replies never are). */
static int
peer_indexed(const struct q_entry *e)
{
	return e->dir == Q_OUTBOUND && e->kind == Q_KIND_SYNC && e->peer &&
	       q_state_pending(e->state);
}

static size_t
peer_key(const struct q_entry *e, unsigned char **k_r)
{
	size_t plen = strlen(e->peer);
	unsigned char *k = xmalloc(plen + 1 + QID_LEN);

	memcpy(k, e->peer, plen);
	k[plen] = '\0';
	memcpy(k + plen + 1, e->id, QID_LEN);
	*k_r = k;
	return plen + 1 + QID_LEN;
}

static int
peer_put(struct spool *sp, DB_TXN *txn, const struct q_entry *e,
	 struct pb_err *err)
{
	unsigned char *k;
	DBT key, data;
	int ret;

	memset(&key, 0, sizeof key);
	memset(&data, 0, sizeof data);
	key.size = (u_int32_t)peer_key(e, &k);
	key.data = k;
	data.data = (void *)"";
	ret = sp->peers->put(sp->peers, txn, &key, &data, 0);
	free(k);
	if (ret != 0)
		return spool_dberr(sp, ret, err, "indexing %s by peer", e->id);
	return 0;
}

static int
peer_del(struct spool *sp, DB_TXN *txn, const struct q_entry *e,
	 struct pb_err *err)
{
	unsigned char *k;
	DBT key;
	int ret;

	memset(&key, 0, sizeof key);
	key.size = (u_int32_t)peer_key(e, &k);
	key.data = k;
	ret = sp->peers->del(sp->peers, txn, &key, 0);
	free(k);
	if (ret != 0 && ret != DB_NOTFOUND)
		return spool_dberr(sp, ret, err, "unindexing %s by peer", e->id);
	return 0;
}

static void
new_id(char *id, uint64_t bump)
{
	struct timeval tv;
	uint64_t us;

	gettimeofday(&tv, NULL);
	us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec + bump;
	snprintf(id, QID_LEN + 1, "%014llX", (unsigned long long)us);
}

int
queue_insert(struct spool *sp, DB_TXN *txn, struct q_entry *e,
	     const void *payload, size_t payload_len, struct pb_err *err)
{
	struct buf rec = BUF_INIT;
	DBT key, data;
	int ret = 0;

	if (e->created == 0)
		e->created = spool_now();
	e->updated = spool_now();
	e->payload_len = payload_len;
	if (payload_len == 0)
		e->payload_kind = Q_PAYLOAD_NONE;
	/* Ids are the creation time in microseconds: unique with
	 * DB_NOOVERWRITE, bumped on the rare collision between processes,
	 * and sorted by age in the btree for free. */
	for (uint64_t bump = 0; bump < 1000; bump++) {
		new_id(e->id, bump);
		encode_entry(e, &rec);
		memset(&key, 0, sizeof key);
		memset(&data, 0, sizeof data);
		key.data = e->id;
		key.size = QID_LEN;
		data.data = rec.data;
		data.size = (u_int32_t)rec.len;
		ret = sp->queue->put(sp->queue, txn, &key, &data, DB_NOOVERWRITE);
		if (ret != DB_KEYEXIST)
			break;
	}
	buf_free(&rec);
	if (ret != 0)
		return spool_dberr(sp, ret, err, "queueing entry");
	if (payload_len) {
		memset(&data, 0, sizeof data);
		data.data = (void *)payload;
		data.size = (u_int32_t)payload_len;
		ret = sp->payload->put(sp->payload, txn, &key, &data, 0);
		if (ret != 0)
			return spool_dberr(sp, ret, err, "storing payload of %s",
					   e->id);
	}
	if (indexed(e) && due_put(sp, txn, e, err) != 0)
		return -1;
	if (peer_indexed(e) && peer_put(sp, txn, e, err) != 0)
		return -1;
	return 0;
}

static int
adopt_rule(struct q_entry *e, void *arg, char *why)
{
	if (e->child || !q_state_pending(e->state)) {
		snprintf(why, Q_WHY_LEN, "%s", e->child ? "has a child already" :
			 "finished already");
		return 1;
	}
	e->child = xstrdup(arg);
	return 0;
}

static int change(struct spool *sp, DB_TXN *txn, const char *id, rule_fn rule,
		  void *arg, struct q_entry *e_r, struct q_change *ch,
		  char why[Q_WHY_LEN], struct pb_err *err);

int
queue_insert_child(struct spool *sp, DB_TXN *txn, const char *parent_id,
		   struct q_entry *child, const void *payload,
		   size_t payload_len, struct pb_err *err)
{
	char why[Q_WHY_LEN];
	int r;

	child->waiting = 1;
	free(child->parent);
	child->parent = xstrdup(parent_id);
	if (queue_insert(sp, txn, child, payload, payload_len, err) != 0)
		return -1;
	r = change(sp, txn, parent_id, adopt_rule, child->id, NULL, NULL, why,
		   err);
	if (r > 0)
		return pb_err_set(err, PB_EDATA, "%s: %s", parent_id, why);
	return r;
}

struct new_payload {
	const void *data;
	size_t len;
	DB_TXN *txn;
	struct spool *sp;
	struct pb_err *err;
};

static int
payload_rule(struct q_entry *e, void *arg, char *why)
{
	struct new_payload *p = arg;
	DBT key, data;
	int ret;

	(void)why;
	memset(&key, 0, sizeof key);
	memset(&data, 0, sizeof data);
	key.data = e->id;
	key.size = QID_LEN;
	data.data = (void *)p->data;
	data.size = (u_int32_t)p->len;
	ret = p->sp->payload->put(p->sp->payload, p->txn, &key, &data, 0);
	if (ret != 0)
		return spool_dberr(p->sp, ret, p->err, "storing payload of %s",
				   e->id);
	e->payload_len = p->len;
	return 0;
}

int
queue_replace_payload(struct spool *sp, DB_TXN *txn, const char *id,
		      const void *payload, size_t len, struct pb_err *err)
{
	struct new_payload p = { payload, len, txn, sp, err };
	char why[Q_WHY_LEN];

	return change(sp, txn, id, payload_rule, &p, NULL, NULL, why, err);
}

static int
valid_id(const char *id)
{
	if (strlen(id) != QID_LEN)
		return 0;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F')))
			return 0;
	return 1;
}

int
queue_get(struct spool *sp, DB_TXN *txn, const char *id, int for_update,
	  struct q_entry *e, struct pb_err *err)
{
	DBT key, data;
	int ret;

	memset(e, 0, sizeof *e);
	if (!valid_id(id))
		return pb_err_set(err, PB_ENOTFOUND, "%s: no such queue entry "
				  "(ids are %d hex digits)", id, QID_LEN);
	memset(&key, 0, sizeof key);
	memset(&data, 0, sizeof data);
	key.data = (void *)id;
	key.size = QID_LEN;
	ret = sp->queue->get(sp->queue, txn, &key, &data,
			     (for_update && txn ? DB_RMW : 0) | spool_rflags(txn));
	if (ret == DB_NOTFOUND)
		return pb_err_set(err, PB_ENOTFOUND, "%s: no such queue entry", id);
	if (ret != 0)
		return spool_dberr(sp, ret, err, "reading %s", id);
	return decode_entry(id, data.data, data.size, e, err);
}

int
queue_get_payload(struct spool *sp, DB_TXN *txn, const char *id,
		  struct buf *out, struct pb_err *err)
{
	DBT key, data;
	int ret;

	memset(&key, 0, sizeof key);
	memset(&data, 0, sizeof data);
	key.data = (void *)id;
	key.size = (u_int32_t)strlen(id);
	data.flags = DB_DBT_MALLOC;
	ret = sp->payload->get(sp->payload, txn, &key, &data, spool_rflags(txn));
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return spool_dberr(sp, ret, err, "reading payload of %s", id);
	buf_append(out, data.data, data.size);
	free(data.data);
	return 0;
}

/* due_changed - e's due record differs from old's (its time, or what it
 * keeps: a lease taken or given back). */
static int
due_changed(const struct q_entry *old, const struct q_entry *e)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	int changed;

	if (due_time(old) != due_time(e))
		return 1;
	due_value(old, &a);
	due_value(e, &b);
	changed = a.len != b.len || memcmp(a.data, b.data, a.len) != 0;
	buf_free(&a);
	buf_free(&b);
	return changed;
}

int
queue_update(struct spool *sp, DB_TXN *txn, const struct q_entry *old,
	     const struct q_entry *e, struct pb_err *err)
{
	struct buf rec = BUF_INIT;
	struct q_entry copy = *e;
	DBT key, data;
	int ret;

	copy.updated = spool_now();
	if (indexed(old) && (!indexed(&copy) || due_time(old) != due_time(&copy))) {
		if (due_del(sp, txn, old, err) != 0)
			return -1;
	}
	if (indexed(&copy) && (!indexed(old) || due_changed(old, &copy))) {
		if (due_put(sp, txn, &copy, err) != 0)
			return -1;
	}
	if (peer_indexed(old) && !peer_indexed(&copy) && peer_del(sp, txn, old, err) != 0)
		return -1;
	if (peer_indexed(&copy) && !peer_indexed(old) && peer_put(sp, txn, &copy, err) != 0)
		return -1;
	encode_entry(&copy, &rec);
	memset(&key, 0, sizeof key);
	memset(&data, 0, sizeof data);
	key.data = (void *)e->id;
	key.size = QID_LEN;
	data.data = rec.data;
	data.size = (u_int32_t)rec.len;
	ret = sp->queue->put(sp->queue, txn, &key, &data, 0);
	buf_free(&rec);
	if (ret != 0)
		return spool_dberr(sp, ret, err, "updating %s", e->id);
	return 0;
}

/* delete_one - remove e (as read for update) and its payload. */
static int
delete_one(struct spool *sp, DB_TXN *txn, const struct q_entry *e,
	   struct pb_err *err)
{
	DBT key;
	int ret;

	if ((indexed(e) && due_del(sp, txn, e, err) != 0) ||
	    (peer_indexed(e) && peer_del(sp, txn, e, err) != 0))
		return -1;
	memset(&key, 0, sizeof key);
	key.data = (void *)e->id;
	key.size = QID_LEN;
	ret = sp->payload->del(sp->payload, txn, &key, 0);
	if (ret != 0 && ret != DB_NOTFOUND)
		return spool_dberr(sp, ret, err, "deleting payload of %s", e->id);
	ret = sp->queue->del(sp->queue, txn, &key, 0);
	if (ret != 0)
		return spool_dberr(sp, ret, err, "deleting %s", e->id);
	return 0;
}

int
queue_delete(struct spool *sp, DB_TXN *txn, const char *id, struct pb_err *err)
{
	struct q_entry e, child;
	int r;

	if (queue_get(sp, txn, id, 1, &e, err) != 0)
		return -1;
	r = delete_one(sp, txn, &e, err);
	if (r == 0 && e.child) {
		r = queue_get(sp, txn, e.child, 1, &child, err);
		if (r == 0 && child.waiting)
			r = delete_one(sp, txn, &child, err);
		else if (r != 0 && err->status == PB_ENOTFOUND)
			r = 0;	/* deleted before its parent */
		q_entry_free(&child);
	}
	q_entry_free(&e);
	return r;
}

int
queue_scan(struct spool *sp, DB_TXN *txn, queue_cb cb, void *ctx,
	   struct pb_err *err)
{
	DBC *cur;
	DBT key, data;
	int ret, stop = 0;

	if ((ret = sp->queue->cursor(sp->queue, txn, &cur, spool_cflags(txn))) != 0)
		return spool_dberr(sp, ret, err, "opening queue cursor");
	memset(&key, 0, sizeof key);
	memset(&data, 0, sizeof data);
	while (!stop && (ret = cur->get(cur, &key, &data, DB_NEXT)) == 0) {
		char id[QID_LEN + 1];
		struct q_entry e;

		if (key.size != QID_LEN)
			continue;
		memcpy(id, key.data, QID_LEN);
		id[QID_LEN] = '\0';
		if (decode_entry(id, data.data, data.size, &e, err) != 0) {
			/* One corrupt record must not hide the others. */
			log_warning(id, "%s", err->msg);
			continue;
		}
		stop = cb(ctx, &e);
		q_entry_free(&e);
	}
	cur->close(cur);
	if (ret != 0 && ret != DB_NOTFOUND && !stop)
		return spool_dberr(sp, ret, err, "scanning queue");
	return 0;
}

/* due_decode - a due record's value into d (id set); 0, or -1 when it
 * is not one this version wrote (then the entry itself says). */
static int
due_decode(const void *data, size_t len, struct q_due *d)
{
	struct rec_reader r;
	const unsigned char *v;
	uint32_t vlen;
	uint8_t tag;
	uint64_t u;
	int rc, seen = 0;

	if (len == 0 || rec_open(&r, data, len) != 0)
		return -1;
	while ((rc = rec_next(&r, &tag, &v, &vlen)) == 1) {
		if (tag == D_DIR && rec_get_u64(v, vlen, &u) == 0 && u <= Q_OUTBOUND)
			d->dir = (enum q_dir)u, seen++;
		else if (tag == D_KIND && rec_get_u64(v, vlen, &u) == 0 &&
			 u <= Q_KIND_REPLY)
			d->kind = (enum q_kind)u, seen++;
		else if (tag == D_PEER && !d->peer)
			d->peer = rec_get_str(v, vlen);
		else if (tag == D_PAYLOAD_LEN)
			rec_get_u64(v, vlen, &d->payload_len);
		else if (tag == D_LEASE_UNTIL)
			rec_get_i64(v, vlen, &d->lease_until);
		else if (tag == D_LEASE_PID)
			rec_get_i64(v, vlen, &d->lease_pid);
	}
	if (rc < 0 || seen != 2) {
		free(d->peer);
		d->peer = NULL;
		return -1;
	}
	return 0;
}

/* due_from_entry - d from the entry itself: for an index record written
 * before the index kept anything but the id (an older pksbridge's). */
static int
due_from_entry(struct spool *sp, DB_TXN *txn, struct q_due *d)
{
	struct q_entry e;
	struct pb_err err;

	if (queue_get(sp, txn, d->id, 0, &e, &err) != 0)
		return -1;
	d->dir = e.dir;
	d->kind = e.kind;
	d->peer = e.peer ? xstrdup(e.peer) : NULL;
	d->payload_len = e.payload_len;
	d->lease_until = e.lease_until;
	d->lease_pid = e.lease_pid;
	q_entry_free(&e);
	return 0;
}

int
queue_due(struct spool *sp, DB_TXN *txn, int64_t now, size_t max,
	  struct q_due **due_r, size_t *n_r, struct pb_err *err)
{
	struct q_due *due = NULL;
	size_t n = 0;
	DBC *cur;
	DBT key, data;
	int ret;

	*due_r = NULL;
	*n_r = 0;
	if ((ret = sp->due->cursor(sp->due, txn, &cur, spool_cflags(txn))) != 0)
		return spool_dberr(sp, ret, err, "opening due cursor");
	memset(&key, 0, sizeof key);
	memset(&data, 0, sizeof data);
	while (n < max && (ret = cur->get(cur, &key, &data, DB_NEXT)) == 0) {
		struct q_due *d;

		if (key.size != 8 + QID_LEN)
			continue;
		if ((int64_t)be64_get(key.data) > now)
			break;
		due = xreallocarray(due, n + 1, sizeof *due);
		d = &due[n];
		memset(d, 0, sizeof *d);
		memcpy(d->id, (char *)key.data + 8, QID_LEN);
		d->id[QID_LEN] = '\0';
		if (due_decode(data.data, data.size, d) == 0 ||
		    due_from_entry(sp, txn, d) == 0)
			n++;
	}
	cur->close(cur);
	if (ret != 0 && ret != DB_NOTFOUND) {
		q_due_free(due, n);
		return spool_dberr(sp, ret, err, "scanning due index");
	}
	*due_r = due;
	*n_r = n;
	return 0;
}

void
q_due_free(struct q_due *due, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(due[i].peer);
	free(due);
}

int
queue_peer_ids(struct spool *sp, DB_TXN *txn, const char *peer, size_t max,
	       char (**ids_r)[QID_LEN + 1], size_t *n_r, struct pb_err *err)
{
	char (*ids)[QID_LEN + 1] = NULL;
	size_t n = 0, plen = strlen(peer);
	DBC *cur;
	DBT key, data;
	int ret;

	*ids_r = NULL;
	*n_r = 0;
	if ((ret = sp->peers->cursor(sp->peers, txn, &cur, spool_cflags(txn))) != 0)
		return spool_dberr(sp, ret, err, "opening peer cursor");
	memset(&key, 0, sizeof key);
	memset(&data, 0, sizeof data);
	/* Keys are "peer NUL id": DB_SET_RANGE on "peer NUL" lands on the
	 * first of this peer's entries, in id (= age) order. */
	key.data = (void *)peer;
	key.size = (u_int32_t)plen + 1;
	for (ret = cur->get(cur, &key, &data, DB_SET_RANGE); ret == 0 && n < max;
	     ret = cur->get(cur, &key, &data, DB_NEXT)) {
		if (key.size != plen + 1 + QID_LEN ||
		    memcmp(key.data, peer, plen + 1) != 0)
			break;
		ids = xreallocarray(ids, n + 1, sizeof *ids);
		memcpy(ids[n], (char *)key.data + plen + 1, QID_LEN);
		ids[n][QID_LEN] = '\0';
		n++;
	}
	cur->close(cur);
	if (ret != 0 && ret != DB_NOTFOUND && n < max) {
		free(ids);
		return spool_dberr(sp, ret, err, "scanning peer index");
	}
	*ids_r = ids;
	*n_r = n;
	return 0;
}

int
queue_next_due(struct spool *sp, DB_TXN *txn, int64_t *when_r,
	       struct pb_err *err)
{
	DBC *cur;
	DBT key, data;
	int ret;

	*when_r = 0;
	if ((ret = sp->due->cursor(sp->due, txn, &cur, spool_cflags(txn))) != 0)
		return spool_dberr(sp, ret, err, "opening due cursor");
	memset(&key, 0, sizeof key);
	memset(&data, 0, sizeof data);
	ret = cur->get(cur, &key, &data, DB_FIRST);
	if (ret == 0 && key.size == 8 + QID_LEN)
		*when_r = (int64_t)be64_get(key.data);
	cur->close(cur);
	if (ret != 0 && ret != DB_NOTFOUND)
		return spool_dberr(sp, ret, err, "reading due index");
	return 0;
}

/*
 * Transitions.  change() is the frame every one shares: read the entry
 * for update, let the rule decide (0 to apply its change to the copy, 1
 * to refuse with why), write the copy back.
 */

static int
change(struct spool *sp, DB_TXN *txn, const char *id, rule_fn rule, void *arg,
       struct q_entry *e_r, struct q_change *ch, char why[Q_WHY_LEN],
       struct pb_err *err)
{
	struct q_entry old, e;
	int r;

	why[0] = '\0';
	if (queue_get(sp, txn, id, 1, &old, err) != 0)
		return -1;
	q_entry_copy(&e, &old);
	if (ch)
		ch->from = ch->to = old.state;
	r = rule(&e, arg, why);
	if (r == 0)
		r = queue_update(sp, txn, &old, &e, err);
	if (r == 0 && ch)
		ch->to = e.state;
	q_entry_free(&old);
	if (r == 0 && e_r)
		*e_r = e;
	else
		q_entry_free(&e);
	return r;
}

/* being_delivered - refuse (1) if a live process other than this one
 * delivers e now. */
static int
being_delivered(const struct q_entry *e, int64_t now, char *why)
{
	long pid = q_entry_lease_holder(e, now);

	if (pid == 0 || pid == (long)getpid())
		return 0;
	if (pid < 0)
		snprintf(why, Q_WHY_LEN, "being delivered (leased until %lld)",
			 (long long)e->lease_until);
	else
		snprintf(why, Q_WHY_LEN, "being delivered by pid %ld", pid);
	return 1;
}

static int
lease_rule(struct q_entry *e, void *arg, char *why)
{
	const struct q_lease_want *w = arg;

	if (e->dir != w->dir || (e->state != QS_READY && e->state != QS_DEFERRED)) {
		snprintf(why, Q_WHY_LEN, "%s, not ready or deferred",
			 q_state_name(e->state));
		return 1;
	}
	if (!q_entry_due(e, w->now) &&
	    !((w->flags & Q_LEASE_READY_EARLY) && e->state == QS_READY)) {
		snprintf(why, Q_WHY_LEN, "not due before %lld",
			 (long long)e->next_attempt);
		return 1;
	}
	if (being_delivered(e, w->now, why))
		return 1;
	if (e->nkeys > w->max_keys || e->payload_len > w->max_bytes) {
		snprintf(why, Q_WHY_LEN, "too large for this batch");
		return 1;
	}
	q_entry_lease_new(e, w->now, w->secs);
	return 0;
}

int
queue_lease(struct spool *sp, DB_TXN *txn, const char *id,
	    const struct q_lease_want *want, struct q_entry *e_r,
	    char why[Q_WHY_LEN], struct pb_err *err)
{
	return change(sp, txn, id, lease_rule, (void *)want, e_r, NULL, why, err);
}

/* ours - refuse (1) unless this process holds e's lease. */
static int
ours(const struct q_entry *e, char *why)
{
	if (e->lease_pid == getpid())
		return 0;
	snprintf(why, Q_WHY_LEN, "no longer leased to this process");
	return 1;
}

static int
unlease_rule(struct q_entry *e, void *arg, char *why)
{
	(void)arg;
	if (ours(e, why))
		return 1;
	unlease(e);
	return 0;
}

int
queue_unlease(struct spool *sp, DB_TXN *txn, const char *id,
	      char why[Q_WHY_LEN], struct pb_err *err)
{
	return change(sp, txn, id, unlease_rule, NULL, NULL, NULL, why, err);
}

struct attempt {
	enum q_state state;
	const char *error;
	const struct config *cfg;
	int64_t now;
};

static int
attempted_rule(struct q_entry *e, void *arg, char *why)
{
	const struct attempt *a = arg;

	if (ours(e, why))
		return 1;
	if (e->state != QS_READY && e->state != QS_DEFERRED) {
		/* Held (or made final) by the operator during delivery:
		 * theirs wins. */
		snprintf(why, Q_WHY_LEN, "%s by the operator during delivery",
			 q_state_name(e->state));
		return 1;
	}
	attempted(e, a->state, a->error, a->cfg, a->now);
	return 0;
}

/* policy_rule - the policy objects of struct note onto e's keys. */
struct note {
	const struct q_key_policy *kp;
	size_t n;
};

static int
policy_rule(struct q_entry *e, void *arg, char *why)
{
	const struct note *nt = arg;

	(void)why;
	for (size_t i = 0; i < nt->n; i++) {
		for (size_t k = 0; k < e->nkeys; k++) {
			if (e->keys[k].policy || !nt->kp[i].json ||
			    strcmp(e->keys[k].fpr, nt->kp[i].fpr) != 0)
				continue;
			e->keys[k].policy = xstrdup(nt->kp[i].json);
			break;
		}
	}
	return 0;
}

int
queue_note_policy(struct spool *sp, DB_TXN *txn, const char *id,
		  const struct q_key_policy *kp, size_t n, struct pb_err *err)
{
	struct note nt = { kp, n };
	char why[Q_WHY_LEN];

	return change(sp, txn, id, policy_rule, &nt, NULL, NULL, why, err);
}

/* wake_rule - the parent of a waiting reply finished: it is due. */
static int
wake_rule(struct q_entry *e, void *arg, char *why)
{
	int64_t now = *(const int64_t *)arg;

	if (!e->waiting) {
		snprintf(why, Q_WHY_LEN, "not waiting");
		return 1;
	}
	e->waiting = 0;
	if (e->next_attempt < now)
		e->next_attempt = now;
	return 0;
}

int
queue_attempted(struct spool *sp, DB_TXN *txn, const char *id,
		enum q_state state, const char *error, const struct config *cfg,
		int64_t now, struct q_entry *e_r, char why[Q_WHY_LEN],
		struct pb_err *err)
{
	struct attempt a = { state, error, cfg, now };
	struct q_entry e;
	char cwhy[Q_WHY_LEN];
	int r;

	r = change(sp, txn, id, attempted_rule, &a, &e, NULL, why, err);
	if (r != 0)
		return r;
	if (e.child && !q_state_pending(e.state) &&
	    change(sp, txn, e.child, wake_rule, &now, NULL, NULL, cwhy, err) < 0 &&
	    err->status != PB_ENOTFOUND) {
		/* (A child the operator deleted has nobody to wake.) */
		q_entry_free(&e);
		return -1;
	}
	if (e_r)
		*e_r = e;
	else
		q_entry_free(&e);
	return 0;
}

/* waits - refuse (1) a reply that waits for its parent: it goes out
 * once the parent's keys are delivered, whatever the operator asks. */
static int
waits(const struct q_entry *e, char *why)
{
	if (!e->waiting)
		return 0;
	snprintf(why, Q_WHY_LEN, "waits for %s to be delivered", e->parent ?
		 e->parent : "its parent");
	return 1;
}

static int
retry_rule(struct q_entry *e, void *arg, char *why)
{
	int64_t now = *(const int64_t *)arg;

	if (e->state == QS_HELD) {
		snprintf(why, Q_WHY_LEN, "held (release it first)");
		return 1;
	}
	if (e->state != QS_READY && e->state != QS_DEFERRED &&
	    e->state != QS_FAILED) {
		snprintf(why, Q_WHY_LEN, "%s entries are not retried",
			 q_state_name(e->state));
		return 1;
	}
	if (waits(e, why))
		return 1;
	/* Clearing the lease of a delivery in flight would let a second
	 * process deliver the entry beside it. */
	if (being_delivered(e, now, why))
		return 1;
	e->state = QS_READY;
	e->next_attempt = now;
	unlease(e);	/* a dead process's, if any */
	return 0;
}

int
queue_retry(struct spool *sp, DB_TXN *txn, const char *id, int64_t now,
	    struct q_change *ch, char why[Q_WHY_LEN], struct pb_err *err)
{
	return change(sp, txn, id, retry_rule, &now, NULL, ch, why, err);
}

static int
hold_rule(struct q_entry *e, void *arg, char *why)
{
	(void)arg;
	if (e->state != QS_READY && e->state != QS_DEFERRED) {
		snprintf(why, Q_WHY_LEN, "%s, not pending", q_state_name(e->state));
		return 1;
	}
	e->held_from = e->state;
	e->state = QS_HELD;
	return 0;
}

int
queue_hold(struct spool *sp, DB_TXN *txn, const char *id, int64_t now,
	   struct q_change *ch, char why[Q_WHY_LEN], struct pb_err *err)
{
	return change(sp, txn, id, hold_rule, &now, NULL, ch, why, err);
}

static int
release_rule(struct q_entry *e, void *arg, char *why)
{
	int64_t now = *(const int64_t *)arg;

	if (e->state != QS_HELD) {
		snprintf(why, Q_WHY_LEN, "not held");
		return 1;
	}
	e->state = e->held_from == QS_DEFERRED ? QS_DEFERRED : QS_READY;
	if (e->next_attempt < now)
		e->next_attempt = now;
	return 0;
}

int
queue_release(struct spool *sp, DB_TXN *txn, const char *id, int64_t now,
	      struct q_change *ch, char why[Q_WHY_LEN], struct pb_err *err)
{
	return change(sp, txn, id, release_rule, &now, NULL, ch, why, err);
}

static int
flush_rule(struct q_entry *e, void *arg, char *why)
{
	int64_t now = *(const int64_t *)arg;

	if (waits(e, why))
		return 1;
	/* Deferred only, as "queue flush --help" says (postqueue -f): a
	 * ready entry waiting is inside its batch window, and flushing it
	 * would split the batch its peer is about to get. */
	if (e->state != QS_DEFERRED || e->next_attempt <= now) {
		snprintf(why, Q_WHY_LEN, e->state == QS_READY ?
			 "ready: waits for its batch window" :
			 "not waiting for its time");
		return 1;
	}
	/* One being delivered goes out right now anyway. */
	if (being_delivered(e, now, why))
		return 1;
	e->next_attempt = now;
	return 0;
}

int
queue_flush(struct spool *sp, DB_TXN *txn, const char *id, int64_t now,
	    struct q_change *ch, char why[Q_WHY_LEN], struct pb_err *err)
{
	return change(sp, txn, id, flush_rule, &now, NULL, ch, why, err);
}
