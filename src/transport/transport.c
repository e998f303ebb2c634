/*
 * transport.c - choose SMTP or the sendmail command for one outbound mail
 * and say what became of it (see transport.h).
 */
#include "transport/transport.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mail/outmail.h"
#include "transport/sendpipe.h"
#include "transport/smtp.h"

/* helo_name - what we call ourselves: the domain of our keyserver
 * address, which is what a relay checking HELO against From will want;
 * the host name when there is none. */
static void
helo_name(const struct config *cfg, char *out, size_t len)
{
	const char *at = cfg->from_addr_bare ? strchr(cfg->from_addr_bare, '@')
					     : NULL;

	if (at != NULL && at[1] != '\0') {
		snprintf(out, len, "%s", at + 1);
		return;
	}
	if (gethostname(out, len) != 0 || out[0] == '\0')
		snprintf(out, len, "localhost");
	out[len - 1] = '\0';
}

int
transport_send(const struct config *cfg, const char *peer,
	       const char *mail_from, const struct buf *mail, int timeout_s,
	       struct pb_err *err)
{
	const char *rcpts[1] = { peer };
	enum smtp_status st;
	struct smtp_reply reply;
	char helo[256];

	if (!outmail_addr_ok(peer))
		return pb_err_set(err, PB_EDATA,
				  "peer address is not a plain user@domain");
	if (cfg->sendmail_argv != NULL) {
		/* Bounces of sync mail go to our own address, as with
		 * SMTP, unless the operator's command names another: the
		 * user the runner runs as is nobody's mailbox. */
		if (!mail_from && !sendpipe_has_flag(cfg->sendmail_argv, 'f'))
			mail_from = cfg->from_addr_bare;
		if (sendpipe_send(cfg->sendmail_argv, mail_from, rcpts, 1,
				  (const char *)mail->data, mail->len,
				  timeout_s, err) != 0)
			return pb_err_prefix(err, "sendmail_cmd: ");
		return 0;
	}
	helo_name(cfg, helo, sizeof helo);
	if (smtp_send(cfg->smtp_host, cfg->smtp_port, helo,
		      mail_from ? mail_from : cfg->from_addr_bare, rcpts, 1,
		      (const char *)mail->data,
		      mail->len, timeout_s, &st, &reply, err) != 0)
		return pb_err_prefix(err, "relay ");
	switch (st) {
	case SMTP_SENT:
		return 0;
	case SMTP_TEMPFAIL:
	case SMTP_PERMFAIL:
		break;
	}
	/* An IPv6 address is bracketed, as smtp.c names the server. */
	int v6 = strchr(cfg->smtp_host, ':') != NULL;

	return pb_err_set(err, st == SMTP_PERMFAIL ? PB_EPERM : PB_ETEMP,
			  "relay %s%s%s:%u said for <%s>: %d %s", v6 ? "[" : "",
			  cfg->smtp_host, v6 ? "]" : "", cfg->smtp_port, peer,
			  reply.code, reply.text);
}
