/*
 * replypolicy.c - whether a mail command gets a reply (see replypolicy.h).
 */
#include "mail/replypolicy.h"
#include "mail/outmail.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* printable - s made safe for a reason text or log: printable ASCII
 * only (others as '?'), at most n - 1 bytes. */
static void
printable(const char *s, char *out, size_t n)
{
	size_t o = 0;

	for (; s && *s && o + 1 < n; s++)
		out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[o] = '\0';
}

/* bare_addr - the address in a Return-Path value or a From_ line /
 * $SENDER word: inside the first <...> if there is one (a source route
 * "@a,@b:" before the address dropped), else the first word.  1 and out
 * set; 0 for a null path ("<>", ""); -1 if unreadable (unclosed <,
 * control characters, too long, quotes or blanks inside). */
static int
bare_addr(const char *v, int angle_only, char *out)
{
	const char *p, *end, *colon;
	size_t n;

	out[0] = '\0';
	while (*v && is_blank(*v))
		v++;
	p = strchr(v, '<');
	if (p != NULL) {
		p++;
		end = strchr(p, '>');
		if (end == NULL)
			return -1;
	} else {
		if (angle_only)
			return -1;
		p = v;
		for (end = p; *end && !is_blank(*end); end++)
			;
	}
	if (*p == '@') {
		colon = memchr(p, ':', (size_t)(end - p));
		if (colon == NULL)
			return -1;
		p = colon + 1;
	}
	n = (size_t)(end - p);
	if (n == 0)
		return 0;
	if (n > REPLY_ADDR_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x21 || c > 0x7e || c == '<' || c == '>' || c == '"' ||
		    c == '\\' || c == ',' || c == ';' || c == '(' || c == ')')
			return -1;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 1;
}

int
replypolicy_envelope_sender(const struct reply_request *req, char *out)
{
	out[0] = '\0';
	/* The delivering MTA's Return-Path is the envelope sender as it
	 * received it; angle brackets are required (RFC 5322 3.6.7). */
	if (req->return_path != NULL)
		return bare_addr(req->return_path, 1, out);
	if (req->from_line != NULL)
		return bare_addr(req->from_line, 0, out);
	if (req->env_sender != NULL)
		return bare_addr(req->env_sender, 0, out);
	return -1;
}

static int
local_part_is(const char *addr, const char *name)
{
	size_t n = strlen(name);

	return strncasecmp(addr, name, n) == 0 &&
	       (addr[n] == '\0' || addr[n] == '@');
}

/* list_address - owner-*, *-request: list software, whose "sender" must
 * never get an automatic answer (RFC 3834 names both). */
static int
list_address(const char *addr)
{
	const char *at = strchr(addr, '@');
	size_t local = at ? (size_t)(at - addr) : strlen(addr);

	if (local >= 6 && strncasecmp(addr, "owner-", 6) == 0)
		return 1;
	return local >= 8 && strncasecmp(addr + local - 8, "-request", 8) == 0;
}

/* first_token - the value's first word, up to a blank, ';', ',' or '(',
 * into out (lower-cased, at most n - 1 bytes). */
static void
first_token(const char *v, char *out, size_t n)
{
	size_t o = 0;

	while (*v && is_blank(*v))
		v++;
	for (; *v && !is_blank(*v) && *v != ';' && *v != ',' && *v != '(' &&
	     o + 1 < n; v++)
		out[o++] = (*v >= 'A' && *v <= 'Z') ? (char)(*v - 'A' + 'a') : *v;
	out[o] = '\0';
}

/* suppress_listed - X-Auto-Response-Suppress (Microsoft Exchange) is a
 * comma-separated list; All, AutoReply and OOF ask responders like us
 * to be quiet. */
static int
suppress_listed(const char *v)
{
	while (*v) {
		char tok[16];

		while (*v == ',' || is_blank(*v))
			v++;
		first_token(v, tok, sizeof tok);
		if (strcmp(tok, "all") == 0 || strcmp(tok, "autoreply") == 0 ||
		    strcmp(tok, "oof") == 0)
			return 1;
		while (*v && *v != ',')
			v++;
	}
	return 0;
}

static void
refuse(struct reply_decision *d, enum reply_verdict v, const char *fmt,
       const char *arg)
{
	char safe[REPLY_ADDR_MAX + 1];

	d->verdict = v;
	printable(arg ? arg : "", safe, sizeof safe);
	snprintf(d->reason, sizeof d->reason, fmt, safe);
}

void
replypolicy_decide(const struct reply_request *req, const struct mailcmd *cmd,
		   const struct reply_options *opt, struct reply_decision *d)
{
	char addr[REPLY_ADDR_MAX + 1], tok[32];
	int r;

	memset(d, 0, sizeof *d);
	if (!mailcmd_answered(cmd)) {
		d->verdict = REPLY_NOT_ASKED;
		return;
	}
	/* Sync traffic first: a PKS peer's mail is never a question, and
	 * the loop check must win over every other reason. */
	if (req->loop) {
		refuse(d, REPLY_LOOP, "no reply: X-KeyServer-Sent names our "
		       "own address%s", "");
		return;
	}
	if (req->n_keyserver_sent > 0) {
		refuse(d, REPLY_SYNC_TRAFFIC, "no reply: PKS sync traffic "
		       "(X-KeyServer-Sent)%s", "");
		return;
	}
	r = replypolicy_envelope_sender(req, addr);
	printable(addr, d->to, sizeof d->to);
	if (!opt->mail_commands) {
		refuse(d, REPLY_OFF, "no reply: mail_commands is off%s", "");
		return;
	}
	if (req->carries_keys && !cmd->looks_like_command &&
	    (cmd->kind == MAILCMD_UNKNOWN || cmd->kind == MAILCMD_TOO_LONG)) {
		refuse(d, REPLY_KEY_MAIL, "no reply: the Subject is not a "
		       "command and the mail carries keys (taken as key mail)%s",
		       "");
		return;
	}
	if (!opt->answer_any_subject && !cmd->looks_like_command &&
	    (cmd->kind == MAILCMD_UNKNOWN || cmd->kind == MAILCMD_TOO_LONG)) {
		refuse(d, REPLY_NOT_A_COMMAND, "no reply: the Subject is not a "
		       "keyserver command%s", "");
		return;
	}
	if (r < 0) {
		refuse(d, REPLY_NO_SENDER, "no reply: no usable envelope sender "
		       "(Return-Path, From line or $SENDER)%s", "");
		return;
	}
	if (r == 0 || local_part_is(addr, "mailer-daemon")) {
		refuse(d, REPLY_NULL_SENDER, "no reply: the envelope sender is "
		       "null (<%s>)", addr);
		return;
	}
	if (!outmail_addr_ok(addr)) {
		refuse(d, REPLY_BAD_SENDER, "no reply: the envelope sender <%s> "
		       "is not a plain address", addr);
		return;
	}
	if (opt->from_addr_bare && strcasecmp(addr, opt->from_addr_bare) == 0) {
		refuse(d, REPLY_OWN_ADDRESS, "no reply: the envelope sender <%s> "
		       "is our own address", addr);
		return;
	}
	if (list_address(addr)) {
		refuse(d, REPLY_LIST_ADDRESS, "no reply: the envelope sender <%s> "
		       "is a list address (owner-*, *-request)", addr);
		return;
	}
	if (local_part_is(addr, "postmaster")) {
		refuse(d, REPLY_SYSTEM_ADDRESS, "no reply: the envelope sender "
		       "<%s> is a postmaster", addr);
		return;
	}
	for (size_t i = 0; i < opt->npeers; i++) {
		if (strcasecmp(addr, opt->peers[i]) == 0) {
			refuse(d, REPLY_PEER, "no reply: the envelope sender <%s> "
			       "is one of our PKS peers (mailsync file)", addr);
			return;
		}
	}
	if (req->auto_submitted != NULL) {
		first_token(req->auto_submitted, tok, sizeof tok);
		if (strcmp(tok, "no") != 0) {
			refuse(d, REPLY_AUTO_SUBMITTED, "no reply: Auto-Submitted: "
			       "%s", tok[0] ? tok : "(empty)");
			return;
		}
	}
	if (req->has_list_header) {
		refuse(d, REPLY_LIST_HEADER, "no reply: list mail (List-* "
		       "header)%s", "");
		return;
	}
	if (req->precedence != NULL) {
		first_token(req->precedence, tok, sizeof tok);
		if (strcmp(tok, "bulk") == 0 || strcmp(tok, "junk") == 0 ||
		    strcmp(tok, "list") == 0) {
			refuse(d, REPLY_PRECEDENCE, "no reply: Precedence: %s", tok);
			return;
		}
	}
	if (req->auto_response_suppress != NULL &&
	    suppress_listed(req->auto_response_suppress)) {
		refuse(d, REPLY_SUPPRESS_HEADER, "no reply: "
		       "X-Auto-Response-Suppress asks for none%s", "");
		return;
	}
	d->verdict = REPLY_OK;
	memcpy(d->to, addr, sizeof d->to);
}

const char *
replypolicy_verdict_name(enum reply_verdict v)
{
	switch (v) {
	case REPLY_OK: return "ok";
	case REPLY_NOT_ASKED: return "not-asked";
	case REPLY_OFF: return "off";
	case REPLY_NOT_A_COMMAND: return "not-a-command";
	case REPLY_NO_SENDER: return "no-sender";
	case REPLY_NULL_SENDER: return "null-sender";
	case REPLY_BAD_SENDER: return "bad-sender";
	case REPLY_OWN_ADDRESS: return "own-address";
	case REPLY_LIST_ADDRESS: return "list-address";
	case REPLY_SYSTEM_ADDRESS: return "system-address";
	case REPLY_PEER: return "peer";
	case REPLY_KEY_MAIL: return "key-mail";
	case REPLY_AUTO_SUBMITTED: return "auto-submitted";
	case REPLY_LIST_HEADER: return "list-header";
	case REPLY_PRECEDENCE: return "precedence";
	case REPLY_SUPPRESS_HEADER: return "suppress-header";
	case REPLY_SYNC_TRAFFIC: return "sync-traffic";
	case REPLY_LOOP: return "loop";
	}
	return "?";
}
