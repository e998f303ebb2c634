/*
 * qreport.c - views of the queue for the CLI (see qreport.h).
 *
 * The table follows mailq/postqueue -p where an operator's eyes already
 * know where to look: id with '*' (being delivered) or '!' (held) right
 * after it, size, then what pksbridge adds (age, direction, state, peer),
 * the reason in parentheses on the next line, indented details, a blank
 * line between entries and a "-- N Kbytes in M Entries." footer.
 */
#include "cmd/qreport.h"
#include "config/config.h"
#include "util/json.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void
q_filter_init(struct q_filter *f)
{
	memset(f, 0, sizeof *f);
	f->dir = -1;
}

void
q_filter_free(struct q_filter *f)
{
	free(f->peer);
	q_filter_init(f);
}

int
q_states_parse(const char *list, unsigned *set_r)
{
	unsigned set = 0;
	const char *p = list;

	if (!*p)
		return -1;
	while (*p) {
		size_t n = strcspn(p, ",");
		char name[32];
		enum q_state s;

		if (n == 0 || n >= sizeof name)
			return -1;
		memcpy(name, p, n);
		name[n] = '\0';
		if (strcmp(name, "pending") == 0)
			set |= QSET_PENDING;
		else if (strcmp(name, "finished") == 0)
			set |= QSET_FINISHED;
		else if (strcmp(name, "all") == 0)
			set |= QSET_ALL;
		else if (q_state_from_name(name, &s) == 0)
			set |= QSET(s);
		else
			return -1;
		p += n;
		if (*p == ',' && *++p == '\0')
			return -1;
	}
	*set_r = set;
	return 0;
}

/* option_value - the value of --name VALUE or --name=VALUE at argv[*i];
 * NULL if argv[*i] is not that option.  *missing set if the value is
 * absent. */
static const char *
option_value(const char *name, int argc, char **argv, int *i, int *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	*missing = 0;
	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return "";
	}
	return argv[++*i];
}

int
q_filter_option(struct q_filter *f, int argc, char **argv, int *i,
		struct pb_err *err)
{
	const char *v;
	int missing;

	if ((v = option_value("--state", argc, argv, i, &missing))) {
		unsigned set;

		if (missing || q_states_parse(v, &set) != 0)
			return pb_err_set(err, PB_EUSAGE, "--state wants a comma-"
					  "separated list of ready, deferred, held, "
					  "done, failed, quarantined, duplicate, "
					  "suppressed, loop, blocked (or pending, finished, "
					  "all), not \"%s\"", v);
		f->states |= set;
		return 1;
	}
	if ((v = option_value("--direction", argc, argv, i, &missing))) {
		if (strcmp(v, "inbound") == 0 || strcmp(v, "in") == 0)
			f->dir = Q_INBOUND;
		else if (strcmp(v, "outbound") == 0 || strcmp(v, "out") == 0)
			f->dir = Q_OUTBOUND;
		else if (strcmp(v, "reply") == 0) {
			/* What a listing's Dir column calls "reply": outbound
			 * entries answering a mail command. */
			f->dir = Q_OUTBOUND;
			f->replies = 1;
		} else
			return pb_err_set(err, PB_EUSAGE, "--direction wants "
					  "inbound, outbound or reply, not \"%s\"", v);
		return 1;
	}
	if ((v = option_value("--peer", argc, argv, i, &missing))) {
		if (missing || !*v || strchr(v, '@') == NULL)
			return pb_err_set(err, PB_EUSAGE, "--peer wants an address "
					  "(a@b) or a domain (@b), not \"%s\"", v);
		free(f->peer);
		f->peer = xstrdup(v);
		return 1;
	}
	if ((v = option_value("--since", argc, argv, i, &missing))) {
		int64_t d;

		if (missing || config_parse_duration(v, &d) != 0 || d <= 0)
			return pb_err_set(err, PB_EUSAGE, "--since wants a duration "
					  "such as 90s, 30m, 2h or 7d, not \"%s\"", v);
		f->since = d;
		return 1;
	}
	return 0;
}

int
q_filter_given(const struct q_filter *f)
{
	return f->states || f->dir >= 0 || f->peer || f->since;
}

static int
peer_matches(const char *want, const char *peer)
{
	size_t wl, pl;

	if (!peer)
		return 0;
	if (want[0] != '@')
		return strcasecmp(want, peer) == 0;
	/* "@example.org": the peer's domain, exactly. */
	wl = strlen(want);
	pl = strlen(peer);
	return pl > wl && strcasecmp(peer + pl - wl, want) == 0;
}

int
q_filter_match(const struct q_filter *f, const struct q_entry *e,
	       unsigned default_states, int64_t now)
{
	unsigned states = f->states ? f->states : default_states;

	if ((unsigned)e->state >= QS__COUNT || !(states & QSET(e->state)))
		return 0;
	if (f->dir >= 0 && (int)e->dir != f->dir)
		return 0;
	if (f->replies && e->kind != Q_KIND_REPLY)
		return 0;
	if (f->peer && !peer_matches(f->peer, e->peer))
		return 0;
	if (f->since && e->created < now - f->since)
		return 0;
	return 1;
}

const char *
qreport_age(int64_t secs, char *buf, size_t len)
{
	static const struct { int64_t n; char u; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	size_t i;

	if (secs <= 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	for (i = 0; secs < units[i].n; i++)
		;
	if (i + 1 < sizeof units / sizeof units[0] &&
	    (secs % units[i].n) / units[i + 1].n > 0)
		snprintf(buf, len, "%lld%c%lld%c", (long long)(secs / units[i].n),
			 units[i].u,
			 (long long)((secs % units[i].n) / units[i + 1].n),
			 units[i + 1].u);
	else
		snprintf(buf, len, "%lld%c", (long long)(secs / units[i].n),
			 units[i].u);
	return buf;
}

/* display_char - length of the character at s (n bytes left) if it is
 * valid UTF-8 and no control character, or 0. */
static size_t
display_char(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len = utf8_char(s, n, &cp);

	return len && !utf8_control(cp) ? len : 0;
}

void
qreport_text(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0;

	while (i < len) {
		size_t n = display_char(p + i, len - i);

		if (n == 0) {
			buf_putc(b, '?');
			i++;
		} else {
			buf_append(b, p + i, n);
			i += n;
		}
	}
}

void
qreport_entry_json(struct buf *b, const struct q_entry *e, int64_t now)
{
	int first = 1;

	buf_putc(b, '{');
	json_kv_str(b, "id", e->id, &first);
	json_kv_str(b, "direction", q_dir_name(e->dir), &first);
	json_kv_str(b, "state", q_state_name(e->state), &first);
	json_kv_str(b, "origin", q_origin_name(e->origin), &first);
	json_kv_str(b, "kind", q_kind_name(e->kind), &first);
	json_kv_str(b, "peer", e->peer, &first);
	json_kv_int(b, "created", e->created, &first);
	json_kv_int(b, "attempts", e->attempts, &first);
	/* A pending entry without a next attempt is due since creation. */
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
		/* Recorded as JSON by the delivery (policy_result_json). */
		if (e->keys[i].policy) {
			json_key(b, "policy", &kf);
			buf_puts(b, e->keys[i].policy);
		}
		buf_putc(b, '}');
	}
	buf_putc(b, ']');
	json_kv_str(b, "sender", e->sender, &first);
	json_kv_str(b, "parent", e->parent, &first);
	json_kv_int(b, "updated", e->updated, &first);
	json_key(b, "active", &first);
	buf_puts(b, q_entry_lease_holder(e, now) != 0 ? "true" : "false");
	json_kv_int(b, "age_seconds", now > e->created ? now - e->created : 0,
		    &first);
	buf_putc(b, '}');
}

void
qreport_list_header(struct buf *b)
{
	buf_puts(b, "-Queue ID-     --Size-- --Age-- -Dir---- -State----- "
		 "-Peer/Origin-\n");
}

void
qreport_entry_human(struct buf *b, const struct q_entry *e, int64_t now,
		    size_t max_keys)
{
	char age[32], next[32];
	int sched = (e->state == QS_READY || e->state == QS_DEFERRED) &&
		    e->next_attempt > now;
	int tries = q_state_pending(e->state) && e->attempts > 0;

	qreport_age(now - e->created, age, sizeof age);
	/* A reply shows as such where the direction goes: its peer is a
	 * person, not a PKS peer. */
	buf_printf(b, "%-14s%c %8llu %7s %-8s %-11s ", e->id,
		   e->state == QS_HELD ? '!' : q_entry_lease_holder(e, now) != 0 ? '*' : ' ',
		   (unsigned long long)e->size, age,
		   e->kind == Q_KIND_REPLY ? "reply" : q_dir_name(e->dir),
		   q_state_name(e->state));
	qreport_text(b, e->peer ? e->peer : q_origin_name(e->origin));
	buf_putc(b, '\n');
	if (sched || tries || e->last_error) {
		buf_printf(b, "%16s(", "");
		if (sched)
			buf_printf(b, "next attempt in %s",
				   qreport_age(e->next_attempt - now, next,
					       sizeof next));
		if (tries)
			buf_printf(b, "%s%u attempt%s", sched ? ", " : "",
				   e->attempts, e->attempts == 1 ? "" : "s");
		if (e->last_error) {
			if (sched || tries)
				buf_puts(b, ": ");
			qreport_text(b, e->last_error);
		}
		buf_puts(b, ")\n");
	}
	for (size_t i = 0; i < e->nkeys && i < max_keys; i++) {
		buf_printf(b, "%16s%s", "", e->keys[i].fpr);
		if (e->keys[i].uid) {
			buf_putc(b, ' ');
			qreport_text(b, e->keys[i].uid);
		}
		buf_putc(b, '\n');
	}
	if (e->nkeys > max_keys)
		buf_printf(b, "%16s(%zu more keys: queue show %s)\n", "",
			   e->nkeys - max_keys, e->id);
	buf_putc(b, '\n');
}

void
qreport_list_footer(struct buf *b, size_t entries, uint64_t bytes, int filtered)
{
	if (entries == 0)
		buf_puts(b, filtered ? "No matching entries\n" : "Queue is empty\n");
	else
		buf_printf(b, "-- %llu Kbytes in %zu %s.\n",
			   (unsigned long long)(bytes + 1023) / 1024, entries,
			   entries == 1 ? "Entry" : "Entries");
}

void
q_stats_init(struct q_stats *s, int64_t now)
{
	memset(s, 0, sizeof *s);
	s->now = now;
}

void
q_stats_free(struct q_stats *s)
{
	for (size_t i = 0; i < s->npeers; i++) {
		free(s->peers[i].peer);
		free(s->peers[i].last_error);
	}
	free(s->peers);
	free(s->counters);
	memset(s, 0, sizeof *s);
}

/* peer_slot - the stats of peer, added in sorted place if new. */
static struct q_peer_stats *
peer_slot(struct q_stats *s, const char *peer)
{
	size_t lo = 0, hi = s->npeers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcasecmp(peer, s->peers[mid].peer);

		if (c == 0)
			return &s->peers[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	s->peers = xreallocarray(s->peers, s->npeers + 1, sizeof *s->peers);
	memmove(&s->peers[lo + 1], &s->peers[lo],
		(s->npeers - lo) * sizeof *s->peers);
	s->npeers++;
	memset(&s->peers[lo], 0, sizeof s->peers[lo]);
	s->peers[lo].peer = xstrdup(peer);
	return &s->peers[lo];
}

void
q_stats_add(struct q_stats *s, const struct q_entry *e)
{
	struct q_peer_stats *p;
	int pending = q_state_pending(e->state);

	if ((unsigned)e->state >= QS__COUNT ||
	    (unsigned)e->dir > Q_OUTBOUND)
		return;
	s->count[e->dir][e->state]++;
	if (pending && (s->oldest_pending == 0 || e->created < s->oldest_pending))
		s->oldest_pending = e->created;
	/* Requesters are not peers: replies count in the totals only. */
	if (e->dir != Q_OUTBOUND || !e->peer || e->kind != Q_KIND_SYNC)
		return;
	p = peer_slot(s, e->peer);
	p->count[e->state]++;
	if (pending && (p->oldest_pending == 0 || e->created < p->oldest_pending))
		p->oldest_pending = e->created;
	if (e->state == QS_DONE && e->updated > p->last_success)
		p->last_success = e->updated;
	/* Errors of entries still trying or given up on; a duplicate's or a
	 * suppressed entry's "last_error" says why it was not sent, which is
	 * no failure of the peer. */
	if (e->last_error && (pending || e->state == QS_FAILED) &&
	    e->updated >= p->last_error_time) {
		free(p->last_error);
		p->last_error = xstrdup(e->last_error);
		p->last_error_time = e->updated;
	}
}

int64_t
q_stats_oldest_seconds(const struct q_stats *s)
{
	if (!s->oldest_pending || s->now <= s->oldest_pending)
		return 0;
	return s->now - s->oldest_pending;
}

static int64_t
peer_pending(const struct q_peer_stats *p)
{
	return (int64_t)(p->count[QS_READY] + p->count[QS_DEFERRED] +
			 p->count[QS_HELD]);
}

static int64_t
age_of(const struct q_stats *s, int64_t t)
{
	return t && s->now > t ? s->now - t : 0;
}

void
q_stats_json(struct buf *b, const struct q_stats *s)
{
	int first = 1;

	buf_putc(b, '{');
	for (int d = 0; d < 2; d++) {
		int f2 = 1;

		json_key(b, q_dir_name((enum q_dir)d), &first);
		buf_putc(b, '{');
		for (int st = 0; st < QS__COUNT; st++)
			json_kv_int(b, q_state_name((enum q_state)st),
				    (int64_t)s->count[d][st], &f2);
		buf_putc(b, '}');
	}
	json_kv_int(b, "dedup_entries", (int64_t)s->dedup_entries, &first);
	json_kv_int(b, "oldest_pending_seconds", q_stats_oldest_seconds(s),
		    &first);
	json_kv_int(b, "now", s->now, &first);
	json_key(b, "peers", &first);
	buf_putc(b, '{');
	for (size_t i = 0; i < s->npeers; i++) {
		const struct q_peer_stats *p = &s->peers[i];
		int pf = 1, sf = 1;

		if (i)
			buf_putc(b, ',');
		json_str(b, p->peer);
		buf_putc(b, ':');
		buf_putc(b, '{');
		json_kv_int(b, "pending", peer_pending(p), &pf);
		json_kv_int(b, "deferred", (int64_t)p->count[QS_DEFERRED], &pf);
		json_kv_int(b, "held", (int64_t)p->count[QS_HELD], &pf);
		json_kv_int(b, "failed", (int64_t)p->count[QS_FAILED], &pf);
		json_kv_int(b, "oldest_pending_seconds",
			    age_of(s, p->oldest_pending), &pf);
		json_kv_time(b, "last_success", p->last_success, &pf);
		json_kv_str(b, "last_error", p->last_error, &pf);
		json_kv_time(b, "last_error_time",
			     p->last_error ? p->last_error_time : 0, &pf);
		json_key(b, "states", &pf);
		buf_putc(b, '{');
		for (int st = 0; st < QS__COUNT; st++)
			json_kv_int(b, q_state_name((enum q_state)st),
				    (int64_t)p->count[st], &sf);
		buf_puts(b, "}}");
	}
	buf_puts(b, "}}\n");
}

/* ago - "12m ago", or "never" for 0. */
static const char *
ago(const struct q_stats *s, int64_t t, char *buf, size_t len)
{
	char a[32];

	if (t == 0)
		snprintf(buf, len, "never");
	else
		snprintf(buf, len, "%s ago", qreport_age(s->now - t, a, sizeof a));
	return buf;
}

void
q_stats_human(struct buf *b, const struct q_stats *s)
{
	char age[32];
	int64_t oldest = q_stats_oldest_seconds(s);
	int w = 24;

	buf_printf(b, "%-12s %9s %9s\n", "state", "inbound", "outbound");
	for (int st = 0; st < QS__COUNT; st++)
		buf_printf(b, "%-12s %9llu %9llu\n", q_state_name((enum q_state)st),
			   (unsigned long long)s->count[Q_INBOUND][st],
			   (unsigned long long)s->count[Q_OUTBOUND][st]);
	buf_printf(b, "\ndedup index: %llu keys\n",
		   (unsigned long long)s->dedup_entries);
	if (s->oldest_pending)
		buf_printf(b, "oldest pending entry: %s (%lld s)\n",
			   qreport_age(oldest, age, sizeof age), (long long)oldest);
	else
		buf_puts(b, "oldest pending entry: none\n");

	buf_putc(b, '\n');
	if (s->npeers == 0) {
		buf_puts(b, "peers: no outbound entries in the queue\n");
		return;
	}
	for (size_t i = 0; i < s->npeers; i++)
		if ((int)strlen(s->peers[i].peer) > w)
			w = (int)strlen(s->peers[i].peer);
	buf_printf(b, "%-*s %7s %8s %4s %6s %7s %12s  %s\n", w, "peer",
		   "pending", "deferred", "held", "failed", "oldest",
		   "last success", "last error");
	for (size_t i = 0; i < s->npeers; i++) {
		const struct q_peer_stats *p = &s->peers[i];
		char old[32], ok[48], errt[48];
		struct buf peer = BUF_INIT;

		qreport_text(&peer, p->peer);
		if (p->oldest_pending)
			qreport_age(age_of(s, p->oldest_pending), old, sizeof old);
		else
			snprintf(old, sizeof old, "-");
		buf_printf(b, "%-*s %7lld %8llu %4llu %6llu %7s %12s  ", w,
			   buf_str(&peer), (long long)peer_pending(p),
			   (unsigned long long)p->count[QS_DEFERRED],
			   (unsigned long long)p->count[QS_HELD],
			   (unsigned long long)p->count[QS_FAILED], old,
			   ago(s, p->last_success, ok, sizeof ok));
		if (p->last_error) {
			buf_printf(b, "%s: ", ago(s, p->last_error_time, errt,
						  sizeof errt));
			qreport_text(b, p->last_error);
		} else {
			buf_putc(b, '-');
		}
		buf_putc(b, '\n');
		buf_free(&peer);
	}
}

/* prom_label - a label value: UTF-8 with \\, \" and \n escaped (the
 * format's only escapes); invalid bytes become U+FFFD. */
static void
prom_label(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0;

	buf_putc(b, '"');
	while (i < len) {
		size_t n;

		if (p[i] == '\\' || p[i] == '"') {
			buf_putc(b, '\\');
			buf_putc(b, p[i++]);
			continue;
		}
		if (p[i] == '\n') {
			buf_puts(b, "\\n");
			i++;
			continue;
		}
		n = p[i] < 0x80 ? 1 : display_char(p + i, len - i);
		if (n == 0) {
			buf_puts(b, "\xEF\xBF\xBD");
			i++;
		} else {
			buf_append(b, p + i, n);
			i += n;
		}
	}
	buf_putc(b, '"');
}

static void
prom_family(struct buf *b, const char *name, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* prom_counters - the spool's counters named prefix:DOOR:VALUE as the
 * counter family name{door="DOOR",label="VALUE"}. */
static void
prom_counters(struct buf *b, const struct q_stats *s, const char *prefix,
	      const char *name, const char *label, const char *help)
{
	size_t pl = strlen(prefix);
	int any = 0;

	for (size_t i = 0; i < s->ncounters; i++) {
		const char *n = s->counters[i].name, *door, *sep;

		if (strncmp(n, prefix, pl) != 0 || n[pl] != ':')
			continue;
		door = n + pl + 1;
		if (!(sep = strchr(door, ':')))
			continue;
		if (!any++)
			buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help,
				   name);
		buf_printf(b, "%s{door=\"%.*s\",%s=\"%s\"} %llu\n", name,
			   (int)(sep - door), door, label, sep + 1,
			   (unsigned long long)s->counters[i].value);
	}
}

void
q_stats_prometheus(struct buf *b, const struct q_stats *s)
{
	int any;


	prom_family(b, "pksbridge_queue_entries",
		    "Queue entries by direction and state.");
	for (int d = 0; d < 2; d++)
		for (int st = 0; st < QS__COUNT; st++)
			buf_printf(b, "pksbridge_queue_entries{direction=\"%s\","
				   "state=\"%s\"} %llu\n", q_dir_name((enum q_dir)d),
				   q_state_name((enum q_state)st),
				   (unsigned long long)s->count[d][st]);
	prom_family(b, "pksbridge_oldest_pending_seconds",
		    "Age of the oldest pending (ready, deferred or held) entry; "
		    "0 if none.");
	buf_printf(b, "pksbridge_oldest_pending_seconds %lld\n",
		   (long long)q_stats_oldest_seconds(s));
	prom_family(b, "pksbridge_dedup_entries", "Keys in the dedup index.");
	buf_printf(b, "pksbridge_dedup_entries %llu\n",
		   (unsigned long long)s->dedup_entries);
	prom_counters(b, s, "policy_keys", "pksbridge_policy_keys_total",
		      "verdict", "Keys the key policy judged, by door and "
		      "verdict (counted when their entry finished).");
	prom_counters(b, s, "policy_dropped",
		      "pksbridge_policy_dropped_packets_total", "reason",
		      "Packets the key policy dropped, by door and reason.");
	if (s->npeers == 0)
		return;

	prom_family(b, "pksbridge_peer_entries",
		    "Outbound entries by PKS peer and state.");
	for (size_t i = 0; i < s->npeers; i++)
		for (int st = 0; st < QS__COUNT; st++) {
			buf_puts(b, "pksbridge_peer_entries{peer=");
			prom_label(b, s->peers[i].peer);
			buf_printf(b, ",state=\"%s\"} %llu\n",
				   q_state_name((enum q_state)st),
				   (unsigned long long)s->peers[i].count[st]);
		}
	prom_family(b, "pksbridge_peer_oldest_pending_seconds",
		    "Age of the peer's oldest pending entry; 0 if none.");
	for (size_t i = 0; i < s->npeers; i++) {
		buf_puts(b, "pksbridge_peer_oldest_pending_seconds{peer=");
		prom_label(b, s->peers[i].peer);
		buf_printf(b, "} %lld\n",
			   (long long)age_of(s, s->peers[i].oldest_pending));
	}
	any = 0;
	for (size_t i = 0; i < s->npeers; i++) {
		if (!s->peers[i].last_success)
			continue;
		if (!any++)
			prom_family(b, "pksbridge_peer_last_success_timestamp_seconds",
				    "When an entry for the peer was last delivered "
				    "(among entries still in the queue).");
		buf_puts(b, "pksbridge_peer_last_success_timestamp_seconds{peer=");
		prom_label(b, s->peers[i].peer);
		buf_printf(b, "} %lld\n", (long long)s->peers[i].last_success);
	}
	any = 0;
	for (size_t i = 0; i < s->npeers; i++) {
		if (!s->peers[i].last_error)
			continue;
		if (!any++)
			prom_family(b, "pksbridge_peer_last_error_timestamp_seconds",
				    "When a pending or failed entry for the peer last "
				    "recorded an error.");
		buf_puts(b, "pksbridge_peer_last_error_timestamp_seconds{peer=");
		prom_label(b, s->peers[i].peer);
		buf_printf(b, "} %lld\n", (long long)s->peers[i].last_error_time);
	}
}
