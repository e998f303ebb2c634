/*
 * cmd_queue.c - "pksbridge queue ...": see and steer what is in flight.
 *
 * Like postqueue/postsuper: a table for people and JSON Lines for
 * scripts (consumers ignore fields they do not know; fields are only
 * added; docs/JSON.md), operator actions each in its own transaction,
 * ids from arguments or "-" for stdin, counts on stderr ("Deleted: 3
 * entries") and in the log, and a quiet exit when the reader of a
 * listing goes away (EPIPE, "| head").  The views themselves (filters,
 * table, stats, Prometheus) are in qreport.c.
 */
#include "bridge/answer.h"
#include "bridge/handoff.h"
#include "bridge/mailreq.h"
#include "cmd/commands.h"
#include "cmd/qreport.h"
#include "openpgp/armor.h"
#include "spool/dedup.h"
#include "spool/queue.h"
#include "spool/spool.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define LIST_MAX_KEYS 10	/* key lines per entry in the table */
/* Room for an id as given: longer than an id, so that a longer word is
 * kept longer (and not found) rather than cut down to a valid id. */
#define ID_ARG_LEN 32

static const char filter_help[] =
	"  --state S[,S...]   only entries in these states: ready, deferred, held,\n"
	"                     done, failed, quarantined, duplicate, suppressed,\n"
	"                     loop; or pending, finished, all\n"
	"  --direction D      inbound, outbound (sync mail and replies) or\n"
	"                     reply (replies to mail commands only)\n"
	"  --peer ADDR        outbound entries for this PKS peer (@DOMAIN: any\n"
	"                     peer in that domain)\n"
	"  --since DURATION   created within DURATION (90s, 30m, 2h, 7d)\n";

struct subcmd {
	const char *name;
	const char *synopsis;
	const char *text;
	int filters;		/* takes FILTERS */
};

static const struct subcmd subcmds[] = {
	{ "list", "list [--all] [--json] [FILTERS]",
	  "List queue entries: the pending ones (ready, deferred, held), or all\n"
	  "with --all.  As mailq shows a queue: the id ('*' being delivered now,\n"
	  "'!' held), size in bytes, age, direction, state, and the peer\n"
	  "(outbound) or origin (inbound); then the next attempt and last error\n"
	  "in parentheses, and the keys (fingerprint, primary user id).\n"
	  "\n"
	  "  --all, -a          also finished entries (done, failed, quarantined,\n"
	  "                     duplicate, suppressed, loop, blocked)\n"
	  "  --json, -j         JSON Lines, one object per entry (docs/JSON.md)\n", 1 },
	{ "show", "show ID [--json]",
	  "One entry in full, with its payload: the keys as one ASCII-armored\n"
	  "block, or the text kept of a quarantined piece.\n"
	  "\n"
	  "  --json, -j         one JSON object (docs/JSON.md)\n", 0 },
	{ "stats", "stats [--json | --prometheus]",
	  "Counts by direction and state, the age of the oldest pending entry,\n"
	  "the size of the dedup index and, per PKS peer, its pending, deferred,\n"
	  "held and failed outbound entries, the oldest pending one, the last\n"
	  "success and the last error (derived from the entries in the queue).\n"
	  "\n"
	  "  --json, -j         one JSON object (docs/JSON.md)\n"
	  "  --prometheus       Prometheus text format 0.0.4, for node_exporter's\n"
	  "                     textfile collector\n", 0 },
	{ "retry", "retry ID... | - | --all [FILTERS]",
	  "Make deferred or failed entries due now, and wake the runner.  With\n"
	  "--all: every deferred and failed entry (narrowed by FILTERS).\n", 1 },
	{ "hold", "hold ID... | - | --all [FILTERS]",
	  "Stop delivering pending entries until released.  With --all: every\n"
	  "ready and deferred entry (narrowed by FILTERS).\n", 1 },
	{ "release", "release ID... | - | --all [FILTERS]",
	  "Undo hold, and wake the runner.  With --all: every held entry\n"
	  "(narrowed by FILTERS).\n", 1 },
	{ "delete", "delete ID... | - | --all [FILTERS]",
	  "Remove entries and their payloads.  With --all: every finished entry\n"
	  "(narrowed by FILTERS); pending ones only when --state names them.\n", 1 },
	{ "flush", "flush [--direction D] [--peer ADDR]",
	  "Make every deferred entry due now and wake the runner (postqueue -f).\n"
	  "Held entries stay held; ready ones keep their batch window.\n"
	  "\n"
	  "  --direction D      only inbound, outbound or reply entries\n"
	  "  --peer ADDR        only outbound entries for ADDR (@DOMAIN: its\n"
	  "                     domain)\n", 0 },
	{ "purge", "purge DURATION [--dry-run] [FILTERS]",
	  "Delete finished entries (done, failed, quarantined, duplicate,\n"
	  "suppressed, loop, blocked) last changed more than DURATION ago (30d, 12h).\n"
	  "\n"
	  "  --dry-run, -n      only count them\n", 1 },
};

#define NSUBCMDS (sizeof subcmds / sizeof subcmds[0])

static const struct subcmd *
find_subcmd(const char *name)
{
	for (size_t i = 0; i < NSUBCMDS; i++)
		if (strcmp(subcmds[i].name, name) == 0)
			return &subcmds[i];
	return NULL;
}

static void
queue_usage(FILE *f)
{
	fprintf(f, "usage: pksbridge [-c FILE] queue COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < NSUBCMDS; i++)
		fprintf(f, "  queue %s\n", subcmds[i].synopsis);
	fprintf(f, "\nFILTERS (list, retry, hold, release, delete, purge; flush takes\n"
		"only --direction and --peer):\n%s"
		"\nAn ID of \"-\" reads ids from stdin, one per line (the first word\n"
		"of each; a trailing '*' or '!' from a listing is ignored).  Actions\n"
		"report their counts on stderr, like postsuper.\n"
		"\"pksbridge queue COMMAND --help\" describes one command; see\n"
		"pksbridge(8).\n", filter_help);
}

static void
subcmd_usage(FILE *f, const struct subcmd *c)
{
	fprintf(f, "usage: pksbridge [-c FILE] queue %s\n\n%s", c->synopsis,
		c->text);
	if (c->filters)
		fprintf(f, "\nFILTERS:\n%s", filter_help);
}

/* usage_error - a one-line complaint and a pointer to the help. */
static int
usage_error(const char *sub, const char *msg)
{
	log_stderr("queue %s: %s (see pksbridge queue %s --help)", sub, msg, sub);
	return EX_USAGE;
}

/* The configuration and the spool, opened only once the arguments are
 * known to be good: a typo gets its usage message, not a spool error. */
struct qenv {
	const struct cmd_ctx *ctx;
	struct config cfg;
	int cfg_loaded;
	struct spool *sp;
};

/* qenv_open - load the config and open the spool: 0, or the exit code
 * after saying what is wrong. */
static int
qenv_open(struct qenv *q)
{
	struct pb_err err;

	q->cfg_loaded = 1;
	if (cmd_load_config(q->ctx, &q->cfg, &err) != 0) {
		log_stderr("%s", err.msg);
		return EX_CONFIG;
	}
	if (spool_open(q->cfg.spool_dir, &q->sp, &err) != 0) {
		log_stderr("%s", err.msg);
		return exitcode_for(err.status);
	}
	/* Operator actions are logged where the rest of the mail log is. */
	log_set_dest(q->cfg.log_dest);
	return 0;
}

static void
qenv_close(struct qenv *q)
{
	if (q->sp)
		spool_close(q->sp);
	if (q->cfg_loaded)
		config_free(&q->cfg);
}

struct list_ctx {
	const struct q_filter *filter;
	unsigned default_states;
	int json;
	int64_t now;
	size_t count;
	uint64_t bytes;
	int failed;
	int write_errno;	/* errno of the failed write */
};

static int
list_cb(void *vctx, const struct q_entry *e)
{
	struct list_ctx *c = vctx;
	struct buf b = BUF_INIT;

	if (!q_filter_match(c->filter, e, c->default_states, c->now))
		return 0;
	if (c->json) {
		qreport_entry_json(&b, e, c->now);
		buf_putc(&b, '\n');
	} else {
		if (c->count == 0)
			qreport_list_header(&b);
		qreport_entry_human(&b, e, c->now, LIST_MAX_KEYS);
	}
	c->count++;
	c->bytes += e->size;
	if (cmd_out_write(&b) != 0) {
		c->failed = 1;
		c->write_errno = errno;
	}
	buf_free(&b);
	return c->failed;
}

static int
do_list(struct qenv *q, int argc, char **argv)
{
	struct q_filter f;
	struct list_ctx c;
	struct pb_err err;
	int all = 0, rc;

	memset(&c, 0, sizeof c);
	q_filter_init(&f);
	for (int i = 0; i < argc; i++) {
		int r = q_filter_option(&f, argc, argv, &i, &err);

		if (r < 0) {
			q_filter_free(&f);
			return usage_error("list", err.msg);
		} else if (r > 0) {
			continue;
		} else if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "-a") == 0) {
			all = 1;
		} else if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
			c.json = 1;
		} else {
			char msg[300];

			snprintf(msg, sizeof msg, "unknown argument \"%s\"", argv[i]);
			q_filter_free(&f);
			return usage_error("list", msg);
		}
	}
	if ((rc = qenv_open(q)) != 0) {
		q_filter_free(&f);
		return rc;
	}
	c.filter = &f;
	c.default_states = all ? QSET_ALL : QSET_PENDING;
	c.now = spool_now();
	if (queue_scan(q->sp, NULL, list_cb, &c, &err) != 0) {
		log_stderr("%s", err.msg);
		q_filter_free(&f);
		return exitcode_for(err.status);
	}
	rc = 0;
	if (c.failed) {
		/* The reader went away (| head): stop quietly, as mailq does. */
		rc = cmd_out_error(c.write_errno);
	} else if (!c.json) {
		struct buf b = BUF_INIT;

		qreport_list_footer(&b, c.count, c.bytes, q_filter_given(&f));
		if (cmd_out_write(&b) != 0)
			rc = cmd_out_error(errno);
		buf_free(&b);
	}
	q_filter_free(&f);
	if (rc == 0 && !c.failed)
		rc = cmd_out_finish();
	return rc;
}

/* request_text - a reply's request, one "name: value" line each (an
 * ADD's report as its reply will say it, a "line" each). */
static void
request_text(const struct config *cfg, const struct buf *payload,
	     struct buf *out)
{
	struct mailreq mr;
	struct pb_err err;

	if (mailreq_decode(payload->data, payload->len, &mr, &err) != 0) {
		buf_printf(out, "(%s)\n", err.msg);
		return;
	}
	buf_printf(out, "command: %s", mailcmd_kind_name(mr.cmd.kind));
	if (mr.cmd.name[0])
		buf_printf(out, " (%s)", mr.cmd.name);
	buf_puts(out, "\n");
	if (mr.cmd.search_kind != MAILCMD_SEARCH_NONE)
		buf_printf(out, "search: %s\n", mr.cmd.search);
	if (mr.cmd.kind == MAILCMD_LAST)
		buf_printf(out, "days: %u\n", mr.cmd.days);
	if (mr.cmd.lang[0])
		buf_printf(out, "language: %s\n", mr.cmd.lang);
	if (mr.cmd.reason[0])
		buf_printf(out, "reason: %s\n", mr.cmd.reason);
	if (mr.references)
		buf_printf(out, "references: %s\n", mr.references);
	answer_add_lines(cfg, &mr, "line: ", out);
	mailreq_free(&mr);
}

/* payload_text - what queue show prints as the payload: keys as one
 * armored block, raw quarantined text as it was kept, a reply's
 * request as lines. */
static void
payload_text(const struct config *cfg, const struct q_entry *e,
	     const struct buf *payload, struct buf *out)
{
	if (e->payload_kind == Q_PAYLOAD_REQUEST) {
		request_text(cfg, payload, out);
	} else if (e->payload_kind == Q_PAYLOAD_KEYS) {
		struct armor_writer w;
		const unsigned char *k;
		size_t off = 0, klen;

		armor_writer_begin(&w, armor_out_buf, out);
		while (pgp_keyseq_next(payload->data, payload->len, &off, &k,
					  &klen) == 1)
			armor_writer_add(&w, k, klen);
		armor_writer_end(&w);
	} else if (payload->len) {
		buf_append(out, payload->data, payload->len);
	}
}

/* show_line - "name:  value" with the value made terminal-safe. */
static void
show_line(struct buf *b, const char *name, const char *value)
{
	buf_printf(b, "%-13s ", name);
	qreport_text(b, value);
	buf_putc(b, '\n');
}

static void
show_human(struct buf *b, const struct q_entry *e, const struct buf *text,
	   int64_t now)
{
	char t[64], age[32], line[160];

	show_line(b, "id:", e->id);
	show_line(b, "direction:", q_dir_name(e->dir));
	show_line(b, "state:", q_state_name(e->state));
	show_line(b, "origin:", q_origin_name(e->origin));
	show_line(b, "kind:", q_kind_name(e->kind));
	if (e->peer)
		show_line(b, "peer:", e->peer);
	if (e->child)
		show_line(b, "reply:", e->child);
	if (e->sender)
		show_line(b, "sender:", e->sender);
	if (e->message_id) {
		snprintf(line, sizeof line, "<%s>", e->message_id);
		show_line(b, "message-id:", line);
	}
	if (e->parent)
		show_line(b, e->waiting ? "waits for:" : "parent:", e->parent);
	clock_format(e->created, t, sizeof t);
	snprintf(line, sizeof line, "%s (%s ago)", t,
		 qreport_age(now - e->created, age, sizeof age));
	show_line(b, "created:", line);
	clock_format(e->updated, t, sizeof t);
	show_line(b, "updated:", t);
	if (e->next_attempt && (e->state == QS_READY || e->state == QS_DEFERRED)) {
		clock_format(e->next_attempt, t, sizeof t);
		if (e->next_attempt > now)
			snprintf(line, sizeof line, "%s (in %s)", t,
				 qreport_age(e->next_attempt - now, age, sizeof age));
		else
			snprintf(line, sizeof line, "%s (due)", t);
		show_line(b, "next attempt:", line);
	}
	if (q_entry_lease_holder(e, now) != 0) {
		clock_format(e->lease_until, t, sizeof t);
		snprintf(line, sizeof line, "being delivered by pid %lld, until %s",
			 (long long)e->lease_pid, t);
		show_line(b, "active:", line);
	}
	buf_printf(b, "%-13s %u\n", "attempts:", e->attempts);
	buf_printf(b, "%-13s %llu\n", "size:", (unsigned long long)e->size);
	if (e->last_error)
		show_line(b, "last error:", e->last_error);
	for (size_t i = 0; i < e->nkeys; i++) {
		buf_printf(b, "%-13s %s", "key:", e->keys[i].fpr);
		if (e->keys[i].uid) {
			buf_putc(b, ' ');
			qreport_text(b, e->keys[i].uid);
		}
		buf_putc(b, '\n');
	}
	if (text->len) {
		buf_puts(b, "\n");
		buf_append(b, text->data, text->len);
		if (text->data[text->len - 1] != '\n')
			buf_putc(b, '\n');
	}
}

static int
do_show(struct qenv *q, int argc, char **argv)
{
	struct q_entry e;
	struct buf payload = BUF_INIT, text = BUF_INIT, b = BUF_INIT;
	struct pb_err err;
	const char *id = NULL;
	int json = 0, rc;
	int64_t now = spool_now();

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
			json = 1;
		} else if (!id && argv[i][0] != '-') {
			id = argv[i];
		} else {
			char msg[300];

			snprintf(msg, sizeof msg, "unexpected argument \"%s\"", argv[i]);
			return usage_error("show", msg);
		}
	}
	if (!id)
		return usage_error("show", "which entry? Give its ID (see queue list)");
	if ((rc = qenv_open(q)) != 0)
		return rc;
	if (queue_get(q->sp, NULL, id, 0, &e, &err) != 0 ||
	    queue_get_payload(q->sp, NULL, id, &payload, &err) != 0) {
		log_stderr("%s", err.msg);
		q_entry_free(&e);
		return exitcode_for(err.status);
	}
	payload_text(&q->cfg, &e, &payload, &text);
	if (json) {
		qreport_entry_json(&b, &e, now);
		b.len--;	/* reopen the object to add the payload */
		buf_puts(&b, ",\"payload_kind\":");
		json_str(&b, e.payload_kind == Q_PAYLOAD_KEYS ? "keys" :
			 e.payload_kind == Q_PAYLOAD_RAW ? "raw" :
			 e.payload_kind == Q_PAYLOAD_REQUEST ? "request" : "none");
		buf_puts(&b, ",\"payload\":");
		if (text.len)
			json_strn(&b, (const char *)text.data, text.len);
		else
			buf_puts(&b, "null");
		buf_puts(&b, "}\n");
	} else {
		show_human(&b, &e, &text, now);
	}
	rc = cmd_print(&b);
	q_entry_free(&e);
	buf_free(&payload);
	buf_free(&text);
	buf_free(&b);
	return rc;
}

static int
stats_cb(void *vctx, const struct q_entry *e)
{
	q_stats_add(vctx, e);
	return 0;
}

static int
do_stats(struct qenv *q, int argc, char **argv)
{
	struct q_stats s;
	struct pb_err err;
	struct buf b = BUF_INIT;
	int json = 0, prom = 0, rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--prometheus") == 0) {
			prom = 1;
		} else {
			char msg[300];

			snprintf(msg, sizeof msg, "unknown argument \"%s\"", argv[i]);
			return usage_error("stats", msg);
		}
	}
	if (json && prom)
		return usage_error("stats", "--json or --prometheus, not both");
	if ((rc = qenv_open(q)) != 0)
		return rc;
	q_stats_init(&s, spool_now());
	if (queue_scan(q->sp, NULL, stats_cb, &s, &err) != 0 ||
	    dedup_count(q->sp, NULL, &s.dedup_entries, &err) != 0 ||
	    counters_list(q->sp, NULL, &s.counters, &s.ncounters, &err) != 0) {
		log_stderr("%s", err.msg);
		q_stats_free(&s);
		return exitcode_for(err.status);
	}
	if (json)
		q_stats_json(&b, &s);
	else if (prom)
		q_stats_prometheus(&b, &s);
	else
		q_stats_human(&b, &s);
	rc = cmd_print(&b);
	buf_free(&b);
	q_stats_free(&s);
	return rc;
}

enum action { ACT_RETRY, ACT_HOLD, ACT_RELEASE, ACT_DELETE, ACT_FLUSH,
	      ACT_PURGE };

static const struct {
	const char *name;	/* in the log: action=NAME */
	const char *done;	/* on stderr: "DONE: N entries" */
	unsigned all_states;	/* what --all selects without --state */
} actions[] = {
	[ACT_RETRY] = { "retry", "Requeued", QSET(QS_DEFERRED) | QSET(QS_FAILED) },
	[ACT_HOLD] = { "hold", "Held", QSET(QS_READY) | QSET(QS_DEFERRED) },
	[ACT_RELEASE] = { "release", "Released", QSET(QS_HELD) },
	[ACT_DELETE] = { "delete", "Deleted", QSET_FINISHED },
	[ACT_FLUSH] = { "flush", "Flushed", QSET(QS_DEFERRED) },
	[ACT_PURGE] = { "purge", "Deleted", QSET_FINISHED },
};

struct action_ctx {
	enum action act;
	const char *id;
	int changed;		/* 1 if the entry changed */
	enum q_state old_state;
	enum q_state new_state;
	int64_t older_than;	/* purge: updated before this */
	char why[Q_WHY_LEN];	/* why not, when it did not */
};

/* action_fn - one entry, in its own transaction (queue.c re-reads it
 * there: what the listing showed may have changed since). */
static int
action_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	static int (*const change[])(struct spool *, DB_TXN *, const char *,
				     int64_t, struct q_change *, char *,
				     struct pb_err *) = {
		[ACT_RETRY] = queue_retry,
		[ACT_HOLD] = queue_hold,
		[ACT_RELEASE] = queue_release,
		[ACT_FLUSH] = queue_flush,
	};
	struct action_ctx *c = vctx;
	struct q_change ch;
	int r;

	c->changed = 0;
	c->why[0] = '\0';
	if (c->act == ACT_DELETE || c->act == ACT_PURGE) {
		struct q_entry old;

		if (queue_get(sp, txn, c->id, 1, &old, err) != 0)
			return -1;
		c->old_state = c->new_state = old.state;
		r = c->act == ACT_PURGE && (q_state_pending(old.state) ||
					    old.updated >= c->older_than);
		q_entry_free(&old);
		if (r) {
			snprintf(c->why, sizeof c->why, "changed meanwhile");
			return 0;
		}
		if (queue_delete(sp, txn, c->id, err) != 0)
			return -1;
		c->changed = 1;
		return 0;
	}
	r = change[c->act](sp, txn, c->id, spool_now(), &ch, c->why, err);
	if (r < 0)
		return -1;
	c->changed = r == 0;
	c->old_state = ch.from;
	c->new_state = ch.to;
	return 0;
}

struct collect_ctx {
	const struct q_filter *filter;
	unsigned default_states;
	int64_t now;
	int64_t older_than;	/* purge: only entries updated before this */
	char (*ids)[ID_ARG_LEN];
	size_t n;
};

static void
add_id(struct collect_ctx *c, const char *id)
{
	size_t n = strnlen(id, ID_ARG_LEN - 1);

	c->ids = xreallocarray(c->ids, c->n + 1, sizeof *c->ids);
	memcpy(c->ids[c->n], id, n);
	c->ids[c->n++][n] = '\0';
}

static int
collect_cb(void *vctx, const struct q_entry *e)
{
	struct collect_ctx *c = vctx;

	if (!q_filter_match(c->filter, e, c->default_states, c->now))
		return 0;
	if (c->older_than && e->updated >= c->older_than)
		return 0;
	add_id(c, e->id);
	return 0;
}

/* listing_chrome - a line of "queue list" that names no entry: its
 * header, its footer, or what it says when nothing is listed.  Only
 * these are skipped, so that "queue list | queue hold -" works and a
 * mistyped id still fails. */
static int
listing_chrome(const char *line)
{
	return strncmp(line, "-Queue ID-", 10) == 0 ||
	       strncmp(line, "-- ", 3) == 0 ||
	       strncmp(line, "Queue is empty", 14) == 0 ||
	       strncmp(line, "No matching entries", 19) == 0;
}

/* read_ids - ids from stdin, one per line: the first word, without the
 * '*' or '!' that queue list puts after an id; a listing's header and
 * footer are skipped (continuation lines start with blanks). */
static void
read_ids(struct collect_ctx *c)
{
	char line[512];

	while (fgets(line, sizeof line, stdin)) {
		size_t n = strcspn(line, " \t\r\n");

		if (listing_chrome(line))
			continue;
		while (n > 0 && (line[n - 1] == '*' || line[n - 1] == '!'))
			n--;
		line[n] = '\0';
		if (n == 0)
			continue;
		add_id(c, line);
	}
}

static const char *
plural(size_t n)
{
	return n == 1 ? "entry" : "entries";
}

/* run_actions - apply act to every collected id, each in its own
 * transaction; report per entry (named ones) and in total. */
static int
run_actions(struct spool *sp, enum action act, struct collect_ctx *col,
	    int named, int dry_run, int64_t older_than)
{
	struct pb_err err;
	size_t changed = 0;
	int rc = 0;
	const char *who = cmd_operator_name();

	for (size_t i = 0; i < col->n && !dry_run; i++) {
		struct action_ctx c;

		memset(&c, 0, sizeof c);
		c.act = act;
		c.id = col->ids[i];
		c.older_than = older_than;
		/* Purges and flushes may touch thousands of entries and are
		 * harmless to lose in a crash (an old entry stays, a retry
		 * waits for its time): no fsync each; the checkpoint below
		 * writes them out together. */
		if (spool_txn(sp, act == ACT_PURGE || act == ACT_FLUSH ?
			      SPOOL_NOSYNC : SPOOL_SYNC, action_fn, &c, &err) != 0) {
			log_stderr("%s", err.msg);
			if (rc == 0)
				rc = exitcode_for(err.status);
			continue;
		}
		if (c.changed) {
			changed++;
			if (act != ACT_FLUSH && act != ACT_PURGE)
				log_info(c.id, "action=%s, operator=%s, "
					 "old_state=%s, state=%s", actions[act].name,
					 who, q_state_name(c.old_state),
					 act == ACT_DELETE ? "removed"
							   : q_state_name(c.new_state));
		} else if (named) {
			log_stderr("%s: not changed: %s", c.id, c.why);
		}
	}
	if ((act == ACT_PURGE || act == ACT_FLUSH) && changed)
		spool_checkpoint(sp, 1);
	if (dry_run) {
		fprintf(stderr, "Would delete: %zu %s\n", col->n, plural(col->n));
		return 0;
	}
	fprintf(stderr, "%s: %zu %s\n", actions[act].done, changed,
		plural(changed));
	/* The count goes to the log too (as postsuper does), unless the
	 * log is stderr, which just got it. */
	if (changed && !(log_get_dest() & LOG_DEST_STDERR))
		log_info(NULL, "action=%s, operator=%s, entries=%zu",
			 actions[act].name, who, changed);
	/* flush wakes the runner even with nothing rescheduled, as
	 * postqueue -f does: entries may be due already. */
	if ((changed && (act == ACT_RETRY || act == ACT_RELEASE)) ||
	    act == ACT_FLUSH) {
		if (!handoff_wake(sp))
			log_stderr("no runner is running for %s: the entries are due "
				   "now and go out when it runs (start it, e.g. "
				   "\"systemctl start pksbridge\", or run "
				   "\"pksbridge run --once\")", spool_dir(sp));
	}
	return rc;
}

/* What an action's arguments asked for. */
struct action_args {
	struct q_filter f;
	struct collect_ctx col;	/* ids named, or collected with --all */
	int all, named, dry_run;
	int64_t purge_age;	/* purge DURATION, or -1 */
};

/* action_word - one argument of an action that is not a filter: 0, or
 * the exit code after a usage error. */
static int
action_word(enum action act, const char *name, const char *arg,
	    struct action_args *a)
{
	char msg[300];
	size_t n;

	if (act == ACT_PURGE) {
		if (strcmp(arg, "--dry-run") == 0 || strcmp(arg, "-n") == 0) {
			a->dry_run = 1;
			return 0;
		}
		if (a->purge_age < 0 && arg[0] != '-' &&
		    config_parse_duration(arg, &a->purge_age) == 0)
			return 0;
		snprintf(msg, sizeof msg, "unexpected argument \"%s\" (want a "
			 "DURATION such as 30d)", arg);
		return usage_error(name, msg);
	}
	if (act == ACT_FLUSH) {
		snprintf(msg, sizeof msg, "unexpected argument \"%s\"", arg);
		return usage_error(name, msg);
	}
	if (strcmp(arg, "--all") == 0 || strcmp(arg, "ALL") == 0) {
		a->all = 1;
	} else if (strcmp(arg, "-") == 0) {
		read_ids(&a->col);
		a->named = 1;
	} else if (arg[0] == '-') {
		snprintf(msg, sizeof msg, "unknown option \"%s\"", arg);
		return usage_error(name, msg);
	} else {
		/* As listed: "ID*" (being delivered) or "ID!" (held). */
		n = strlen(arg);
		while (n > 0 && (arg[n - 1] == '*' || arg[n - 1] == '!'))
			n--;
		snprintf(msg, sizeof msg, "%.*s", (int)n, arg);
		add_id(&a->col, msg);
		a->named = 1;
	}
	return 0;
}

/* action_selects - do the arguments name the entries sensibly?  flush
 * and purge always select with filters (--all implied).  0, or the exit
 * code after a usage error. */
static int
action_selects(enum action act, const char *name, struct action_args *a)
{
	if (act == ACT_FLUSH) {
		if (a->f.states || a->f.since)
			return usage_error(name, "flush takes only --direction and "
					   "--peer");
		a->all = 1;
	} else if (act == ACT_PURGE) {
		if (a->purge_age < 0)
			return usage_error(name, "how old? Give a DURATION, e.g. "
					   "\"queue purge 30d\"");
		if (a->f.states & QSET_PENDING)
			return usage_error(name, "purge removes finished entries "
					   "only; use \"queue delete\" for pending "
					   "ones");
		a->all = 1;
	} else if (a->all && a->named) {
		return usage_error(name, "give IDs or --all, not both");
	} else if (!a->all && q_filter_given(&a->f)) {
		return usage_error(name, "filters select entries only together "
				   "with --all");
	} else if (!a->all && !a->named) {
		return usage_error(name, "which entries? Give IDs, \"-\" (ids on "
				   "stdin) or --all");
	}
	return 0;
}

static int
do_action(struct qenv *q, enum action act, const char *name, int argc,
	  char **argv)
{
	struct action_args a;
	struct pb_err err;
	int64_t older_than = 0;
	int rc = 0;

	memset(&a, 0, sizeof a);
	a.purge_age = -1;
	q_filter_init(&a.f);
	for (int i = 0; i < argc && rc == 0; i++) {
		int r = q_filter_option(&a.f, argc, argv, &i, &err);

		if (r < 0)
			rc = usage_error(name, err.msg);
		else if (r == 0)
			rc = action_word(act, name, argv[i], &a);
	}
	if (rc == 0)
		rc = action_selects(act, name, &a);
	if (rc == 0)
		rc = qenv_open(q);
	if (rc == 0 && act == ACT_PURGE)
		older_than = spool_now() - a.purge_age;
	if (rc == 0 && a.all) {
		a.col.filter = &a.f;
		a.col.default_states = actions[act].all_states;
		a.col.now = spool_now();
		a.col.older_than = older_than;
		if (queue_scan(q->sp, NULL, collect_cb, &a.col, &err) != 0) {
			log_stderr("%s", err.msg);
			rc = exitcode_for(err.status);
		}
	}
	if (rc == 0)
		rc = run_actions(q->sp, act, &a.col, a.named, a.dry_run, older_than);
	free(a.col.ids);
	q_filter_free(&a.f);
	return rc;
}

int
cmd_queue(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const enum action acts[] = { ACT_RETRY, ACT_HOLD, ACT_RELEASE,
					    ACT_DELETE, ACT_FLUSH, ACT_PURGE };
	struct qenv q;
	const struct subcmd *sc;
	const char *sub;
	int rc;

	log_open("queue", LOG_DEST_STDERR, 0);
	if (argc < 2) {
		queue_usage(stderr);
		return EX_USAGE;
	}
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
	    strcmp(sub, "help") == 0) {
		if (argc > 2 && (sc = find_subcmd(argv[2])) != NULL)
			subcmd_usage(stdout, sc);
		else
			queue_usage(stdout);
		return 0;
	}
	if ((sc = find_subcmd(sub)) == NULL) {
		log_stderr("queue: unknown command \"%s\" (one of list, show, stats, "
			   "retry, hold, release, delete, flush, purge; see "
			   "pksbridge queue --help)", sub);
		return EX_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			subcmd_usage(stdout, sc);
			return 0;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&q, 0, sizeof q);
	q.ctx = ctx;
	if (strcmp(sub, "list") == 0) {
		rc = do_list(&q, argc - 2, argv + 2);
	} else if (strcmp(sub, "show") == 0) {
		rc = do_show(&q, argc - 2, argv + 2);
	} else if (strcmp(sub, "stats") == 0) {
		rc = do_stats(&q, argc - 2, argv + 2);
	} else {
		rc = EX_SOFTWARE;
		for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
			if (strcmp(sub, actions[acts[i]].name) == 0)
				rc = do_action(&q, acts[i], sub, argc - 2, argv + 2);
	}
	qenv_close(&q);
	return rc;
}
