/*
 * test_queue.c - the spool environment and queue entries: round trips,
 * the due index, concurrency between processes, permissions, corruption.
 */
#include "config/config.h"
#include "lib/unit.h"
#include "spool/queue.h"
#include "spool/spool_db.h"
#include "spool/record.h"
#include "spool/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *
fresh_dir(const char *name, mode_t mode)
{
	static char path[512];

	snprintf(path, sizeof path, "%s/%s", unit_tmpdir(), name);
	mkdir(path, mode);
	chmod(path, mode);
	return path;
}

struct insert_ctx {
	struct q_entry *e;
	const char *payload;
};

static int
do_insert(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct insert_ctx *c = vctx;

	return queue_insert(sp, txn, c->e, c->payload,
			    c->payload ? strlen(c->payload) : 0, err);
}

static int
insert(struct spool *sp, struct q_entry *e, const char *payload,
       struct pb_err *err)
{
	struct insert_ctx c = { e, payload };

	return spool_txn(sp, SPOOL_SYNC, do_insert, &c, err);
}

static void
test_roundtrip(void)
{
	struct spool *sp;
	struct pb_err err;
	struct q_entry e = { 0 }, got;
	struct buf payload = BUF_INIT;

	CHECK_OK(spool_open(fresh_dir("rt", 0700), &sp, &err), &err);
	e.dir = Q_OUTBOUND;
	e.state = QS_READY;
	e.origin = Q_ORIGIN_LOCAL;
	e.peer = strdup("pgp-public-keys@peer.example");
	e.message_id = strdup("abc@example");
	e.size = 1234;
	e.payload_kind = Q_PAYLOAD_RAW;
	q_entry_add_key(&e, "FE144C003EC2F056976C38BA3268C6A75E3A732B",
			"Alice <alice@example.org>");
	q_entry_add_key(&e, "CB5E676296A30F057AC88C6E45398AB92CB795F3", NULL);
	CHECK_OK(insert(sp, &e, "payload bytes", &err), &err);
	CHECK_INT(strlen(e.id), QID_LEN);

	CHECK_OK(queue_get(sp, NULL, e.id, 0, &got, &err), &err);
	CHECK_STR(got.id, e.id);
	CHECK_INT(got.dir, Q_OUTBOUND);
	CHECK_INT(got.state, QS_READY);
	CHECK_INT(got.origin, Q_ORIGIN_LOCAL);
	CHECK_STR(got.peer, "pgp-public-keys@peer.example");
	CHECK_STR(got.message_id, "abc@example");
	CHECK(got.sender == NULL && got.last_error == NULL);
	CHECK_INT(got.size, 1234);
	CHECK_INT(got.payload_len, 13);
	CHECK_INT(got.nkeys, 2);
	CHECK_STR(got.keys[0].uid, "Alice <alice@example.org>");
	CHECK(got.keys[1].uid == NULL);
	CHECK_STR(got.keys[1].fpr, "CB5E676296A30F057AC88C6E45398AB92CB795F3");
	CHECK_OK(queue_get_payload(sp, NULL, e.id, &payload, &err), &err);
	CHECK_STR(buf_str(&payload), "payload bytes");
	q_entry_free(&got);

	CHECK(queue_get(sp, NULL, "00000000000000", 0, &got, &err) == -1);
	CHECK_INT(err.status, PB_ENOTFOUND);
	CHECK(queue_get(sp, NULL, "../etc", 0, &got, &err) == -1);
	CHECK_INT(err.status, PB_ENOTFOUND);
	q_entry_free(&e);
	buf_free(&payload);
	spool_close(sp);
}

/* Replies: their kind survives the round trip, an entry without a kind
 * reads as sync, and replies stay out of the peer index that coalesces
 * sync mail. */
static void
test_reply_entries(void)
{
	struct q_source src = { "alice@client.test", "req@client.test", 321, NULL };
	struct spool *sp;
	struct pb_err err;
	struct q_entry r, sup, add, sync, got;
	char (*ids)[QID_LEN + 1];
	size_t n;

	CHECK_OK(spool_open(fresh_dir("replies", 0700), &sp, &err), &err);
	q_entry_new_reply(&r, QS_READY, "alice@client.test", NULL, &src);
	r.payload_kind = Q_PAYLOAD_REQUEST;
	CHECK_INT(r.dir, Q_OUTBOUND);
	CHECK_INT(r.kind, Q_KIND_REPLY);
	CHECK_OK(insert(sp, &r, "the request", &err), &err);
	q_entry_new_reply(&sup, QS_SUPPRESSED, NULL, "no reply: the envelope "
			  "sender is null (<>)", &src);
	CHECK_OK(insert(sp, &sup, NULL, &err), &err);
	q_entry_new(&add, Q_INBOUND, Q_ORIGIN_LOCAL, QS_READY, 0, NULL, &src);
	CHECK_OK(insert(sp, &add, "keys", &err), &err);
	/* A sync entry for the same address (never the case in practice:
	 * requesters that are peers get no reply). */
	q_entry_new(&sync, Q_OUTBOUND, Q_ORIGIN_LOCAL, QS_READY, 0, NULL, &src);
	sync.peer = strdup("alice@client.test");
	CHECK_OK(insert(sp, &sync, "keys", &err), &err);

	CHECK_OK(queue_get(sp, NULL, r.id, 0, &got, &err), &err);
	CHECK_INT(got.kind, Q_KIND_REPLY);
	CHECK_INT(got.payload_kind, Q_PAYLOAD_REQUEST);
	CHECK_STR(got.peer, "alice@client.test");
	CHECK_STR(q_kind_name(got.kind), "reply");
	q_entry_free(&got);
	CHECK_OK(queue_get(sp, NULL, sup.id, 0, &got, &err), &err);
	CHECK_INT(got.state, QS_SUPPRESSED);
	CHECK(got.peer == NULL);
	CHECK_STR(got.last_error, "no reply: the envelope sender is null (<>)");
	q_entry_free(&got);
	CHECK_OK(queue_get(sp, NULL, add.id, 0, &got, &err), &err);
	CHECK_INT(got.kind, Q_KIND_SYNC);
	CHECK_STR(q_kind_name(got.kind), "sync");
	q_entry_free(&got);

	CHECK_OK(queue_peer_ids(sp, NULL, "alice@client.test", 10, &ids, &n,
				&err), &err);
	CHECK_INT(n, 1);
	CHECK_STR(ids[0], sync.id);
	free(ids);
	q_entry_free(&r);
	q_entry_free(&sup);
	q_entry_free(&add);
	q_entry_free(&sync);
	spool_close(sp);
}

struct update_ctx {
	const char *id;
	enum q_state state;
	int64_t next;
};

static int
do_update(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct update_ctx *c = vctx;
	struct q_entry old, e;
	int r;

	if (queue_get(sp, txn, c->id, 1, &old, err) != 0)
		return -1;
	q_entry_copy(&e, &old);
	e.state = c->state;
	e.next_attempt = c->next;
	r = queue_update(sp, txn, &old, &e, err);
	q_entry_free(&old);
	q_entry_free(&e);
	return r;
}

static void
test_due_index(void)
{
	struct spool *sp;
	struct pb_err err;
	struct q_entry a = { 0 }, b = { 0 }, c = { 0 };
	struct q_due *due;
	size_t n;
	int64_t now = spool_now(), when;
	struct update_ctx u;

	CHECK_OK(spool_open(fresh_dir("due", 0700), &sp, &err), &err);
	a.state = QS_READY;
	b.state = QS_DEFERRED;
	b.next_attempt = now + 600;
	c.state = QS_QUARANTINED;
	CHECK_OK(insert(sp, &a, NULL, &err), &err);
	CHECK_OK(insert(sp, &b, NULL, &err), &err);
	CHECK_OK(insert(sp, &c, NULL, &err), &err);

	/* a is due from its creation, which may be a second after now. */
	CHECK_OK(queue_due(sp, NULL, now + 1, 100, &due, &n, &err), &err);
	CHECK_INT(n, 1);
	CHECK_STR(due[0].id, a.id);
	q_due_free(due, n);
	CHECK_OK(queue_due(sp, NULL, now + 601, 100, &due, &n, &err), &err);
	CHECK_INT(n, 2);
	CHECK_STR(due[1].id, b.id);
	q_due_free(due, n);

	/* a finishes: it leaves the index; b is rescheduled earlier. */
	u = (struct update_ctx){ a.id, QS_DONE, 0 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_update, &u, &err), &err);
	u = (struct update_ctx){ b.id, QS_DEFERRED, now - 5 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_update, &u, &err), &err);
	CHECK_OK(queue_due(sp, NULL, now, 100, &due, &n, &err), &err);
	CHECK_INT(n, 1);
	CHECK_STR(due[0].id, b.id);
	q_due_free(due, n);
	CHECK_OK(queue_next_due(sp, NULL, &when, &err), &err);
	CHECK_INT(when, now - 5);

	/* Held entries wait for the operator, not the clock. */
	u = (struct update_ctx){ b.id, QS_HELD, now - 5 };
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_update, &u, &err), &err);
	CHECK_OK(queue_due(sp, NULL, now + 10000, 100, &due, &n, &err), &err);
	CHECK_INT(n, 0);
	q_due_free(due, n);
	CHECK_OK(queue_next_due(sp, NULL, &when, &err), &err);
	CHECK_INT(when, 0);
	spool_close(sp);
}

static int
count_cb(void *ctx, const struct q_entry *e)
{
	(void)e;
	(*(size_t *)ctx)++;
	return 0;
}

static int
do_delete(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	return queue_delete(sp, txn, vctx, err);
}

static void
test_delete_and_scan(void)
{
	struct spool *sp;
	struct pb_err err;
	struct q_entry e[5];
	size_t n = 0;
	struct q_due *due;
	size_t nd;

	CHECK_OK(spool_open(fresh_dir("del", 0700), &sp, &err), &err);
	for (int i = 0; i < 5; i++) {
		memset(&e[i], 0, sizeof e[i]);
		e[i].state = QS_READY;
		CHECK_OK(insert(sp, &e[i], "x", &err), &err);
	}
	for (int i = 1; i < 5; i++)
		CHECK(strcmp(e[i - 1].id, e[i].id) < 0);
	CHECK_OK(spool_txn(sp, SPOOL_SYNC, do_delete, e[2].id, &err), &err);
	CHECK_OK(queue_scan(sp, NULL, count_cb, &n, &err), &err);
	CHECK_INT(n, 4);
	CHECK_OK(queue_due(sp, NULL, spool_now(), 100, &due, &nd, &err), &err);
	CHECK_INT(nd, 4);
	q_due_free(due, nd);
	CHECK(spool_txn(sp, SPOOL_SYNC, do_delete, e[2].id, &err) == -1);
	CHECK_INT(err.status, PB_ENOTFOUND);
	spool_close(sp);
}

/* Several processes inserting at once: every insert commits, every id is
 * unique, nothing is lost. */
static void
test_concurrent_processes(void)
{
	const char *dir = fresh_dir("conc", 0700);
	enum { PROCS = 4, EACH = 60 };
	struct spool *sp;
	struct pb_err err;
	size_t n = 0;
	pid_t pids[PROCS];

	CHECK_OK(spool_open(dir, &sp, &err), &err);
	spool_close(sp);
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		CHECK(pids[p] >= 0);
		if (pids[p] == 0) {
			struct spool *csp;
			int bad = 0;

			if (spool_open(dir, &csp, &err) != 0)
				_exit(2);
			for (int i = 0; i < EACH; i++) {
				struct q_entry ce = { 0 };

				ce.state = QS_READY;
				if (insert(csp, &ce, "payload", &err) != 0)
					bad++;
			}
			spool_close(csp);
			_exit(bad ? 1 : 0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int status;

		CHECK(waitpid(pids[p], &status, 0) == pids[p]);
		CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "child %d status %d", p, status);
	}
	CHECK_OK(spool_open(dir, &sp, &err), &err);
	CHECK_OK(queue_scan(sp, NULL, count_cb, &n, &err), &err);
	CHECK_INT(n, PROCS * EACH);
	spool_close(sp);
}

static void
test_permissions(void)
{
	struct spool *sp;
	struct pb_err err;
	struct stat st;
	char path[600];
	const char *dir;

	dir = fresh_dir("grp", 02770);
	CHECK_OK(spool_open(dir, &sp, &err), &err);
	spool_close(sp);
	snprintf(path, sizeof path, "%s/queue.db", dir);
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0660);

	dir = fresh_dir("priv", 0700);
	CHECK_OK(spool_open(dir, &sp, &err), &err);
	spool_close(sp);
	snprintf(path, sizeof path, "%s/queue.db", dir);
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0600);

	dir = fresh_dir("world", 0777);
	CHECK(spool_open(dir, &sp, &err) == -1);
	CHECK(strstr(err.msg, "world-writable") != NULL);

	snprintf(path, sizeof path, "%s/does-not-exist", unit_tmpdir());
	CHECK(spool_open(path, &sp, &err) == -1);
	CHECK(strstr(err.msg, "does-not-exist") != NULL);
}

static void
test_corrupt_record(void)
{
	struct spool *sp;
	struct pb_err err;
	struct q_entry e = { 0 }, got;
	DBT k, d;
	unsigned char bad[] = { RECORD_VERSION, 2, 0, 0, 0, 200, 1 };
	size_t n = 0;

	CHECK_OK(spool_open(fresh_dir("corrupt", 0700), &sp, &err), &err);
	e.state = QS_DONE;
	CHECK_OK(insert(sp, &e, NULL, &err), &err);
	memset(&k, 0, sizeof k);
	memset(&d, 0, sizeof d);
	k.data = (void *)"0000000000000A";
	k.size = QID_LEN;
	d.data = bad;
	d.size = sizeof bad;
	CHECK(sp->queue->put(sp->queue, NULL, &k, &d, DB_AUTO_COMMIT) == 0);
	CHECK(queue_get(sp, NULL, "0000000000000A", 0, &got, &err) == -1);
	CHECK_INT(err.status, PB_EDATA);
	/* The corrupt record is skipped, the good one still listed. */
	CHECK_OK(queue_scan(sp, NULL, count_cb, &n, &err), &err);
	CHECK_INT(n, 1);
	spool_close(sp);
}

/* One transition in its own transaction, for test_transitions. */
struct op_ctx {
	const char *op;
	const char *id;
	int r;
	char why[Q_WHY_LEN];
	struct q_change ch;
};

static int
do_op(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct op_ctx *c = vctx;
	int64_t now = spool_now();
	struct q_lease_want want = { Q_INBOUND, now, 60, 0, UINT64_MAX,
				     UINT64_MAX };
	struct q_entry e;
	struct config cfg;

	memset(&e, 0, sizeof e);
	if (strcmp(c->op, "lease") == 0) {
		c->r = queue_lease(sp, txn, c->id, &want, &e, c->why, err);
	} else if (strcmp(c->op, "attempted") == 0) {
		config_defaults(&cfg);
		c->r = queue_attempted(sp, txn, c->id, QS_DEFERRED, "try later",
				       &cfg, now, &e, c->why, err);
		config_free(&cfg);
	} else if (strcmp(c->op, "retry") == 0) {
		c->r = queue_retry(sp, txn, c->id, now, &c->ch, c->why, err);
	} else if (strcmp(c->op, "hold") == 0) {
		c->r = queue_hold(sp, txn, c->id, now, &c->ch, c->why, err);
	} else if (strcmp(c->op, "release") == 0) {
		c->r = queue_release(sp, txn, c->id, now, &c->ch, c->why, err);
	} else {
		c->r = queue_flush(sp, txn, c->id, now, &c->ch, c->why, err);
	}
	q_entry_free(&e);
	return c->r < 0 ? -1 : 0;
}

/* op - run one transition; its result (0 applied, 1 refused). */
static int
op(struct spool *sp, const char *name, const char *id, struct op_ctx *c)
{
	struct pb_err err;

	memset(c, 0, sizeof *c);
	c->op = name;
	c->id = id;
	if (spool_txn(sp, SPOOL_SYNC, do_op, c, &err) != 0)
		return -1;
	return c->r;
}

/* test_transitions - who may take an entry, and what the operator may do
 * to it while another live process delivers it (pid 1 stands for that
 * process: it lives as long as the machine). */
static void
test_transitions(void)
{
	struct spool *sp;
	struct pb_err err;
	struct q_entry e, got;
	struct q_source src = { 0 };
	struct op_ctx c;
	int64_t now = spool_now();
	pid_t dead;

	CHECK_OK(spool_open(fresh_dir("tr", 0700), &sp, &err), &err);
	q_entry_new(&e, Q_INBOUND, Q_ORIGIN_PKS, QS_READY, 0, NULL, &src);
	e.lease_until = now + 300;
	e.lease_pid = 1;
	CHECK_OK(insert(sp, &e, "k", &err), &err);

	CHECK_INT(op(sp, "lease", e.id, &c), 1);
	CHECK_STR(c.why, "being delivered by pid 1");
	CHECK_INT(op(sp, "retry", e.id, &c), 1);
	CHECK_STR(c.why, "being delivered by pid 1");
	CHECK_INT(op(sp, "attempted", e.id, &c), 1);
	CHECK_STR(c.why, "no longer leased to this process");
	/* The operator may hold it (its delivery's outcome is then not
	 * recorded), release it, and then it is still leased. */
	CHECK_INT(op(sp, "hold", e.id, &c), 0);
	CHECK(c.ch.from == QS_READY && c.ch.to == QS_HELD);
	CHECK_INT(op(sp, "retry", e.id, &c), 1);
	CHECK_STR(c.why, "held (release it first)");
	CHECK_INT(op(sp, "release", e.id, &c), 0);
	CHECK(c.ch.from == QS_HELD && c.ch.to == QS_READY);
	CHECK_INT(op(sp, "lease", e.id, &c), 1);
	q_entry_free(&e);

	/* A lease whose process is dead is over: the entry is ours to take,
	 * and then to record. */
	if ((dead = fork()) == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	q_entry_new(&e, Q_INBOUND, Q_ORIGIN_PKS, QS_READY, 0, NULL, &src);
	e.lease_until = now + 300;
	e.lease_pid = dead;
	CHECK_OK(insert(sp, &e, "k", &err), &err);
	CHECK_INT(op(sp, "lease", e.id, &c), 0);
	CHECK_OK(queue_get(sp, NULL, e.id, 0, &got, &err), &err);
	CHECK_INT(got.lease_pid, getpid());
	q_entry_free(&got);
	CHECK_INT(op(sp, "attempted", e.id, &c), 0);
	CHECK_OK(queue_get(sp, NULL, e.id, 0, &got, &err), &err);
	CHECK(got.state == QS_DEFERRED && got.lease_until == 0 &&
	      got.attempts == 1 && got.next_attempt > now);
	q_entry_free(&got);
	/* Deferred: not due, so not leased; flush makes it due, then it is. */
	CHECK_INT(op(sp, "lease", e.id, &c), 1);
	CHECK_INT(op(sp, "flush", e.id, &c), 0);
	CHECK_INT(op(sp, "lease", e.id, &c), 0);
	/* Gone: an error, as for queue_get. */
	CHECK_INT(op(sp, "retry", "00000000000000", &c), -1);
	q_entry_free(&e);
	spool_close(sp);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "round trip", test_roundtrip },
		{ "reply entries: kind, request, no peer index", test_reply_entries },
		{ "due index", test_due_index },
		{ "delete and scan", test_delete_and_scan },
		{ "concurrent processes", test_concurrent_processes },
		{ "permissions", test_permissions },
		{ "corrupt record", test_corrupt_record },
		{ "transitions", test_transitions },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "queue", tests);
}
