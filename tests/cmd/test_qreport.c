/*
 * test_qreport.c - the queue views: filter options and matching, ages,
 * terminal-safe text, per-peer statistics derived from entries, and the
 * JSON and Prometheus renderings of the stats.
 */
#include "cmd/qreport.h"
#include "lib/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOW 1700000000

/* dead_pid - the pid of a process that has just exited (and been
 * reaped), so no process has it for the moment. */
static long
dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return (long)pid;
}

static void
test_states_parse(void)
{
	static const struct {
		const char *in;
		int rc;
		unsigned set;
	} cases[] = {
		{ "ready", 0, QSET(QS_READY) },
		{ "ready,deferred", 0, QSET(QS_READY) | QSET(QS_DEFERRED) },
		{ "pending", 0, QSET_PENDING },
		{ "finished", 0, QSET_FINISHED },
		{ "all", 0, QSET_ALL },
		{ "loop,held", 0, QSET(QS_LOOP) | QSET(QS_HELD) },
		{ "", -1, 0 },
		{ "ready,", -1, 0 },
		{ ",ready", -1, 0 },
		{ "Ready", -1, 0 },
		{ "bogus", -1, 0 },
		{ "ready,,held", -1, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned set = 0;
		int rc = q_states_parse(cases[i].in, &set);

		CHECK_MSG(rc == cases[i].rc, "\"%s\": rc %d", cases[i].in, rc);
		if (rc == 0)
			CHECK_MSG(set == cases[i].set, "\"%s\": set %#x, want %#x",
				  cases[i].in, set, cases[i].set);
	}
}

static void
test_filter_options(void)
{
	static const struct {
		const char *args[3];
		int rc;		/* of the first call */
		int next_i;	/* where *i is left */
	} cases[] = {
		{ { "--state", "held", NULL }, 1, 1 },
		{ { "--state=held,done", NULL, NULL }, 1, 0 },
		{ { "--state", NULL, NULL }, -1, 0 },
		{ { "--state", "nope", NULL }, -1, 1 },
		{ { "--direction", "outbound", NULL }, 1, 1 },
		{ { "--direction=sideways", NULL, NULL }, -1, 0 },
		{ { "--peer", "a@b.example", NULL }, 1, 1 },
		{ { "--peer", "@b.example", NULL }, 1, 1 },
		{ { "--peer", "nobody", NULL }, -1, 1 },
		{ { "--since", "2h", NULL }, 1, 1 },
		{ { "--since", "0", NULL }, -1, 1 },
		{ { "--since", "soon", NULL }, -1, 1 },
		{ { "--json", NULL, NULL }, 0, 0 },
		{ { "--stateful", NULL, NULL }, 0, 0 },
		{ { "ID", NULL, NULL }, 0, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct q_filter f;
		struct pb_err err;
		char *argv[4] = { NULL };
		int argc = 0, idx = 0, rc;

		for (int j = 0; j < 3 && cases[i].args[j]; j++)
			argv[argc++] = (char *)cases[i].args[j];
		q_filter_init(&f);
		rc = q_filter_option(&f, argc, argv, &idx, &err);
		q_filter_free(&f);
		CHECK_MSG(rc == cases[i].rc, "case %zu (%s): rc %d, want %d", i,
			  argv[0], rc, cases[i].rc);
		CHECK_MSG(idx == cases[i].next_i, "case %zu: i %d, want %d", i, idx,
			  cases[i].next_i);
		if (rc < 0)
			CHECK_MSG(strstr(err.msg, "wants") != NULL,
				  "case %zu: message says what is wanted: %s", i,
				  err.msg);
	}
}

static struct q_entry
mk(enum q_dir dir, enum q_state st, const char *peer, int64_t created,
   int64_t updated, const char *error)
{
	struct q_entry e;

	memset(&e, 0, sizeof e);
	snprintf(e.id, sizeof e.id, "%014llX", (unsigned long long)created);
	e.dir = dir;
	e.state = st;
	e.peer = peer ? strdup(peer) : NULL;
	e.created = created;
	e.updated = updated ? updated : created;
	e.last_error = error ? strdup(error) : NULL;
	return e;
}

static void
test_filter_match(void)
{
	struct q_entry in = mk(Q_INBOUND, QS_DEFERRED, NULL, NOW - 7200, 0, NULL);
	struct q_entry out = mk(Q_OUTBOUND, QS_DONE, "PGP-Keys@Peer.Example",
				NOW - 60, 0, NULL);
	static const struct {
		const char *args[2];
		unsigned def;
		int in, out;
	} cases[] = {
		{ { NULL, NULL }, QSET_ALL, 1, 1 },
		{ { NULL, NULL }, QSET_PENDING, 1, 0 },
		{ { "--state", "done" }, QSET_PENDING, 0, 1 },
		{ { "--state", "finished" }, QSET_ALL, 0, 1 },
		{ { "--direction", "inbound" }, QSET_ALL, 1, 0 },
		{ { "--direction", "outbound" }, QSET_ALL, 0, 1 },
		{ { "--peer", "pgp-keys@peer.example" }, QSET_ALL, 0, 1 },
		{ { "--peer", "@peer.example" }, QSET_ALL, 0, 1 },
		{ { "--peer", "@eer.example" }, QSET_ALL, 0, 0 },
		{ { "--peer", "other@peer.example" }, QSET_ALL, 0, 0 },
		{ { "--since", "1h" }, QSET_ALL, 0, 1 },
		{ { "--since", "3h" }, QSET_ALL, 1, 1 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct q_filter f;
		struct pb_err err;
		char *argv[2] = { (char *)cases[i].args[0], (char *)cases[i].args[1] };
		int idx = 0, m_in, m_out;

		q_filter_init(&f);
		if (argv[0])
			CHECK_MSG(q_filter_option(&f, 2, argv, &idx, &err) == 1,
				  "case %zu: %s", i, err.msg);
		m_in = q_filter_match(&f, &in, cases[i].def, NOW);
		m_out = q_filter_match(&f, &out, cases[i].def, NOW);
		CHECK_MSG(q_filter_given(&f) == (argv[0] != NULL), "case %zu", i);
		q_filter_free(&f);
		CHECK_MSG(m_in == cases[i].in && m_out == cases[i].out,
			  "case %zu (%s %s): inbound %d outbound %d, want %d %d", i,
			  argv[0] ? argv[0] : "-", argv[1] ? argv[1] : "", m_in,
			  m_out, cases[i].in, cases[i].out);
	}
	q_entry_free(&in);
	q_entry_free(&out);
}

static void
test_age(void)
{
	static const struct {
		int64_t secs;
		const char *want;
	} cases[] = {
		{ -5, "0s" }, { 0, "0s" }, { 1, "1s" }, { 59, "59s" },
		{ 60, "1m" }, { 61, "1m1s" }, { 3599, "59m59s" }, { 3600, "1h" },
		{ 11520, "3h12m" }, { 11521, "3h12m" }, { 86400, "1d" },
		{ 90000, "1d1h" }, { 86400 * 400 + 7200, "400d2h" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK_STR(qreport_age(cases[i].secs, buf, sizeof buf), cases[i].want);
}

static void
test_text(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "Alice <alice@example.org>", "Alice <alice@example.org>" },
		{ "J\xc3\xbcrgen", "J\xc3\xbcrgen" },
		{ "evil\x1b[2Jclear", "evil?[2Jclear" },
		{ "two\nlines\r", "two?lines?" },
		{ "bad \xff byte", "bad ? byte" },
		{ "c1 \xc2\x9b csi", "c1 ?? csi" },
		{ "del\x7f", "del?" },
		{ "overlong \xc0\xaf", "overlong ??" },
		{ "", "" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT;

		qreport_text(&b, cases[i].in);
		CHECK_MSG(strcmp(buf_str(&b), cases[i].want) == 0,
			  "case %zu: got \"%s\"", i, buf_str(&b));
		buf_free(&b);
	}
}

/* A queue with two peers in every interesting situation. */
static void
fill(struct q_stats *s)
{
	struct q_entry es[] = {
		mk(Q_INBOUND, QS_READY, NULL, NOW - 30, 0, NULL),
		mk(Q_INBOUND, QS_DEFERRED, NULL, NOW - 5000, NOW - 100,
		   "keydb down"),
		mk(Q_INBOUND, QS_DONE, NULL, NOW - 9000, 0, NULL),
		mk(Q_OUTBOUND, QS_DONE, "a@a.example", NOW - 8000, NOW - 7000, NULL),
		mk(Q_OUTBOUND, QS_DONE, "a@a.example", NOW - 6000, NOW - 5000, NULL),
		mk(Q_OUTBOUND, QS_DEFERRED, "a@a.example", NOW - 4000, NOW - 60,
		   "451 try later"),
		/* Why a suppressed entry was not sent is no peer error. */
		mk(Q_OUTBOUND, QS_SUPPRESSED, "a@a.example", NOW - 50, NOW - 10,
		   "every packet came from PKS"),
		mk(Q_OUTBOUND, QS_HELD, "B@b.example", NOW - 700, NOW - 600,
		   "greylisted"),
		mk(Q_OUTBOUND, QS_FAILED, "b@b.example", NOW - 900, NOW - 800,
		   "550 no such user"),
	};

	for (size_t i = 0; i < sizeof es / sizeof es[0]; i++) {
		q_stats_add(s, &es[i]);
		q_entry_free(&es[i]);
	}
}

static void
test_stats_derived(void)
{
	struct q_stats s;

	q_stats_init(&s, NOW);
	fill(&s);
	CHECK_INT(s.count[Q_INBOUND][QS_READY], 1);
	CHECK_INT(s.count[Q_INBOUND][QS_DEFERRED], 1);
	CHECK_INT(s.count[Q_OUTBOUND][QS_DONE], 2);
	CHECK_INT(q_stats_oldest_seconds(&s), 5000);
	/* Peers group case-insensitively, sorted. */
	CHECK_INT(s.npeers, 2);
	CHECK_STR(s.peers[0].peer, "a@a.example");
	CHECK_STR(s.peers[1].peer, "B@b.example");
	CHECK_INT(s.peers[0].count[QS_DEFERRED], 1);
	CHECK_INT(s.peers[0].last_success, NOW - 5000);
	CHECK_STR(s.peers[0].last_error, "451 try later");
	CHECK_INT(s.peers[0].last_error_time, NOW - 60);
	CHECK_INT(s.peers[0].oldest_pending, NOW - 4000);
	CHECK_INT(s.peers[1].count[QS_HELD], 1);
	CHECK_INT(s.peers[1].count[QS_FAILED], 1);
	CHECK_INT(s.peers[1].last_success, 0);
	CHECK_STR(s.peers[1].last_error, "greylisted");
	CHECK_INT(s.peers[1].oldest_pending, NOW - 700);
	q_stats_free(&s);

	q_stats_init(&s, NOW);
	CHECK_INT(q_stats_oldest_seconds(&s), 0);
	CHECK_INT(s.npeers, 0);
	q_stats_free(&s);
}

static void
test_stats_json(void)
{
	struct q_stats s;
	struct buf b = BUF_INIT;
	static const char *const want[] = {
		"\"inbound\":{\"ready\":1,\"deferred\":1,\"held\":0,\"done\":1,",
		"\"oldest_pending_seconds\":5000",
		"\"now\":1700000000",
		("\"peers\":{\"a@a.example\":{\"pending\":1,\"deferred\":1,\"held\":0,"
		 "\"failed\":0,\"oldest_pending_seconds\":4000,\"last_success\":"
		 "1699995000,\"last_error\":\"451 try later\",\"last_error_time\":"
		 "1699999940,\"states\":{\"ready\":0,"),
		("\"B@b.example\":{\"pending\":1,\"deferred\":0,\"held\":1,"
		 "\"failed\":1,\"oldest_pending_seconds\":700,\"last_success\":null,"),
	};

	q_stats_init(&s, NOW);
	fill(&s);
	s.dedup_entries = 42;
	q_stats_json(&b, &s);
	q_stats_free(&s);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		CHECK_MSG(strstr(buf_str(&b), want[i]) != NULL, "no %s in %s",
			  want[i], buf_str(&b));
	CHECK(b.len > 0 && b.data[b.len - 1] == '\n');
	CHECK(strchr(buf_str(&b), '\n') == (const char *)b.data + b.len - 1);
	buf_free(&b);
}

static void
test_prometheus(void)
{
	struct q_stats s;
	struct buf b = BUF_INIT;
	struct q_entry e = mk(Q_OUTBOUND, QS_DEFERRED, "we\"ird\\x\n\xff@p.example",
			      NOW - 10, 0, "x");
	static const char *const want[] = {
		"# HELP pksbridge_queue_entries ",
		"# TYPE pksbridge_queue_entries gauge\n",
		"pksbridge_queue_entries{direction=\"inbound\",state=\"ready\"} 1\n",
		"pksbridge_queue_entries{direction=\"outbound\",state=\"deferred\"} 2\n",
		"pksbridge_oldest_pending_seconds 5000\n",
		"pksbridge_dedup_entries 0\n",
		"pksbridge_peer_entries{peer=\"a@a.example\",state=\"deferred\"} 1\n",
		("pksbridge_peer_last_success_timestamp_seconds{peer=\"a@a.example\"} "
		 "1699995000\n"),
		"pksbridge_peer_oldest_pending_seconds{peer=\"B@b.example\"} 700\n",
		/* The format's escapes, and U+FFFD for a byte that is no UTF-8. */
		"{peer=\"we\\\"ird\\\\x\\n\xef\xbf\xbd@p.example\",state=\"ready\"} 0\n",
	};

	q_stats_init(&s, NOW);
	fill(&s);
	q_stats_add(&s, &e);
	q_entry_free(&e);
	q_stats_prometheus(&b, &s);
	q_stats_free(&s);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		CHECK_MSG(strstr(buf_str(&b), want[i]) != NULL, "no %s in:\n%s",
			  want[i], buf_str(&b));
	/* No peer ever succeeded but a: one last_success sample only. */
	CHECK(strstr(buf_str(&b), "last_success_timestamp_seconds{peer=\"B") == NULL);
	buf_free(&b);

	/* An empty queue: no peer families at all. */
	q_stats_init(&s, NOW);
	q_stats_prometheus(&b, &s);
	q_stats_free(&s);
	CHECK(strstr(buf_str(&b), "pksbridge_peer_") == NULL);
	CHECK(strstr(buf_str(&b), "pksbridge_oldest_pending_seconds 0\n") != NULL);
	buf_free(&b);
}

static void
test_entry_human(void)
{
	struct q_entry e = mk(Q_INBOUND, QS_DEFERRED, NULL, NOW - 11520,
			      NOW - 300, "hkp: connection refused");
	struct buf b = BUF_INIT;
	const char *want =
		"0000006553C400  " "    2345   3h12m inbound  deferred    pks\n"
		"                (next attempt in 12m, 3 attempts: hkp: connection refused)\n"
		"                FE144C003EC2F056976C38BA3268C6A75E3A732B A?[2J\n"
		"                CB5E676296A30F057AC88C6E45398AB92CB795F3\n"
		"                (1 more keys: queue show 0000006553C400)\n"
		"\n";

	e.size = 2345;
	e.attempts = 3;
	e.next_attempt = NOW + 720;
	q_entry_add_key(&e, "FE144C003EC2F056976C38BA3268C6A75E3A732B", "A\x1b[2J");
	q_entry_add_key(&e, "CB5E676296A30F057AC88C6E45398AB92CB795F3", NULL);
	q_entry_add_key(&e, "A76F4AAEA3C2F24D7DF35167900AE6306CA91734", NULL);
	qreport_entry_human(&b, &e, NOW, 2);
	q_entry_free(&e);
	CHECK_MSG(strcmp(buf_str(&b), want) == 0, "got:\n%s", buf_str(&b));
	buf_free(&b);

	/* Held shows '!', a lease '*'; a finished entry just its reason. */
	e = mk(Q_OUTBOUND, QS_HELD, "p@p.example", NOW - 60, 0, NULL);
	qreport_entry_human(&b, &e, NOW, 10);
	CHECK_MSG(strncmp(buf_str(&b) + 14, "!", 1) == 0, "%s", buf_str(&b));
	q_entry_free(&e);
	buf_reset(&b);
	e = mk(Q_OUTBOUND, QS_READY, "p@p.example", NOW - 60, 0, NULL);
	e.lease_until = NOW + 5;
	qreport_entry_human(&b, &e, NOW, 10);
	CHECK_MSG(strncmp(buf_str(&b) + 14, "*", 1) == 0, "%s", buf_str(&b));
	buf_reset(&b);
	/* A lease whose process died is no delivery: no '*', and "active"
	 * false, as the runner itself sees it. */
	e.lease_pid = dead_pid();
	qreport_entry_human(&b, &e, NOW, 10);
	CHECK_MSG(strncmp(buf_str(&b) + 14, " ", 1) == 0, "%s", buf_str(&b));
	buf_reset(&b);
	qreport_entry_json(&b, &e, NOW);
	CHECK_MSG(strstr(buf_str(&b), "\"active\":false") != NULL, "%s",
		  buf_str(&b));
	q_entry_free(&e);
	buf_reset(&b);
	e = mk(Q_INBOUND, QS_QUARANTINED, NULL, NOW - 60, 0, "bad CRC");
	e.attempts = 1;
	qreport_entry_human(&b, &e, NOW, 10);
	CHECK_MSG(strstr(buf_str(&b), "\n                (bad CRC)\n") != NULL,
		  "%s", buf_str(&b));
	q_entry_free(&e);
	buf_free(&b);
}

static void
test_footer(void)
{
	struct buf b = BUF_INIT;

	qreport_list_footer(&b, 0, 0, 0);
	qreport_list_footer(&b, 0, 0, 1);
	qreport_list_footer(&b, 1, 10, 0);
	qreport_list_footer(&b, 3, 2049, 0);
	CHECK_STR(buf_str(&b), "Queue is empty\nNo matching entries\n"
		  "-- 1 Kbytes in 1 Entry.\n-- 3 Kbytes in 3 Entries.\n");
	buf_free(&b);
}

/* Replies: "kind" in the JSON (sync for everything else), "reply" in
 * the table, and no per-peer statistics for requesters. */
static void
test_reply_kind(void)
{
	struct q_entry sync = mk(Q_OUTBOUND, QS_DONE, "pgp-public-keys@pks.test",
				 NOW - 60, 0, NULL);
	struct q_entry rep = mk(Q_OUTBOUND, QS_DONE, "alice@client.test",
				NOW - 30, 0, NULL);
	struct q_entry in = mk(Q_INBOUND, QS_DONE, NULL, NOW - 10, 0, NULL);
	struct buf b = BUF_INIT;
	struct q_stats st;

	rep.kind = Q_KIND_REPLY;
	qreport_entry_json(&b, &rep, NOW);
	CHECK(strstr(buf_str(&b), "\"kind\":\"reply\"") != NULL);
	CHECK(strstr(buf_str(&b), "\"peer\":\"alice@client.test\"") != NULL);
	buf_reset(&b);
	qreport_entry_json(&b, &sync, NOW);
	CHECK(strstr(buf_str(&b), "\"kind\":\"sync\"") != NULL);
	buf_reset(&b);
	qreport_entry_json(&b, &in, NOW);
	CHECK(strstr(buf_str(&b), "\"kind\":\"sync\"") != NULL);
	buf_reset(&b);
	qreport_entry_human(&b, &rep, NOW, 5);
	CHECK_MSG(strstr(buf_str(&b), " reply    done ") != NULL, "%s", buf_str(&b));
	q_stats_init(&st, NOW);
	q_stats_add(&st, &sync);
	q_stats_add(&st, &rep);
	q_stats_add(&st, &in);
	CHECK_INT(st.count[Q_OUTBOUND][QS_DONE], 2);
	CHECK_INT(st.npeers, 1);
	CHECK_STR(st.peers[0].peer, "pgp-public-keys@pks.test");
	q_stats_free(&st);
	q_entry_free(&sync);
	q_entry_free(&rep);
	q_entry_free(&in);
	buf_free(&b);
}

static const struct unit_test tests[] = {
	{ "reply kind", test_reply_kind },
	{ "states_parse", test_states_parse },
	{ "filter_options", test_filter_options },
	{ "filter_match", test_filter_match },
	{ "age", test_age },
	{ "text", test_text },
	{ "stats_derived", test_stats_derived },
	{ "stats_json", test_stats_json },
	{ "prometheus", test_prometheus },
	{ "entry_human", test_entry_human },
	{ "footer", test_footer },
	{ NULL, NULL },
};

int
main(int argc, char **argv)
{
	return unit_run(argc, argv, "test_qreport", tests);
}
