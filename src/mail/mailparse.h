/*
 * mailparse.h - RFC 5322 headers and MIME (RFC 2045-2049) with libetpan.
 *
 * Takes one mail as an MTA hands it over (optional mbox "From " line,
 * MTA-added headers, CRLF or LF), extracts the headers pksbridge acts on,
 * and walks the MIME tree, handing every leaf part that can carry keys to
 * a callback after undoing its Content-Transfer-Encoding.  Parts are
 * decoded one at a time so memory stays near the size of the mail.
 */
#ifndef PB_MAILPARSE_H
#define PB_MAILPARSE_H

#include <stddef.h>

#include "util/err.h"

#define MAIL_MAX_MIME_DEPTH 32

struct mail_headers {
	char *subject;		/* first Subject, unfolded, control characters
				 * made spaces, encoded-words left as-is;
				 * NULL if absent */
	char *message_id;	/* without <>, NULL if absent or unusable
				 * (anything but 1..995 printable US-ASCII
				 * characters, e.g. CR/LF or controls) */
	char *from;		/* bare address, lower-cased, NULL if absent
				 * or unusable */
	char **keyserver_sent;	/* bare addresses (lower-cased) of every
				 * X-KeyServer-Sent header, in order (a header
				 * may be "Name <addr>", bare, or a list; at
				 * most 1024 kept); NULL when there are none */
	size_t n_keyserver_sent;
	char *content_type;	/* top-level type/subtype, lower-cased; never
				 * NULL: "text/plain" when absent or
				 * unparsable (RFC 2045 5.2) */
	char **recipients;	/* bare addresses (lower-cased) of every To,
				 * Cc and Bcc header, in order: for
				 * "sendmail -t" */
	size_t n_recipients;
	/* What a reply to a mail command needs (mail/replypolicy.h).  Each
	 * is the first such header's value, unfolded, control characters
	 * made spaces, blanks trimmed, NULL if absent; at most
	 * MAIL_HEADER_KEEP bytes (References: its last MAIL_HEADER_KEEP,
	 * where the newest ids are). */
	char *return_path;	/* as the delivering MTA wrote it: "<a@b>" */
	char *from_line;	/* the mbox "From " line without "From " and
				 * its line end, NULL if there is none */
	char *auto_submitted;
	char *precedence;
	char *auto_response_suppress;	/* X-Auto-Response-Suppress */
	char *references;
	int has_list_header;	/* any header whose name starts "List-" */
};

#define MAIL_HEADER_KEEP 4096

/* A problem with one part: becomes a quarantine reason. */
typedef void (*mail_problem_cb)(void *ctx, const char *reason);

/* A decoded leaf part.  type is "type/subtype" lower-cased ("text/plain"
 * when absent), data/len the decoded body, valid only during the call. */
typedef int (*mail_part_cb)(void *ctx, const char *type, const char *data,
			    size_t len);

/* mail_parse_headers - just the headers (cheap; used by sendmail intake,
 * loop checks and for mails too large to parse fully).  Caller frees with
 * mail_headers_free.  Fails only on allocation. */
int mail_parse_headers(const char *msg, size_t len, struct mail_headers *h,
		       struct pb_err *err);

/* mail_walk_parts - parse the MIME structure and call part_cb for every
 * leaf that is text/ *, application/pgp-keys, application/pgp,
 * application/octet-stream or has no type, descending into multipart/ *
 * and message/rfc822 up to MAIL_MAX_MIME_DEPTH levels.  Too-deep nesting,
 * undecodable parts and unparsable structure are reported to problem_cb;
 * where the structure cannot be parsed the raw body is handed to part_cb
 * as text/plain so that no armored key is lost.  Returns the part_cb's
 * non-zero value if it stopped the walk, else 0.
 *
 * Details callers may rely on: Content-Type is honoured without
 * MIME-Version (SKS and onak omit it); empty parts are not handed over;
 * a container nested too deep has its raw body handed over as text/plain;
 * base64 holding non-base64 characters is handed over decoded and then
 * once more raw as text/plain; each kind of problem is reported at most
 * once per mail; problem_cb may be NULL.  Memory: the mail plus one
 * decoded part, which is never larger than its encoded form. */
int mail_walk_parts(const char *msg, size_t len, mail_part_cb part_cb,
		    mail_problem_cb problem_cb, void *ctx);

/* mail_skip_from_line - offset past a leading mbox "From " line, or 0. */
size_t mail_skip_from_line(const char *msg, size_t len);

void mail_headers_free(struct mail_headers *h);

#endif
