/*
 * test_delivery.c - the delivery frame and its three kinds, on a real
 * spool with an sks: key database (its messages/ spool; no SKS answers
 * lookups, so what a key adds cannot be told) and a sendmail_cmd that
 * appends every mail to a file: an ADD's keys reach SKS's spool, its
 * waiting reply becomes due with the facts of the delivery and goes out
 * in words; the peer's entry goes out as one incremental mail;
 * an entry not due is not attempted; deleting an ADD's entry takes its
 * waiting reply along; "run --once" delivers what is due; the key policy
 * at the key database's door (a no-modify key's certifications dropped
 * and counted in the entry, a blocked key's entry recorded blocked) and
 * at the peer's (the mail carries the trimmed key).
 */
#include "bridge/delivery.h"
#include "bridge/inbound.h"
#include "bridge/mailreq.h"
#include "bridge/runner.h"
#include "lib/unit.h"
#include "spool/blocks.h"
#include "spool/counters.h"
#include "spool/queue.h"
#include "spool/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ALICE "FE144C003EC2F056976C38BA3268C6A75E3A732B"
#define PEER "peer@pks.test"

/* A world of its own per test: spool, keyring, peers file, mail sink. */
struct world {
	char dir[512], conf[600], sink[600];
	struct config cfg;
	struct spool *sp;
	struct deliverer *d;
};

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static int
world_open(struct world *w, const char *name)
{
	char path[700], text[4096];
	struct pb_err err;

	memset(w, 0, sizeof *w);
	snprintf(w->dir, sizeof w->dir, "%s/%s", unit_tmpdir(), name);
	snprintf(w->conf, sizeof w->conf, "%s/pb.conf", w->dir);
	snprintf(w->sink, sizeof w->sink, "%s/sent.txt", w->dir);
	mkdir(w->dir, 0700);
	snprintf(path, sizeof path, "%s/spool", w->dir);
	mkdir(path, 0700);
	/* sks: rather than gnupg:, so that the test stays quick under
	 * valgrind: every GPGME call forks, and a fork under valgrind is
	 * slow.  Lookups go to a port where nothing listens. */
	snprintf(path, sizeof path, "%s/sks", w->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/sks/messages", w->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/sks/sksconf", w->dir);
	write_text(path, "hkp_address: 127.0.0.1\nhkp_port: 1\n");
	snprintf(path, sizeof path, "%s/mailsync", w->dir);
	write_text(path, PEER "\n");
	snprintf(path, sizeof path, "%s/sink.sh", w->dir);
	snprintf(text, sizeof text, "cat >>'%s'\necho '----' >>'%s'\n", w->sink,
		 w->sink);
	write_text(path, text);
	snprintf(text, sizeof text,
		 "spool_dir: %s/spool\nkeydb: sks:%s/sks\n"
		 "from_addr: pgp-public-keys@bridge.test\nmailsync_file: %s/mailsync\n"
		 "sendmail_cmd: /bin/sh %s/sink.sh\nlog: stderr\nbatch_window: 0s\n",
		 w->dir, w->dir, w->dir, w->dir);
	write_text(w->conf, text);
	if (config_load(&w->cfg, w->conf, 0, &err) != 0 ||
	    spool_open(w->cfg.spool_dir, &w->sp, &err) != 0) {
		unit_fail(__FILE__, __LINE__, "%s", err.msg);
		return -1;
	}
	w->d = deliverer_open(w->sp, &w->cfg);
	return 0;
}

static void
world_close(struct world *w)
{
	deliverer_close(w->d);
	spool_close(w->sp);
	config_free(&w->cfg);
}

/* ingest - a mail from alice with Subject subject and the keys of the
 * fixture keyfile, accepted into w's spool. */
static int
ingest(struct world *w, const char *subject, const char *msgid,
       const char *keyfile, struct inbound_result *res)
{
	struct inbound_opts o = { INBOUND_ORIGIN_AUTO, NULL, 0, 0 };
	struct buf m = BUF_INIT;
	struct pb_err err;
	char *keys = unit_read_file(unit_data_path(keyfile), NULL);
	int r;

	if (!keys)
		return -1;
	buf_printf(&m, "Return-Path: <alice@client.test>\nFrom: alice@client.test\n"
		   "To: pgp-public-keys@bridge.test\nSubject: %s\n"
		   "Message-ID: <%s@client.test>\n\n%s", subject, msgid, keys);
	o.total_size = m.len;
	r = inbound_accept(w->sp, &w->cfg, buf_str(&m), m.len, &o, res, &err);
	if (r != 0)
		unit_fail(__FILE__, __LINE__, "inbound_accept: %s", err.msg);
	free(keys);
	buf_free(&m);
	return r;
}

static enum q_state
state_of(struct world *w, const char *id)
{
	struct q_entry e;
	struct pb_err err;
	enum q_state s;

	if (queue_get(w->sp, NULL, id, 0, &e, &err) != 0)
		return QS__COUNT;
	s = e.state;
	q_entry_free(&e);
	return s;
}

/* why_not - an entry's last_error, for a failed check's message. */
static const char *
why_not(struct world *w, const char *id)
{
	static char why[512];
	struct q_entry e;
	struct pb_err err;

	snprintf(why, sizeof why, "(no entry)");
	if (queue_get(w->sp, NULL, id, 0, &e, &err) == 0) {
		snprintf(why, sizeof why, "%s", e.last_error ? e.last_error : "");
		q_entry_free(&e);
	}
	return why;
}

static char *
sent_mail(struct world *w)
{
	char *t = unit_read_file(w->sink, NULL);

	return t ? t : strdup("");
}

/* An ADD: the keys go to the key database, the reply waits for them,
 * then says what became of them. */
static void
test_add_lifecycle(void)
{
	struct world w;
	struct inbound_result r;
	struct q_entry rep;
	struct mailreq mr;
	struct buf payload = BUF_INIT;
	struct pb_err err;
	enum q_state st;
	size_t n;
	const char *id;
	char *mail;

	CHECK(world_open(&w, "add") == 0);
	CHECK(ingest(&w, "ADD", "add1", "keys/alice.asc", &r) == 0);
	CHECK(r.deliver_id[0] && r.reply_waits);
	/* The reply is not due before its parent is delivered. */
	CHECK_OK(delivery_due(w.d, DELIVERY_REPLY, 10000, 30, &n, &err), &err);
	CHECK_INT(n, 0);
	id = r.deliver_id;
	CHECK_OK(delivery_run(w.d, DELIVERY_KEYDB, &id, 1, 30000, &st, &err), &err);
	CHECK_MSG(st == QS_DONE, "left %s: %s", q_state_name(st),
		  why_not(&w, r.deliver_id));
	CHECK_INT(state_of(&w, r.deliver_id), QS_DONE);
	/* Delivered: the reply is due, with the facts: accepted (SKS did not
	 * answer the lookup), and merged later, as sks: does. */
	CHECK_OK(queue_get(w.sp, NULL, r.reply_id, 0, &rep, &err), &err);
	CHECK_INT(rep.waiting, 0);
	CHECK(q_entry_due(&rep, spool_now()));
	q_entry_free(&rep);
	CHECK_OK(queue_get_payload(w.sp, NULL, r.reply_id, &payload, &err), &err);
	CHECK_OK(mailreq_decode(payload.data, payload.len, &mr, &err), &err);
	CHECK_INT(mr.nfacts, 2);
	CHECK_INT(mr.facts[0].kind, MAILREQ_ACCEPTED);
	CHECK_STR(mr.facts[0].fpr, ALICE);
	CHECK_INT(mr.facts[1].kind, MAILREQ_MERGED_LATER);
	mailreq_free(&mr);
	buf_free(&payload);
	/* Again: the entry is done, so it is not attempted. */
	CHECK_OK(delivery_run(w.d, DELIVERY_KEYDB, &id, 1, 30000, &st, &err), &err);
	CHECK_INT(st, QS_READY);
	/* The reply goes out, in words. */
	CHECK_OK(delivery_due(w.d, DELIVERY_REPLY, 10000, 30, &n, &err), &err);
	CHECK_INT(n, 1);
	CHECK_INT(state_of(&w, r.reply_id), QS_DONE);
	mail = sent_mail(&w);
	CHECK_MSG(strstr(mail, "Your ADD was processed:") != NULL &&
		  strstr(mail, ALICE " (") != NULL &&
		  strstr(mail, "): accepted") != NULL &&
		  strstr(mail, "(handed to SKS, which merges") != NULL,
		  "sent: %s", mail);
	free(mail);
	world_close(&w);
}

/* A local ADD is queued for the PKS peer too: one incremental mail. */
static void
test_peer(void)
{
	struct world w;
	struct inbound_result r;
	struct q_due *due;
	struct pb_err err;
	size_t n, sent = 0;
	char peer_id[QID_LEN + 1] = "";
	char *mail;

	CHECK(world_open(&w, "peer") == 0);
	CHECK(ingest(&w, "ADD", "peer1", "keys/alice.asc", &r) == 0);
	CHECK_INT(r.noutbound, 1);
	/* The due index routes it: outbound, sync, to the peer. */
	CHECK_OK(queue_due(w.sp, NULL, spool_now() + 1, 100, &due, &n, &err), &err);
	for (size_t i = 0; i < n; i++)
		if (delivery_kind_of(due[i].dir, due[i].kind) == DELIVERY_PEER) {
			CHECK_STR(due[i].peer, PEER);
			memcpy(peer_id, due[i].id, sizeof peer_id);
		}
	q_due_free(due, n);
	CHECK(peer_id[0] != '\0');
	CHECK_OK(delivery_peer(w.d, PEER, 10000, &sent, &err), &err);
	CHECK_INT(sent, 1);
	CHECK_INT(state_of(&w, peer_id), QS_DONE);
	mail = sent_mail(&w);
	CHECK_MSG(strstr(mail, "Subject: incremental") != NULL &&
		  strstr(mail, "BEGIN PGP PUBLIC KEY BLOCK") != NULL, "sent: %s",
		  mail);
	free(mail);
	/* Nothing more is due for it. */
	CHECK_OK(delivery_peer(w.d, PEER, 10000, &sent, &err), &err);
	CHECK_INT(sent, 0);
	world_close(&w);
}

static int
delete_fn(struct spool *sp, DB_TXN *txn, void *ctx, struct pb_err *err)
{
	return queue_delete(sp, txn, ctx, err);
}

/* An operator who deletes an ADD's entry deletes its waiting reply:
 * nothing was delivered, nothing is answered. */
static void
test_delete_parent(void)
{
	struct world w;
	struct inbound_result r;
	struct pb_err err;

	CHECK(world_open(&w, "delete") == 0);
	CHECK(ingest(&w, "ADD", "del1", "keys/alice.asc", &r) == 0);
	CHECK(r.reply_waits);
	CHECK_OK(spool_txn(w.sp, SPOOL_SYNC, delete_fn, r.deliver_id, &err), &err);
	CHECK_INT(state_of(&w, r.reply_id), QS__COUNT);
	world_close(&w);
}

/* run --once: everything due now, then back. */
static void
test_run_once(void)
{
	struct world w;
	struct inbound_result r;
	struct runner_opts o = { 1, NULL, 0 };
	struct pb_err err;
	char *mail;

	CHECK(world_open(&w, "once") == 0);
	o.config_path = w.conf;
	CHECK(ingest(&w, "ADD", "once1", "keys/alice.asc", &r) == 0);
	deliverer_close(w.d);
	w.d = NULL;
	spool_close(w.sp);
	CHECK_OK(runner_run(&w.cfg, &o, &err), &err);
	CHECK_OK(spool_open(w.cfg.spool_dir, &w.sp, &err), &err);
	CHECK_MSG(state_of(&w, r.deliver_id) == QS_DONE, "left %s: %s",
		  q_state_name(state_of(&w, r.deliver_id)),
		  why_not(&w, r.deliver_id));
	/* The reply became due during that pass, after its scan: the next
	 * run sends it. */
	CHECK_INT(state_of(&w, r.reply_id), QS_READY);
	spool_close(w.sp);
	CHECK_OK(runner_run(&w.cfg, &o, &err), &err);
	CHECK_OK(spool_open(w.cfg.spool_dir, &w.sp, &err), &err);
	CHECK_INT(state_of(&w, r.reply_id), QS_DONE);
	mail = sent_mail(&w);
	CHECK(strstr(mail, "Subject: incremental") != NULL);
	CHECK(strstr(mail, "): accepted") != NULL);
	free(mail);
	w.d = deliverer_open(w.sp, &w.cfg);
	world_close(&w);
}

static int
block_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	unsigned char fpr[PGP_FPR_MAX];
	size_t len;

	if (pgp_fpr_from_hex(vctx, fpr, &len) != 0)
		return pb_err_set(err, PB_EDATA, "bad fingerprint");
	return blocks_add(sp, txn, fpr, len, "test", spool_now(), err) < 0 ? -1 : 0;
}

/* The key policy at the key database's door: an incremental from PKS
 * with a no-modify key certified by others is delivered without the
 * certifications, and the entry says so per key; a key on the
 * operator's blocklist (no revocation) is not delivered, its entry
 * recorded blocked; the counters add up. */
static void
test_policy_keydb(void)
{
	struct world w;
	struct inbound_result r;
	struct q_entry e;
	struct counter *c;
	struct pb_err err;
	enum q_state st;
	size_t n;
	uint64_t third = 0, blocked = 0;
	const char *id;

	CHECK(world_open(&w, "policy") == 0);
	CHECK(ingest(&w, "incremental", "pol1", "policy/sq-nomodify.asc", &r) == 0);
	id = r.deliver_id;
	CHECK(id[0]);
	CHECK_OK(delivery_run(w.d, DELIVERY_KEYDB, &id, 1, 30000, &st, &err), &err);
	CHECK_MSG(st == QS_DONE, "left %s: %s", q_state_name(st),
		  why_not(&w, r.deliver_id));
	CHECK_OK(queue_get(w.sp, NULL, r.deliver_id, 0, &e, &err), &err);
	CHECK_INT(e.nkeys, 1);
	CHECK_MSG(e.keys[0].policy &&
		  strstr(e.keys[0].policy, "\"verdict\":\"kept\"") &&
		  strstr(e.keys[0].policy, "\"kept\":8") &&
		  strstr(e.keys[0].policy, "\"third_party\":6"),
		  "policy: %s", e.keys[0].policy ? e.keys[0].policy : "(none)");
	q_entry_free(&e);

	CHECK_OK(spool_txn(w.sp, SPOOL_SYNC, block_fn, (void *)ALICE, &err), &err);
	CHECK(ingest(&w, "incremental", "pol2", "keys/alice.asc", &r) == 0);
	id = r.deliver_id;
	CHECK(id[0]);
	CHECK_OK(delivery_run(w.d, DELIVERY_KEYDB, &id, 1, 30000, &st, &err), &err);
	CHECK_MSG(st == QS_BLOCKED, "left %s: %s", q_state_name(st),
		  why_not(&w, r.deliver_id));

	CHECK_OK(counters_list(w.sp, NULL, &c, &n, &err), &err);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(c[i].name, "policy_dropped:keydb:third_party") == 0)
			third = c[i].value;
		if (strcmp(c[i].name, "policy_keys:keydb:blocked") == 0)
			blocked = c[i].value;
	}
	free(c);
	CHECK_INT(third, 6);
	CHECK_INT(blocked, 1);
	world_close(&w);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "an ADD: keys delivered, its reply waits, then says so",
		  test_add_lifecycle },
		{ "a peer's entry routed by the due index, one mail", test_peer },
		{ "deleting an ADD's entry deletes its waiting reply",
		  test_delete_parent },
		{ "run --once delivers what is due", test_run_once },
		{ "the key policy at the key database's door", test_policy_keydb },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "delivery", tests);
}
