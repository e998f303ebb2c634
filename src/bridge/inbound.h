/*
 * inbound.h - turn one inbound mail into queue entries.
 *
 * The mail is analysed outside any transaction (headers, MIME, armor,
 * packets), then one transaction decides and records its fate: a ready
 * entry holding the keys that carry something new, a duplicate (same
 * Message-ID, or nothing new), a loop (our own X-KeyServer-Sent), or a
 * quarantined entry for every piece that cannot be delivered (broken
 * armor, secret keys, no key at all, too large) — next to, never instead
 * of, the good keys of the same mail.
 *
 * Sync mail (it has X-KeyServer-Sent) should be addressed to from_addr:
 * a PKS keyserver lists us under the address it mails, and passes a
 * change on to every listed site whose address is not among the
 * mail's X-KeyServer-Sent headers, which carry our from_addr.  Mail
 * whose To/Cc name another address says that some peer lists us under
 * it, and will mail our own changes back to it (in a keyserver pool:
 * one gateway's from_addr is not the pool's address).  It is accepted
 * as any other, and logged as a warning (inbound_names_us).
 *
 * A mail command in the Subject (bridge/request.h) adds its reply entry
 * in the same transaction (an ADD's waits for the entry of its keys).  A command that is not ADD needs no key, so
 * a mail without any key block then makes no quarantined entry: its
 * reply entry stands for the mail (and its Message-ID is recorded
 * against it, so a resent request is a duplicate, not answered twice).
 */
#ifndef PB_INBOUND_H
#define PB_INBOUND_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "mail/mailparse.h"
#include "spool/queue.h"
#include "spool/spool.h"
#include "util/err.h"

enum inbound_origin {
	INBOUND_ORIGIN_AUTO,	/* from the Subject: incremental -> pks, ADD -> local */
	INBOUND_ORIGIN_PKS,
	INBOUND_ORIGIN_LOCAL,
};

struct inbound_opts {
	enum inbound_origin origin;
	const char *sender;	/* envelope sender from the MTA, or NULL */
	uint64_t total_size;	/* bytes the MTA handed over (the mail may
				 * have been cut at max_message_size + 1) */
	int lease_secs;		/* > 0: lease the ready entries to this
				 * process for its inline delivery attempt */
};

struct inbound_result {
	char id[QID_LEN + 1];		/* the entry standing for the mail */
	enum q_state state;		/* its state */
	char deliver_id[QID_LEN + 1];	/* "" or the ready entry of keys for
					 * the key database */
	char quarantine_id[QID_LEN + 1]; /* "" or the quarantined piece */
	enum q_origin origin;
	size_t nkeys;			/* public keys found */
	size_t nnew;			/* of which carry something new */
	size_t noutbound;		/* outbound entries created (ADD) */
	char reason[PB_ERR_MSGLEN];	/* why quarantined/duplicate/loop */
	char reply_id[QID_LEN + 1];	/* "" or the reply entry made now */
	enum q_state reply_state;	/* ready or suppressed */
	int reply_waits;		/* the reply waits for deliver_id */
	int misaddressed;		/* sync mail whose To/Cc do not name
					 * from_addr (inbound_names_us) */
};

/* inbound_names_us - 0 if h is sync mail (X-KeyServer-Sent) that names
 * recipients in To/Cc/Bcc, none of them from_addr (compared without
 * regard to case); else 1 (not sync mail, no recipient headers, or
 * addressed to us). */
int inbound_names_us(const struct mail_headers *h, const char *from_addr);

/* Two steps, so a caller can free the mail in between (a 16 MB mail is
 * then never held next to its keys and their payload). */
struct inbound;

/* inbound_analyse - headers, MIME, armor and packets of mail[0..len);
 * never fails (bad input becomes quarantine reasons).  The result does
 * not refer to mail.  Free with inbound_free. */
struct inbound *inbound_analyse(const struct config *cfg, const char *mail,
				size_t len, const struct inbound_opts *o);

/* inbound_commit - decide and commit (synchronously) the mail's entries.
 * Returns 0 once they are durable, -1 if nothing was committed (the MTA
 * must retry).  May be called again after a failure. */
int inbound_commit(struct spool *sp, struct inbound *in,
		   struct inbound_result *res, struct pb_err *err);

void inbound_free(struct inbound *in);

/* inbound_accept - analyse, commit and free in one call. */
int inbound_accept(struct spool *sp, const struct config *cfg,
		   const char *mail, size_t len, const struct inbound_opts *o,
		   struct inbound_result *res, struct pb_err *err);

#endif
