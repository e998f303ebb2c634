/*
 * extract.h - everything pksbridge needs from one mail: its headers, its
 * public keys, and a precise reason for every piece that cannot be used.
 *
 * Shared by the inbound filter (PKS mail) and the sendmail intake (SKS's
 * mailsync): headers with libetpan (mailparse.h), every armor block of
 * every MIME part (armor.h), split into keys (pgp.h).  Secret keys, broken
 * blocks, oversized keys and mails become reasons, and a bounded copy of
 * the offending text (never of secret material) is kept for quarantine.
 * The keys' bytes are packed once into a key sequence (pgp_keyseq_add),
 * the form the queue stores, so a large mail is held once.
 */
#ifndef PB_EXTRACT_H
#define PB_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "mail/mailparse.h"
#include "openpgp/pgp.h"
#include "util/buf.h"

struct extract {
	struct mail_headers h;
	struct pgp_keylist keys;	/* fingerprints, uids, digests; the
					 * bytes live in payload */
	struct buf payload;		/* every key, as a key sequence */
	size_t *key_off;		/* key i is payload[key_off[i] ..
					 * key_off[i+1]) */
	struct buf reasons;		/* "; "-separated problems */
	size_t nreasons;
	struct buf raw;			/* bounded text for quarantine */
	int too_large;
	int no_key_block;	/* the mail had no key block and no other
				 * problem: reasons says just that */
	size_t npub_blocks;
};

/* extract_headers - only the headers (x zeroed first). */
void extract_headers(struct extract *x, const char *mail, size_t len);

/* extract_body - the keys; total_size is what the MTA handed over (mail
 * may have been cut at max_message_size).  Never fails: problems become
 * reasons.  Call after extract_headers. */
void extract_body(struct extract *x, const struct config *cfg,
		  const char *mail, size_t len, uint64_t total_size);

/* extract_payload_subset - append the payload entries of the keys with
 * take[i] set to out. */
void extract_payload_subset(const struct extract *x, const unsigned char *take,
			    struct buf *out);

void extract_free(struct extract *x);

#endif
