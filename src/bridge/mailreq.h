/*
 * mailreq.h - a mail command as the queue keeps it until it is answered.
 *
 * A reply is looked up and composed when it is delivered, not when the
 * request arrives (so a retry gets a fresh answer, and the filter never
 * waits for the key database): what the reply entry keeps is therefore
 * the request, never the answer and never the request mail.  It is the
 * parsed command, the request's References (for the reply's own), and,
 * for ADD, one line per key saying what became of it.  The request's
 * Message-ID is the entry's (q_entry.message_id).
 *
 * The encoding is a record.h record, so a newer pksbridge may add
 * fields; decoding checks every length and every bound mailcmd.h
 * promises, because a reply built from a damaged record still goes to
 * a person.
 */
#ifndef PB_MAILREQ_H
#define PB_MAILREQ_H

#include <stddef.h>

#include "mail/mailcmd.h"
#include "openpgp/pgp.h"
#include "util/buf.h"
#include "util/err.h"

#define MAILREQ_FACTS_MAX 2000		/* facts an ADD reply lists */
#define MAILREQ_TEXT_MAX 600		/* bytes of a fact's uid or why */

/* What became of an ADD's keys.  A key fact names the key (fpr, uid);
 * a mail fact does not. */
enum mailreq_fact_kind {
	MAILREQ_SEEN = 1,	/* key: nothing new: this keyserver received
				 * it within dedup_ttl (ingest) */
	MAILREQ_REFUSED,	/* mail: pieces refused at ingest (why) */
	MAILREQ_REJECTED,	/* key: the key check rejected it (why) */
	MAILREQ_ACCEPTED,	/* key: delivered; the database could not
				 * say what it added */
	MAILREQ_NEW,		/* key: the database did not have it */
	MAILREQ_ADDED,		/* key: what the database's copy lacked
				 * (the counts; all 0: nothing new) */
	MAILREQ_DB_REFUSED,	/* mail: the database refused its keys (why) */
	MAILREQ_MERGED_LATER,	/* mail: the database merges them later and
				 * reports no refusals (keydb.h) */
	MAILREQ__KINDS
};

struct mailreq_fact {
	enum mailreq_fact_kind kind;
	char fpr[2 * PGP_FPR_MAX + 1];	/* key facts: upper-case hex */
	char *uid;		/* key facts: primary user ID, or NULL */
	uint32_t uids, subkeys, sigs, other;	/* ADDED */
	char *why;		/* REFUSED, REJECTED, DB_REFUSED */
};

struct mailreq {
	struct mailcmd cmd;
	char *references;	/* the request's References, or NULL */
	struct mailreq_fact *facts;	/* ADD: what became of its keys */
	size_t nfacts;
	int more_facts;		/* more than MAILREQ_FACTS_MAX were recorded */
	/* What an older pksbridge recorded instead of facts: the reply's
	 * lines, already written (read from old records only). */
	char **lines;
	size_t nlines;
};

/* mailreq_add_fact - append a copy of f (uid and why cut at
 * MAILREQ_TEXT_MAX bytes, made valid UTF-8 without control characters);
 * past MAILREQ_FACTS_MAX, only more_facts is set. */
void mailreq_add_fact(struct mailreq *r, const struct mailreq_fact *f);

/* mailreq_key_fact - a fact of kind about key (its fingerprint, and its
 * primary user ID borrowed from key; counts 0, why NULL): fill in the
 * rest and add it. */
struct mailreq_fact mailreq_key_fact(enum mailreq_fact_kind kind,
				     const struct pgp_key *key);

/* mailreq_set_references - r's References from the request's header
 * value (NULL: none), with every byte that cannot be part of a
 * Message-ID made a blank. */
void mailreq_set_references(struct mailreq *r, const char *refs);

/* mailreq_encode - r as a record, appended to out. */
void mailreq_encode(const struct mailreq *r, struct buf *out);

/* mailreq_decode - a record made by mailreq_encode into *r (zeroed
 * first; free with mailreq_free, also after a failure).  PB_EDATA if it
 * is damaged or breaks a bound. */
int mailreq_decode(const void *data, size_t len, struct mailreq *r,
		   struct pb_err *err);

void mailreq_free(struct mailreq *r);

#endif
