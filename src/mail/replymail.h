/*
 * replymail.h - compose the reply to a mail command (HELP, GET, INDEX,
 * VERBOSE INDEX, LAST, ADD, and "not supported").
 *
 * The reply is an RFC 3834 automatic response to one person:
 *
 *   From: <from_addr>, To: <requester>, Subject: Reply to CMD [SEARCH],
 *   Date, Message-ID, In-Reply-To and References (when the request had a
 *   Message-ID), Auto-Submitted: auto-replied, MIME-Version: 1.0
 *
 * and a body that a person reads and GnuPG imports: text alone as one
 * text/plain part, or, when keys are sent, multipart/mixed with the text
 * first and then ONE ASCII-armored public key block in a 7bit
 * application/pgp-keys part.  gpg1 and gpg both import the keys from the
 * raw reply mail that way; they do not if the armor is quoted-printable
 * (the "=" of the checksum line becomes "=3D": "malformed CRC") or base64.
 * The text is 7bit when it is plain ASCII with short lines, else
 * quoted-printable UTF-8, so any text survives any relay.
 *
 * Values that reach headers (the requester, the command, the search,
 * Message-IDs) come from a mail nobody vouches for.  Each is checked, and
 * a control character, a CR or LF, or a line that would pass RFC 5322's
 * 998 characters refuses the reply (PB_EDATA) instead of being repaired;
 * a non-ASCII search is sent as RFC 2047 encoded words, as is one that
 * holds "=?" (which a reader would otherwise decode).  The body text is
 * made valid UTF-8 without control characters (user IDs from the key
 * database are in it).  CRLF everywhere, ready for the SMTP wire.
 */
#ifndef PB_REPLYMAIL_H
#define PB_REPLYMAIL_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "config/config.h"
#include "util/err.h"
#include "openpgp/pgp.h"

#define REPLYMAIL_MSGID_MAX 256		/* size of msgid_out */
#define REPLYMAIL_SUBJECT_SEARCH_MAX 200 /* search bytes shown in Subject */
#define REPLYMAIL_REFS_MAX 10		/* request References kept */

struct replymail {
	const char *to;			/* the requester: a plain address */
	const char *command;		/* as named in the Subject: "GET",
					 * "VERBOSE INDEX"; printable ASCII */
	const char *search;		/* shown after it, or NULL; UTF-8 */
	const char *in_reply_to;	/* the request's Message-ID without
					 * <>, or NULL */
	const char *references;		/* the request's References value,
					 * or NULL; malformed or overlong
					 * ids in it are left out */
	const char *text;		/* the body text, UTF-8, LF or CRLF */
	const struct pgp_key *keys;	/* keys to send (GET, LAST), or NULL */
	size_t nkeys;
};

/* replymail_compose - append the reply r to out.  now gives Date and
 * Message-ID; msgid_out (REPLYMAIL_MSGID_MAX bytes, may be NULL)
 * receives our Message-ID without <>.  PB_EDATA, out unchanged, when a
 * header value is refused (see above), r->to or from_addr_bare is not a
 * plain address (outmail_addr_ok), or now is out of range. */
int replymail_compose(const struct config *cfg, const struct replymail *r,
		      int64_t now, struct buf *out, char *msgid_out,
		      struct pb_err *err);

/* replymail_qp - text[0..len) as quoted-printable (RFC 2045 6.7) with
 * CRLF line ends appended to out: lines of at most 76 characters, blanks
 * before a line end and "From " at a line start encoded, LF and CRLF in
 * the text both taken as line ends. */
void replymail_qp(const char *text, size_t len, struct buf *out);

/* replymail_format_fpr - hex (40 or 64 hex digits) in groups of four,
 * "BD5C 2399 CD95 ...", with two blanks in the middle of a 40-digit one
 * as gpg prints it, into out (at least 96 bytes); other input copied. */
void replymail_format_fpr(const char *hex, char *out, size_t outlen);

/* replymail_default_help - the built-in HELP text (plain ASCII), for when
 * the operator's help file is missing or unreadable. */
const char *replymail_default_help(void);

#endif
