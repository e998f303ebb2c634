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
#include "util/buf.h"
#include "util/err.h"

#define MAILREQ_LINES_MAX 2000		/* lines of an ADD reply */
#define MAILREQ_LINE_MAX 600		/* bytes of one line */

struct mailreq {
	struct mailcmd cmd;
	char *references;	/* the request's References, or NULL */
	char **lines;		/* ADD: what became of each key */
	size_t nlines;
};

/* mailreq_add_line - append one line (cut at MAILREQ_LINE_MAX bytes,
 * made valid UTF-8 without control characters); past MAILREQ_LINES_MAX lines one "... and N
 * more" line stands for the rest. */
void mailreq_add_line(struct mailreq *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

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
