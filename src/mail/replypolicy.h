/*
 * replypolicy.h - whether a mail command gets a reply, and to whom.
 *
 * A keyserver answering mail is an automatic responder (RFC 3834), and
 * pgp-public-keys@ receives spam, bounces, list mail and the PKS
 * network's own sync traffic.  Answering the wrong one sends mail to
 * someone who never asked (backscatter) or starts a loop between two
 * responders.  So:
 *
 *  - the reply goes to ONE address, the request's envelope sender (where
 *    RFC 3834 sends automatic responses): the Return-Path the delivering
 *    MTA added, else the mbox "From " line, else the MTA's $SENDER.
 *    Never From or Reply-To, which anyone can write (pksd and onak
 *    answered those);
 *  - no reply when that sender is null (<>), a MAILER-DAEMON, an owner-*
 *    or *-request address, not a plain address, or our own; also (our
 *    additions to RFC 3834's list) a postmaster (bounces come from it)
 *    or one of our PKS peers (a peer never asks, and a forged request
 *    would turn our reply into key mail to a keyserver); when the
 *    request says it is automatic (Auto-Submitted other than "no"), list
 *    mail (any List-* header; Precedence bulk, junk or list), or PKS sync
 *    traffic (any X-KeyServer-Sent), or when it is a loop; when it asks
 *    for no automatic reply (X-Auto-Response-Suppress: All, AutoReply or
 *    OOF, as Microsoft Exchange writes it: also ours); or when its
 *    Subject is no command and it carries keys (key mail under some
 *    other Subject, handled as key mail and not answered);
 *  - INCREMENTAL and Subject-less mail are not requests at all: nothing
 *    to answer and nothing to record.
 *
 * Rate limits need the spool and are not decided here.  Pure: the caller
 * hands over header values as the mail had them (unfolded), and gets a
 * verdict, a reason for the queue and the log, and the address.
 */
#ifndef PB_REPLYPOLICY_H
#define PB_REPLYPOLICY_H

#include <stddef.h>

#include "mail/mailcmd.h"

#define REPLY_ADDR_MAX 320	/* 64 + 1 + 255, as SMTP allows */

/* What the request mail says about itself. */
struct reply_request {
	const char *return_path;	/* value of the first Return-Path
					 * header ("<a@b>", "<>"), or NULL */
	const char *from_line;		/* the mbox "From " line without
					 * "From ", or NULL if there is none */
	const char *env_sender;		/* $SENDER, or NULL if unset */
	const char *auto_submitted;	/* first Auto-Submitted value, or NULL */
	const char *precedence;		/* first Precedence value, or NULL */
	const char *auto_response_suppress; /* first X-Auto-Response-Suppress
					 * value, or NULL */
	int has_list_header;		/* any header named List-* */
	size_t n_keyserver_sent;	/* X-KeyServer-Sent headers */
	int loop;			/* one of them names us */
	int carries_keys;		/* a public key block was found */
};

struct reply_options {
	int mail_commands;		/* the mail_commands setting */
	const char *from_addr_bare;	/* our address (a reply to it loops) */
	/* Answer a Subject that is no command at all ("Cheap watches") with
	 * "not supported"; 0: only mistakes in commands (GETT, MGET, a bare
	 * GET) are answered and other Subjects get no reply. */
	int answer_any_subject;
	char *const *peers;		/* our PKS peers (mailsync file) */
	size_t npeers;
};

enum reply_verdict {
	REPLY_OK,		/* answer it, to *to */
	REPLY_NOT_ASKED,	/* not a request: record nothing */
	REPLY_OFF,		/* mail_commands: no */
	REPLY_NOT_A_COMMAND,	/* answer_any_subject off, Subject no command */
	REPLY_NO_SENDER,	/* no envelope sender known */
	REPLY_NULL_SENDER,	/* <> or MAILER-DAEMON */
	REPLY_BAD_SENDER,	/* not a plain address we can mail */
	REPLY_OWN_ADDRESS,	/* our own address: a loop */
	REPLY_LIST_ADDRESS,	/* owner-*, *-request */
	REPLY_SYSTEM_ADDRESS,	/* postmaster */
	REPLY_PEER,		/* one of our PKS peers */
	REPLY_KEY_MAIL,		/* keys under a Subject that is no command */
	REPLY_AUTO_SUBMITTED,	/* Auto-Submitted other than "no" */
	REPLY_LIST_HEADER,	/* List-* */
	REPLY_PRECEDENCE,	/* bulk, junk, list */
	REPLY_SUPPRESS_HEADER,	/* X-Auto-Response-Suppress: All|AutoReply */
	REPLY_SYNC_TRAFFIC,	/* X-KeyServer-Sent */
	REPLY_LOOP,		/* our own X-KeyServer-Sent */
};

struct reply_decision {
	enum reply_verdict verdict;
	/* REPLY_OK: the envelope sender to answer; else the sender as far
	 * as it could be read (printable ASCII, "" if none), for the log. */
	char to[REPLY_ADDR_MAX + 1];
	char reason[200];	/* "" for REPLY_OK and REPLY_NOT_ASKED, else
				 * "no reply: ..." (printable ASCII) */
};

/* replypolicy_decide - the verdict for cmd (from mailcmd_parse) with
 * the request's facts.  Never fails. */
void replypolicy_decide(const struct reply_request *req,
			const struct mailcmd *cmd,
			const struct reply_options *opt,
			struct reply_decision *d);

/* replypolicy_envelope_sender - the envelope sender in the order above,
 * as a bare address into out (REPLY_ADDR_MAX + 1 bytes): 1 with the
 * address, 0 with out "" for a null sender, -1 with out "" when no source
 * gave one or it could not be read. */
int replypolicy_envelope_sender(const struct reply_request *req, char *out);

/* replypolicy_verdict_name - "ok", "null-sender", ...: for logs, JSON
 * and tests. */
const char *replypolicy_verdict_name(enum reply_verdict v);

#endif
