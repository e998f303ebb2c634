/*
 * cmd_queue.c - "pksbridge queue ...": see and steer what is in flight.
 *
 * Like postqueue/postsuper: a table for people, JSON Lines for scripts
 * (consumers ignore fields they do not know; fields are only added),
 * operator actions each in one transaction, ids from arguments or "-"
 * for stdin, counts on stderr, and a quiet exit when the reader of a
 * listing goes away (EPIPE).
 */
#include "armor.h"
#include "commands.h"
#include "json.h"
#include "log.h"
#include "pgp.h"
#include "queue.h"
#include "spool.h"
#include "dedup.h"
#include "xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

static void
queue_usage(FILE *f)
{
	fprintf(f,
		"usage: pksbridge [-c FILE] queue COMMAND\n"
		"\n"
		"  list [--all] [--json]        pending entries (ready, deferred, held);\n"
		"                               --all adds finished ones\n"
		"  show ID [--json]             one entry in full, payload included\n"
		"  stats [--json]               counts by direction and state\n"
		"  retry ID...|--all            deliver deferred/failed entries now\n"
		"  hold ID...|--all             stop delivering pending entries\n"
		"  release ID...|--all          undo hold\n"
		"  delete ID...|--all           remove entries (--all: finished ones)\n"
		"\n"
		"An ID of \"-\" reads ids from stdin, one per line.\n");
}

/* Output goes through stdio; a closed pipe ends the listing quietly. */
static int
out_write(const struct buf *b)
{
	if (fwrite(b->data ? (const char *)b->data : "", 1, b->len, stdout) != b->len)
		return -1;
	return 0;
}

static void
entry_json(struct buf *b, const struct q_entry *e)
{
	int first = 1;

	buf_putc(b, '{');
	json_kv_str(b, "id", e->id, &first);
	json_kv_str(b, "direction", q_dir_name(e->dir), &first);
	json_kv_str(b, "state", q_state_name(e->state), &first);
	json_kv_str(b, "origin", q_origin_name(e->origin), &first);
	json_kv_str(b, "peer", e->peer, &first);
	json_kv_int(b, "created", e->created, &first);
	json_kv_int(b, "attempts", e->attempts, &first);
	json_kv_time(b, "next_attempt", q_state_pending(e->state) &&
		     e->state != QS_HELD ? (e->next_attempt ? e->next_attempt
							    : e->created) : 0,
		     &first);
	json_kv_str(b, "last_error", e->last_error, &first);
	json_kv_int(b, "size", (int64_t)e->size, &first);
	json_kv_str(b, "message_id", e->message_id, &first);
	json_key(b, "keys", &first);
	buf_putc(b, '[');
	for (size_t i = 0; i < e->nkeys; i++) {
		int kf = 1;

		if (i)
			buf_putc(b, ',');
		buf_putc(b, '{');
		json_kv_str(b, "fingerprint", e->keys[i].fpr, &kf);
		json_kv_str(b, "uid", e->keys[i].uid, &kf);
		buf_putc(b, '}');
	}
	buf_putc(b, ']');
	json_kv_str(b, "sender", e->sender, &first);
	json_kv_str(b, "parent", e->parent, &first);
	json_kv_int(b, "updated", e->updated, &first);
	json_key(b, "active", &first);
	buf_puts(b, e->lease_until > spool_now() ? "true" : "false");
	buf_putc(b, '}');
}

static void
fmt_time(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || !localtime_r(&tt, &tm))
		snprintf(out, len, "-");
	else
		strftime(out, len, "%a %b %e %H:%M:%S", &tm);
}

static void
entry_human(struct buf *b, const struct q_entry *e)
{
	char when[64];

	fmt_time(e->created, when, sizeof when);
	buf_printf(b, "%-14s%s %9llu %-20s %-8s %-11s %s\n", e->id,
		   e->state == QS_HELD ? "!" : e->lease_until > spool_now() ? "*" : " ",
		   (unsigned long long)e->size, when, q_dir_name(e->dir),
		   q_state_name(e->state),
		   e->peer ? e->peer : q_origin_name(e->origin));
	if (e->last_error)
		buf_printf(b, "%16s(%s)\n", "", e->last_error);
	for (size_t i = 0; i < e->nkeys; i++)
		buf_printf(b, "%16s%s %s\n", "", e->keys[i].fpr,
			   e->keys[i].uid ? e->keys[i].uid : "");
	buf_putc(b, '\n');
}

struct list_ctx {
	int all, json;
	size_t count;
	uint64_t bytes;
	int failed;
};

static int
list_cb(void *vctx, const struct q_entry *e)
{
	struct list_ctx *c = vctx;
	struct buf b = BUF_INIT;

	if (!c->all && !q_state_pending(e->state))
		return 0;
	if (c->json) {
		entry_json(&b, e);
		buf_putc(&b, '\n');
	} else {
		if (c->count == 0)
			buf_puts(&b, "-Queue ID-     --Size-- ----Arrival Time---- "
				 "-Dir---- -State----- -Peer/Origin-\n");
		entry_human(&b, e);
	}
	c->count++;
	c->bytes += e->size;
	if (out_write(&b) != 0)
		c->failed = 1;
	buf_free(&b);
	return c->failed;
}

static int
open_spool(const struct cmd_ctx *ctx, struct config *cfg, struct spool **sp)
{
	struct pb_err err;

	if (cmd_load_config(ctx, cfg, &err) != 0) {
		log_stderr("%s", err.msg);
		return EX_CONFIG;
	}
	if (spool_open(cfg->spool_dir, sp, &err) != 0) {
		log_stderr("%s", err.msg);
		return exitcode_for(err.status);
	}
	return 0;
}

static int
do_list(struct spool *sp, int argc, char **argv)
{
	struct list_ctx c = { 0, 0, 0, 0, 0 };
	struct pb_err err;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "-a") == 0)
			c.all = 1;
		else if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			c.json = 1;
		else {
			log_stderr("queue list: unknown argument %s", argv[i]);
			return EX_USAGE;
		}
	}
	if (queue_scan(sp, NULL, list_cb, &c, &err) != 0) {
		log_stderr("%s", err.msg);
		return exitcode_for(err.status);
	}
	if (c.failed)
		return errno == EPIPE ? 0 : EX_IOERR;
	if (!c.json) {
		if (c.count == 0)
			printf("Queue is empty\n");
		else
			printf("-- %llu Kbytes in %zu %s.\n",
			       (unsigned long long)(c.bytes + 1023) / 1024, c.count,
			       c.count == 1 ? "Entry" : "Entries");
	}
	return fflush(stdout) == 0 || errno == EPIPE ? 0 : EX_IOERR;
}

/* payload_text - what queue show prints as the payload: keys as one
 * armored block, raw quarantined text as it was kept. */
static void
payload_text(const struct q_entry *e, const struct buf *payload, struct buf *out)
{
	if (e->payload_kind == Q_PAYLOAD_KEYS) {
		struct armor_writer w;
		const unsigned char *k;
		size_t off = 0, klen;

		armor_writer_begin(&w, armor_out_buf, out);
		while (q_payload_next_key(payload->data, payload->len, &off, &k,
					  &klen) == 1)
			armor_writer_add(&w, k, klen);
		armor_writer_end(&w);
	} else if (payload->len) {
		buf_append(out, payload->data, payload->len);
	}
}

static int
do_show(struct spool *sp, int argc, char **argv)
{
	struct q_entry e;
	struct buf payload = BUF_INIT, text = BUF_INIT, b = BUF_INIT;
	struct pb_err err;
	const char *id = NULL;
	int json = 0, rc = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			json = 1;
		else if (!id && argv[i][0] != '-')
			id = argv[i];
		else {
			log_stderr("queue show: unexpected argument %s", argv[i]);
			return EX_USAGE;
		}
	}
	if (!id) {
		log_stderr("queue show: which ID?");
		return EX_USAGE;
	}
	if (queue_get(sp, NULL, id, 0, &e, &err) != 0 ||
	    queue_get_payload(sp, NULL, id, &payload, &err) != 0) {
		log_stderr("%s", err.msg);
		q_entry_free(&e);
		return exitcode_for(err.status);
	}
	payload_text(&e, &payload, &text);
	if (json) {
		entry_json(&b, &e);
		b.len--;	/* reopen the object to add the payload */
		buf_puts(&b, ",\"payload_kind\":");
		json_str(&b, e.payload_kind == Q_PAYLOAD_KEYS ? "keys" :
			 e.payload_kind == Q_PAYLOAD_RAW ? "raw" : "none");
		buf_puts(&b, ",\"payload\":");
		if (text.len)
			json_strn(&b, (const char *)text.data, text.len);
		else
			buf_puts(&b, "null");
		buf_puts(&b, "}\n");
	} else {
		char t1[64], t2[64], t3[64];

		fmt_time(e.created, t1, sizeof t1);
		fmt_time(e.updated, t2, sizeof t2);
		fmt_time(e.next_attempt, t3, sizeof t3);
		buf_printf(&b, "id:           %s\n", e.id);
		buf_printf(&b, "direction:    %s\n", q_dir_name(e.dir));
		buf_printf(&b, "state:        %s\n", q_state_name(e.state));
		buf_printf(&b, "origin:       %s\n", q_origin_name(e.origin));
		if (e.peer)
			buf_printf(&b, "peer:         %s\n", e.peer);
		if (e.sender)
			buf_printf(&b, "sender:       %s\n", e.sender);
		if (e.message_id)
			buf_printf(&b, "message-id:   <%s>\n", e.message_id);
		if (e.parent)
			buf_printf(&b, "parent:       %s\n", e.parent);
		buf_printf(&b, "created:      %s\n", t1);
		buf_printf(&b, "updated:      %s\n", t2);
		if (e.next_attempt && q_state_pending(e.state))
			buf_printf(&b, "next attempt: %s\n", t3);
		buf_printf(&b, "attempts:     %u\n", e.attempts);
		buf_printf(&b, "size:         %llu\n", (unsigned long long)e.size);
		if (e.last_error)
			buf_printf(&b, "last error:   %s\n", e.last_error);
		for (size_t i = 0; i < e.nkeys; i++)
			buf_printf(&b, "key:          %s %s\n", e.keys[i].fpr,
				   e.keys[i].uid ? e.keys[i].uid : "");
		if (text.len) {
			buf_puts(&b, "\n");
			buf_append(&b, text.data, text.len);
			if (text.data[text.len - 1] != '\n')
				buf_putc(&b, '\n');
		}
	}
	if (out_write(&b) != 0 && errno != EPIPE)
		rc = EX_IOERR;
	q_entry_free(&e);
	buf_free(&payload);
	buf_free(&text);
	buf_free(&b);
	return rc;
}

struct stats_ctx {
	uint64_t count[2][QS__COUNT];
	int64_t oldest_pending;
	int64_t now;
};

static int
stats_cb(void *vctx, const struct q_entry *e)
{
	struct stats_ctx *c = vctx;

	c->count[e->dir][e->state]++;
	if (q_state_pending(e->state) &&
	    (c->oldest_pending == 0 || e->created < c->oldest_pending))
		c->oldest_pending = e->created;
	return 0;
}

static int
do_stats(struct spool *sp, int argc, char **argv)
{
	struct stats_ctx c;
	struct pb_err err;
	struct buf b = BUF_INIT;
	uint64_t dedup_n = 0;
	int json = 0;
	int64_t oldest;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			json = 1;
		else {
			log_stderr("queue stats: unknown argument %s", argv[i]);
			return EX_USAGE;
		}
	}
	memset(&c, 0, sizeof c);
	c.now = spool_now();
	if (queue_scan(sp, NULL, stats_cb, &c, &err) != 0 ||
	    dedup_count(sp, NULL, &dedup_n, &err) != 0) {
		log_stderr("%s", err.msg);
		return exitcode_for(err.status);
	}
	oldest = c.oldest_pending ? c.now - c.oldest_pending : 0;
	if (oldest < 0)
		oldest = 0;
	if (json) {
		int first = 1;

		buf_putc(&b, '{');
		for (int d = 0; d < 2; d++) {
			int f2 = 1;

			json_key(&b, q_dir_name((enum q_dir)d), &first);
			buf_putc(&b, '{');
			for (int s = 0; s < QS__COUNT; s++)
				json_kv_int(&b, q_state_name((enum q_state)s),
					    (int64_t)c.count[d][s], &f2);
			buf_putc(&b, '}');
		}
		json_kv_int(&b, "dedup_entries", (int64_t)dedup_n, &first);
		json_kv_int(&b, "oldest_pending_seconds", oldest, &first);
		buf_puts(&b, "}\n");
	} else {
		buf_printf(&b, "%-12s", "");
		for (int s = 0; s < QS__COUNT; s++)
			buf_printf(&b, " %11s", q_state_name((enum q_state)s));
		buf_putc(&b, '\n');
		for (int d = 0; d < 2; d++) {
			buf_printf(&b, "%-12s", q_dir_name((enum q_dir)d));
			for (int s = 0; s < QS__COUNT; s++)
				buf_printf(&b, " %11llu",
					   (unsigned long long)c.count[d][s]);
			buf_putc(&b, '\n');
		}
		buf_printf(&b, "\ndedup index: %llu keys\n",
			   (unsigned long long)dedup_n);
		buf_printf(&b, "oldest pending entry: %lld s\n", (long long)oldest);
	}
	out_write(&b);
	buf_free(&b);
	return 0;
}

enum action { ACT_RETRY, ACT_HOLD, ACT_RELEASE, ACT_DELETE };

static const char *const action_done[] = {
	"Requeued", "Held", "Released", "Deleted",
};

struct action_ctx {
	enum action act;
	const char *id;
	int changed;	/* 1 if the entry changed */
	char why[160];	/* why not, when it did not */
};

static int
action_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct action_ctx *c = vctx;
	struct q_entry old, e;
	int64_t now = spool_now();
	int r;

	c->changed = 0;
	c->why[0] = '\0';
	if (c->act == ACT_DELETE) {
		if (queue_delete(sp, txn, c->id, err) != 0)
			return -1;
		c->changed = 1;
		return 0;
	}
	if (queue_get(sp, txn, c->id, 1, &old, err) != 0)
		return -1;
	q_entry_copy(&e, &old);
	switch (c->act) {
	case ACT_RETRY:
		if (e.state == QS_READY || e.state == QS_DEFERRED ||
		    e.state == QS_FAILED) {
			e.state = QS_READY;
			e.next_attempt = now;
			e.lease_until = 0;
			c->changed = 1;
		} else if (e.state == QS_HELD) {
			snprintf(c->why, sizeof c->why, "held (release it first)");
		} else {
			snprintf(c->why, sizeof c->why, "%s entries are not retried",
				 q_state_name(e.state));
		}
		break;
	case ACT_HOLD:
		if (e.state == QS_READY || e.state == QS_DEFERRED) {
			e.held_from = e.state;
			e.state = QS_HELD;
			c->changed = 1;
		} else {
			snprintf(c->why, sizeof c->why, "%s, not pending",
				 q_state_name(e.state));
		}
		break;
	case ACT_RELEASE:
		if (e.state == QS_HELD) {
			e.state = e.held_from == QS_DEFERRED ? QS_DEFERRED : QS_READY;
			if (e.next_attempt < now)
				e.next_attempt = now;
			c->changed = 1;
		} else {
			snprintf(c->why, sizeof c->why, "not held");
		}
		break;
	case ACT_DELETE:
		break;
	}
	r = c->changed ? queue_update(sp, txn, &old, &e, err) : 0;
	q_entry_free(&old);
	q_entry_free(&e);
	return r;
}

struct collect_ctx {
	enum action act;
	char (*ids)[QID_LEN + 1];
	size_t n;
};

static int
collect_cb(void *vctx, const struct q_entry *e)
{
	struct collect_ctx *c = vctx;
	int want;

	switch (c->act) {
	case ACT_RETRY:
		want = e->state == QS_DEFERRED || e->state == QS_FAILED;
		break;
	case ACT_HOLD:
		want = e->state == QS_READY || e->state == QS_DEFERRED;
		break;
	case ACT_RELEASE:
		want = e->state == QS_HELD;
		break;
	default:
		/* "delete --all" removes finished entries only; pending
		 * ones must be named, as with postsuper -d. */
		want = !q_state_pending(e->state);
		break;
	}
	if (want) {
		c->ids = xreallocarray(c->ids, c->n + 1, sizeof *c->ids);
		memcpy(c->ids[c->n++], e->id, QID_LEN + 1);
	}
	return 0;
}

static int
do_action(struct spool *sp, enum action act, const char *name, int argc,
	  char **argv)
{
	struct collect_ctx col = { act, NULL, 0 };
	struct pb_err err;
	size_t changed = 0;
	int rc = 0, all = 0, any = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "ALL") == 0) {
			all = 1;
		} else if (strcmp(argv[i], "-") == 0) {
			char line[256];

			while (fgets(line, sizeof line, stdin)) {
				line[strcspn(line, " \t\r\n")] = '\0';
				if (!line[0])
					continue;
				col.ids = xreallocarray(col.ids, col.n + 1,
							sizeof *col.ids);
				/* Longer garbage is cut and then not found. */
				line[QID_LEN] = '\0';
				memcpy(col.ids[col.n++], line, QID_LEN + 1);
			}
			any = 1;
		} else if (argv[i][0] == '-') {
			log_stderr("queue %s: unknown option %s", name, argv[i]);
			free(col.ids);
			return EX_USAGE;
		} else {
			col.ids = xreallocarray(col.ids, col.n + 1, sizeof *col.ids);
			snprintf(col.ids[col.n++], QID_LEN + 1, "%s", argv[i]);
			any = 1;
		}
	}
	if (!all && !any) {
		log_stderr("queue %s: give one or more IDs, \"-\" or --all", name);
		return EX_USAGE;
	}
	if (all && queue_scan(sp, NULL, collect_cb, &col, &err) != 0) {
		log_stderr("%s", err.msg);
		free(col.ids);
		return exitcode_for(err.status);
	}
	for (size_t i = 0; i < col.n; i++) {
		struct action_ctx c = { act, col.ids[i], 0, "" };

		if (spool_txn(sp, SPOOL_SYNC, action_fn, &c, &err) != 0) {
			log_stderr("%s", err.msg);
			rc = exitcode_for(err.status);
			continue;
		}
		if (c.changed) {
			changed++;
			log_info(col.ids[i], "%s by operator", action_done[act]);
		} else if (!all) {
			log_stderr("%s: not changed: %s", col.ids[i], c.why);
		}
	}
	free(col.ids);
	fprintf(stderr, "%s: %zu %s\n", action_done[act], changed,
		changed == 1 ? "entry" : "entries");
	if (changed && (act == ACT_RETRY || act == ACT_RELEASE))
		spool_wake_runner(sp);
	return rc;
}

int
cmd_queue(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct config cfg;
	struct spool *sp = NULL;
	const char *sub;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		queue_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE : 0;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			queue_usage(stdout);
			return 0;
		}
	}
	sub = argv[1];
	if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "stats") &&
	    strcmp(sub, "retry") && strcmp(sub, "hold") && strcmp(sub, "release") &&
	    strcmp(sub, "delete")) {
		log_stderr("queue: unknown command \"%s\"", sub);
		queue_usage(stderr);
		return EX_USAGE;
	}
	log_open("queue", LOG_DEST_STDERR, 0);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = open_spool(ctx, &cfg, &sp)) != 0) {
		config_free(&cfg);
		return rc;
	}
	/* Operator actions are logged where the rest of the mail log is. */
	log_set_dest(cfg.log_dest);
	if (strcmp(sub, "list") == 0)
		rc = do_list(sp, argc - 2, argv + 2);
	else if (strcmp(sub, "show") == 0)
		rc = do_show(sp, argc - 2, argv + 2);
	else if (strcmp(sub, "stats") == 0)
		rc = do_stats(sp, argc - 2, argv + 2);
	else if (strcmp(sub, "retry") == 0)
		rc = do_action(sp, ACT_RETRY, sub, argc - 2, argv + 2);
	else if (strcmp(sub, "hold") == 0)
		rc = do_action(sp, ACT_HOLD, sub, argc - 2, argv + 2);
	else if (strcmp(sub, "release") == 0)
		rc = do_action(sp, ACT_RELEASE, sub, argc - 2, argv + 2);
	else
		rc = do_action(sp, ACT_DELETE, sub, argc - 2, argv + 2);
	spool_close(sp);
	config_free(&cfg);
	return rc;
}
