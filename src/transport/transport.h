/*
 * transport.h - send one composed outbound mail to one PKS peer, by SMTP
 * to the configured relay (smtp_relay) or through sendmail_cmd when that
 * is set.
 *
 * The single place that turns a transport's outcome into the queue's
 * vocabulary: 0 = sent, PB_ETEMP = defer and retry, PB_EPERM = fail this
 * peer's entry (SMTP 4xx and network errors defer, 5xx fails; each peer
 * on its own).  Messages quote what the relay or the
 * command said, for the queue's last_error and the log.
 */
#ifndef PB_TRANSPORT_H
#define PB_TRANSPORT_H

#include "config/config.h"
#include "util/buf.h"
#include "util/err.h"

/* transport_send - deliver mail (CRLF line ends, as outmail_compose makes
 * it) to peer, from the envelope sender mail_from: NULL for our own
 * address, "" for the null sender (replies to mail commands: a reply
 * that cannot be delivered then bounces to nobody).  SMTP: connect to
 * cfg->smtp_host:smtp_port, HELO with the domain of cfg->from_addr_bare
 * (else gethostname()), MAIL FROM mail_from or cfg->from_addr_bare, one
 * RCPT; each network wait at most timeout_s.  sendmail_cmd: see
 * sendpipe.h (our own address is left to the command, as before; "" is
 * passed as -f "<>"), timeout_s for the whole run.
 *
 * Returns 0 when the relay or command took the mail; else -1 with
 * PB_ETEMP (4xx, network trouble, timeouts, exit 75...) or PB_EPERM (5xx,
 * a permanent exit status) and a message such as "relay 127.0.0.1:25
 * said for <peer@example.org>: 550 5.1.1 no such user"; PB_EDATA when peer
 * is not a plain address (outmail_addr_ok). */
int transport_send(const struct config *cfg, const char *peer,
		   const char *mail_from, const struct buf *mail, int timeout_s,
		   struct pb_err *err);

#endif
