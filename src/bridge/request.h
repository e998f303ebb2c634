/*
 * request.h - at ingest, a mail command becomes a reply entry.
 *
 * The filter only decides whether a reply will be sent, and records
 * that durably in the transaction that accepts the mail; the answer is
 * looked up and composed later, by whoever delivers the entry
 * (bridge/delivery.h), so the filter never waits for the key database.
 * Every request leaves one outbound entry of kind reply: ready, or
 * suppressed with the reason there will be none (mail/replypolicy.h's
 * rules, mail_commands off, the rate limits).  INCREMENTAL and mail
 * without a Subject are not requests: nothing is recorded for them.
 *
 * An ADD is answered only once its keys are delivered: its reply entry
 * is made here too, waiting for the inbound entry that carries the keys
 * (queue.h), and the delivery adds what it found (mailreq.h's facts).
 * The rate limits are charged here, when the request is accepted, for
 * ADD too, so a flood of ADDs is limited like a flood of GETs.
 */
#ifndef PB_REQUEST_H
#define PB_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/mailreq.h"
#include "config/config.h"
#include "mail/mailcmd.h"
#include "mail/mailparse.h"
#include "mail/replypolicy.h"
#include "spool/queue.h"
#include "spool/spool.h"
#include "util/err.h"

struct request {
	struct mailcmd cmd;
	int asked;			/* a request: a reply entry is due */
	struct reply_decision policy;	/* replypolicy's verdict */
	const struct mail_headers *h;	/* the request's headers */
	/* request_admit's outcome: */
	int admitted;			/* the reply will be sent */
	char why[480];			/* else why not ("no reply: ...") */
};

/* request_decide - whether the mail with headers h is a request and
 * what the reply policy says about it.  env_sender is the MTA's $SENDER
 * (or NULL), peers the PKS peers, loop whether the mail names us in
 * X-KeyServer-Sent, carries_keys whether it holds a key block.  h must
 * outlive rq. */
void request_decide(struct request *rq, const struct config *cfg,
		    const struct mail_headers *h, const char *env_sender,
		    char *const *peers, size_t npeers, int loop,
		    int carries_keys);

/* request_admit - inside txn: the policy's verdict, then the rate limits
 * (spool/replylimit.h), which are charged only when the reply will be
 * sent.  Sets rq->admitted and rq->why; may be run again if the
 * transaction is retried.  -1 only for spool errors. */
int request_admit(struct spool *sp, DB_TXN *txn, const struct config *cfg,
		  struct request *rq, int64_t now, struct pb_err *err);

/* request_record - the request as its reply entry keeps it (the
 * command and the References), into *mr (zeroed first; free it with
 * mailreq_free).  Facts may be added before it is stored. */
void request_record(const struct request *rq, struct mailreq *mr);

/* request_insert - inside txn, the reply entry of an admitted request
 * (ready, its payload mr: request_record's, with facts for an ADD), due
 * now or, with waits, once the entry src->parent finishes; leased to
 * this process for lease_secs if that is more than 0.  Or of a refused
 * request (suppressed, with rq->why).  src says where the request came
 * from.  *id_out and *state_r receive the entry's id and state. */
int request_insert(struct spool *sp, DB_TXN *txn, const struct request *rq,
		   const struct mailreq *mr, const struct q_source *src,
		   int waits, int lease_secs, int64_t now,
		   char id_out[QID_LEN + 1], enum q_state *state_r,
		   struct pb_err *err);

#endif
