/*
 * smtp.h - SMTP client for outbound mail to the relay (smtp_relay).
 *
 * One transaction (MAIL, RCPT..., DATA) per call, to one host, with a
 * per-recipient outcome so that one refused peer never fails the others.
 * Every network wait is bounded: connecting, and each
 * reply, take at most timeout_s seconds, so a relay that accepts the
 * connection and never answers (a tarpit) costs timeout_s and no more.
 * The server's replies are bounded in size as well.
 *
 * Built on libetpan's mailstream layer (buffered I/O, and the DATA
 * encoding: dot-stuffing, CRLF line ends, the final CRLF.CRLF).  The SMTP
 * commands and replies are our own: libetpan's mailsmtp cannot send an
 * EHLO name of our choosing, cannot pipeline, and its object file drags
 * in libsasl2.  PIPELINING (RFC 2920) is used when the server offers it.
 *
 * Nothing here logs; results are return values, per-recipient statuses
 * and the server's own reply text.  SIGPIPE is never raised (MSG_NOSIGNAL).
 */
#ifndef PB_SMTP_H
#define PB_SMTP_H

#include <stddef.h>

#include "util/err.h"

struct smtp_reply {
	int code;		/* 3-digit reply code; 0: no reply (network
				 * error, or the recipient was never tried) */
	char text[256];		/* reply text after the code, lines of a
				 * multi-line reply joined by spaces, control
				 * characters replaced; truncated */
};

enum smtp_status {
	SMTP_SENT,		/* 2xx to RCPT and to the final dot */
	SMTP_TEMPFAIL,		/* 4xx (or no usable answer): try again later */
	SMTP_PERMFAIL,		/* 5xx: this recipient will never work */
};

/* smtp_send - deliver data[0..len) (a mail with CRLF or LF line ends) from
 * mail_from to rcpts[0..nrcpts) via host:port, greeting it with helo.
 *
 * Returns 0 when the conversation completed: rcpt_status[i] and
 * rcpt_reply[i] tell each recipient's fate (the RCPT reply if it was
 * refused, else the reply to DATA or to the final dot).
 *
 * Returns -1 for the whole mail: PB_ETEMP for a network error, a timeout,
 * a connection closed or reset, a greeting, EHLO/HELO or MAIL FROM reply
 * of 4xx, a 5xx greeting or HELO (the relay refusing us is not the peer's
 * fault; Postfix's smtp_skip_5xx_greeting does the same) or a malformed
 * reply; PB_EPERM for a 5xx reply to MAIL FROM; PB_EDATA when an address
 * or the helo name could not be sent safely (CR, LF, spaces, angle
 * brackets, over 256 characters).  Even then rcpt_status and rcpt_reply
 * are filled to match (SMTP_TEMPFAIL for PB_ETEMP, else SMTP_PERMFAIL;
 * a recipient the server had already refused with 5xx keeps its reply),
 * so callers may use either.
 * err->msg names the server and quotes its reply, e.g. "127.0.0.1:25
 * said: 550 5.7.1 relaying denied (in reply to MAIL FROM)".
 *
 * When the connection fails after the final dot was sent, the server may
 * have taken the mail: that is PB_ETEMP, and a retry may duplicate it (as
 * RFC 5321 section 4.1.1.4 accepts). */
int smtp_send(const char *host, unsigned port, const char *helo,
	      const char *mail_from, const char *const *rcpts, size_t nrcpts,
	      const char *data, size_t len, int timeout_s,
	      enum smtp_status *rcpt_status, struct smtp_reply *rcpt_reply,
	      struct pb_err *err);

/* A connection kept open for several mails: smtp_session_open connects,
 * reads the greeting and says EHLO (or HELO); smtp_session_send runs one
 * transaction with smtp_send's results; smtp_session_close says QUIT and
 * frees.  After smtp_session_send returns -1 the session is dead: close
 * it.  After 0 it can take the next mail.  Owned by the caller. */
struct smtp_session;

int smtp_session_open(struct smtp_session **sp, const char *host,
		      unsigned port, const char *helo, int timeout_s,
		      struct pb_err *err);
int smtp_session_send(struct smtp_session *s, const char *mail_from,
		      const char *const *rcpts, size_t nrcpts,
		      const char *data, size_t len,
		      enum smtp_status *rcpt_status,
		      struct smtp_reply *rcpt_reply, struct pb_err *err);
/* smtp_session_pipelining - 1 if the server offered PIPELINING. */
int smtp_session_pipelining(const struct smtp_session *s);
/* smtp_session_close - QUIT (waiting at most 2 s for the answer), close,
 * free; s may be NULL.  Returns NULL, for "s = smtp_session_close(s)". */
struct smtp_session *smtp_session_close(struct smtp_session *s);

#endif
