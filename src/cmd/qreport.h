/*
 * qreport.h - views of the queue for the CLI: which entries an operator
 * means (filters), how one entry looks (a mailq-style table for people,
 * a JSON object for scripts), and statistics derived from the entries
 * (counts by direction and state, ages, per-peer state) for people, JSON
 * and Prometheus.
 *
 * Pure functions over struct q_entry and struct buf: no I/O and no clock
 * (callers pass "now"), so the formats are unit-tested with fixed input.
 * Per-peer state is derived from the outbound entries themselves (there
 * is no separate peer record to drift out of step): "last success" is
 * the newest delivered entry for that peer still in the queue, so it
 * goes back only as far as "queue purge" left finished entries.
 */
#ifndef PB_QREPORT_H
#define PB_QREPORT_H

#include <stdint.h>

#include "spool/counters.h"
#include "spool/queue.h"
#include "util/buf.h"
#include "util/err.h"

/* Bit sets of enum q_state. */
#define QSET(s) (1u << (s))
#define QSET_PENDING (QSET(QS_READY) | QSET(QS_DEFERRED) | QSET(QS_HELD))
#define QSET_ALL ((1u << QS__COUNT) - 1)
#define QSET_FINISHED (QSET_ALL & ~QSET_PENDING)

/* Which entries: every field narrows; unset fields match everything. */
struct q_filter {
	unsigned states;	/* QSET bits; 0 = not given */
	int dir;		/* -1 = any, else enum q_dir */
	int replies;		/* --direction reply: outbound replies only
				 * (the Dir column's "reply") */
	char *peer;		/* owned; "a@b" exact, "@b" by domain; any case */
	int64_t since;		/* created within this many seconds; 0 = any */
};

void q_filter_init(struct q_filter *f);
void q_filter_free(struct q_filter *f);

/* q_filter_option - if argv[*i] is a filter option (--state S[,S],
 * --direction D, --peer ADDR, --since DURATION, or --opt=value), take
 * it and its value, leave *i on the last word used and return 1; return
 * 0 if it is not one; -1 with err (what is wrong and what is accepted)
 * for a bad or missing value. */
int q_filter_option(struct q_filter *f, int argc, char **argv, int *i,
		    struct pb_err *err);

/* q_filter_given - any filter option was used. */
int q_filter_given(const struct q_filter *f);

/* q_filter_match - e passes f.  When f names no states, default_states
 * decides (QSET_ALL for everything). */
int q_filter_match(const struct q_filter *f, const struct q_entry *e,
		   unsigned default_states, int64_t now);

/* q_states_parse - "ready,deferred" (also "pending", "finished", "all")
 * into QSET bits; -1 if a name is unknown. */
int q_states_parse(const char *list, unsigned *set_r);

/* qreport_age - secs as at most two units: "45s", "12m", "3h12m",
 * "2d3h"; "0s" for 0 or less.  Returns buf (at least 16 bytes). */
const char *qreport_age(int64_t secs, char *buf, size_t len);

/* qreport_text - append s for a terminal: valid printable UTF-8 as is,
 * control characters and invalid bytes as '?', so a user id or error
 * text from a mail cannot move the cursor or forge lines. */
void qreport_text(struct buf *b, const char *s);

/* One entry as a JSON object (no newline): the fields of docs/JSON.md. */
void qreport_entry_json(struct buf *b, const struct q_entry *e, int64_t now);

/* The queue list table: header, one block per entry, footer.  max_keys
 * bounds the key lines per entry (the rest are counted). */
void qreport_list_header(struct buf *b);
void qreport_entry_human(struct buf *b, const struct q_entry *e, int64_t now,
			 size_t max_keys);
void qreport_list_footer(struct buf *b, size_t entries, uint64_t bytes,
			 int filtered);

/* Per-peer state, derived from that peer's outbound entries. */
struct q_peer_stats {
	char *peer;			/* owned */
	uint64_t count[QS__COUNT];
	int64_t oldest_pending;		/* created of the oldest pending, 0 = none */
	int64_t last_success;		/* updated of the newest done, 0 = none */
	int64_t last_error_time;	/* updated of the newest with an error */
	char *last_error;		/* owned; NULL = none */
};

struct q_stats {
	int64_t now;
	uint64_t count[2][QS__COUNT];
	int64_t oldest_pending;		/* created; 0 = nothing pending */
	uint64_t dedup_entries;
	struct q_peer_stats *peers;	/* owned, sorted by address */
	size_t npeers;
	struct counter *counters;	/* the spool's counters (owned; the
					 * key policy's: policy_keys:DOOR:
					 * VERDICT, policy_dropped:DOOR:
					 * REASON) */
	size_t ncounters;
};

void q_stats_init(struct q_stats *s, int64_t now);
/* q_stats_add - count one entry. */
void q_stats_add(struct q_stats *s, const struct q_entry *e);
void q_stats_free(struct q_stats *s);
/* q_stats_oldest_seconds - age of the oldest pending entry, 0 if none. */
int64_t q_stats_oldest_seconds(const struct q_stats *s);

/* The stats as one JSON object + newline, as a table for people, and in
 * the Prometheus text exposition format 0.0.4. */
void q_stats_json(struct buf *b, const struct q_stats *s);
void q_stats_human(struct buf *b, const struct q_stats *s);
void q_stats_prometheus(struct buf *b, const struct q_stats *s);

#endif
