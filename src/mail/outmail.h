/*
 * outmail.h - compose the outbound PKS "incremental" mail.
 *
 * One mail carries keys for one PKS peer: fixed headers in a fixed order,
 * then ONE ASCII-armored public key block holding every key, as pksd and
 * onak expect.  The text is built for the SMTP wire (CRLF line ends, 7bit,
 * lines of at most 76 characters); sendpipe.h turns it back into LF for a
 * sendmail command.
 *
 * Header values come from the configuration and the peer list, which an
 * operator typed, and end up in a mail sent to other keyservers: a value
 * that could start a new header line or that is not a plain address is
 * refused, never repaired.
 */
#ifndef PB_OUTMAIL_H
#define PB_OUTMAIL_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "openpgp/pgp.h"
#include "util/buf.h"
#include "util/err.h"

#define OUTMAIL_MSGID_MAX 256	/* size of outmail_compose's msgid_out */

/* outmail_compose - append to out one mail to peer carrying keys[0..n).
 *
 * Headers, in this order: From (cfg->from_addr exactly as configured),
 * To (peer), Subject: incremental, X-KeyServer-Sent (cfg->from_addr_bare),
 * Precedence: list, MIME-Version: 1.0, Content-Type: application/pgp-keys,
 * Content-Transfer-Encoding: 7bit, Date (RFC 5322, UTC, from now),
 * Message-ID (time, pid and 64 random bits @ the domain of from_addr_bare),
 * Auto-Submitted: auto-generated (RFC 3834: so that no automatic
 * responder answers sync mail).
 * Body: one PUBLIC KEY BLOCK of all keys in order.  CRLF everywhere.
 *
 * msgid_out (OUTMAIL_MSGID_MAX bytes) receives the Message-ID without its
 * angle brackets, as mailparse.h reports inbound ones.
 *
 * Fails with PB_EDATA, leaving out unchanged, when: n is 0; peer or
 * from_addr_bare is not a plain addr-spec (outmail_addr_ok); from_addr
 * holds a control character (CR, LF, NUL, DEL...) or a non-ASCII byte
 * (the mail is 7bit) or would make a header line longer than RFC 5322's
 * 998 characters. */
int outmail_compose(const struct config *cfg, const char *peer,
		    const struct pgp_key *keys, size_t n, int64_t now,
		    struct buf *out, char *msgid_out, struct pb_err *err);

/* outmail_addr_ok - 1 if addr is a plain RFC 5321 mailbox we are willing
 * to put on a command line, an SMTP command or a header: dot-atom local
 * part (no quoted strings, no leading '-'), '@', a domain of LDH labels,
 * at most 64 + 1 + 253 characters.  Anything else is 0. */
int outmail_addr_ok(const char *addr);

/* The pieces of composition the reply to a mail command (replymail.h)
 * shares, so that both kinds of mail follow one set of header rules. */

/* outmail_value_ok - 1 if v may be a header value of a 7bit mail as it
 * is: no control character (CR and LF would start a new header line, NUL
 * would cut it short) and no 8-bit byte. */
int outmail_value_ok(const char *v);

/* outmail_header - append "Name: value" CRLF to b; PB_EDATA, b unchanged,
 * if value fails outmail_value_ok or the line would pass RFC 5322's 998
 * characters. */
int outmail_header(struct buf *b, const char *name, const char *value,
		   struct pb_err *err);

/* What every mail of ours carries: a Date and a fresh Message-ID. */
struct outmail_stamp {
	char date[64];				/* RFC 5322, UTC */
	char msgid[OUTMAIL_MSGID_MAX];		/* without <> */
	char bracketed[OUTMAIL_MSGID_MAX + 2];	/* with <> */
};

/* outmail_stamp - check that cfg's from_addr can stand in a header (a
 * plain from_addr_bare, as outmail_addr_ok), and make st for now: the
 * date, and "SECONDS.PID.RANDOM@" the domain of from_addr_bare.
 * PB_EDATA if from_addr is unusable, now out of range, or the domain
 * too long. */
int outmail_stamp(const struct config *cfg, int64_t now,
		  struct outmail_stamp *st, struct pb_err *err);

/* outmail_armor_crlf - an armor_out_fn (armor.h) appending to the struct
 * buf in ctx with every LF turned into CRLF (the writer writes no CR).
 * Never fails. */
int outmail_armor_crlf(void *ctx, const char *text, size_t len);

#endif
