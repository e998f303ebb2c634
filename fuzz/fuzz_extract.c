/*
 * fuzz_extract.c - libFuzzer entry point for mail -> keys, the path every
 * inbound mail and every outbound intake takes: extract_headers, then
 * extract_body on a configuration with small limits (so that the limits
 * are hit), as filters/ingest.c and filters/sendmail.c call them.
 *
 * Invariants checked on every input, beyond "no crash, no leak, no read
 * outside the mail" (the input is not NUL-terminated, so a scan past its
 * length is caught): the packed payload holds exactly the keys found, in
 * order, each parsing back to the same fingerprint; no key holds secret
 * material; the limits hold; a mail with no key says why; whatever is
 * shown to operators (uids, reasons, Subject, Message-ID) comes out of
 * the JSON writer as valid UTF-8.  Built by "make fuzz".
 */
#include "config/config.h"
#include "fuzz_check.h"
#include "mail/extract.h"
#include "openpgp/pgp.h"
#include "spool/queue.h"
#include "util/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_KEY 16384
#define FUZZ_MAX_KEYS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_payload(const struct extract *x)
{
	const unsigned char *kp;
	size_t off = 0, klen, n = 0;
	int r;

	while ((r = pgp_keyseq_next(x->payload.data, x->payload.len, &off,
				       &kp, &klen)) == 1) {
		struct pgp_key back;
		struct pb_err err;

		if (n >= x->keys.nkeys ||
		    pgp_parse_key_blob(kp, klen, &back, &err) != 0 ||
		    strcmp(back.fpr_hex, x->keys.keys[n].fpr_hex) != 0)
			abort();
		for (size_t i = 0; i < back.npackets; i++)
			if (back.tags[i] == PGP_TAG_SECRET_KEY ||
			    back.tags[i] == PGP_TAG_SECRET_SUBKEY)
				abort();
		if (klen > FUZZ_MAX_KEY)
			abort();
		pgp_key_free_contents(&back);
		n++;
	}
	if (r != 0 || n != x->keys.nkeys)
		abort();
	if (x->key_off[0] != 0 || x->key_off[n] != x->payload.len)
		abort();
}

static void
check_subset(const struct extract *x)
{
	unsigned char *take = calloc(x->keys.nkeys + 1, 1);
	struct buf sub = BUF_INIT;
	size_t want = 0;

	if (!take)
		abort();
	for (size_t i = 0; i < x->keys.nkeys; i++) {
		take[i] = i % 2 == 0;
		if (take[i])
			want += x->key_off[i + 1] - x->key_off[i];
	}
	extract_payload_subset(x, take, &sub);
	if (sub.len != want)
		abort();
	buf_free(&sub);
	free(take);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct extract x;
	const char *mail = (const char *)data;

	log_open("fuzz", 0, 0);	/* no output */
	config_defaults(&cfg);
	cfg.max_message_size = 1u << 20;
	cfg.max_key_size = FUZZ_MAX_KEY;
	cfg.max_keys_per_message = FUZZ_MAX_KEYS;

	extract_headers(&x, mail, size);
	extract_body(&x, &cfg, mail, size, size);

	if (x.keys.nkeys > FUZZ_MAX_KEYS)
		abort();
	check_payload(&x);
	check_subset(&x);
	if (x.keys.nkeys == 0 && x.nreasons == 0)
		abort();	/* nothing delivered and no reason given */
	if (x.reasons.len > 4096 || x.raw.len > (1u << 20) + 4096)
		abort();
	for (size_t i = 0; i < x.keys.nkeys; i++)
		if (x.keys.keys[i].uid)
			fuzz_json_ok(x.keys.keys[i].uid,
				     strlen(x.keys.keys[i].uid));
	fuzz_json_ok((const char *)x.reasons.data, x.reasons.len);
	if (x.h.subject)
		fuzz_json_ok(x.h.subject, strlen(x.h.subject));
	if (x.h.message_id)
		fuzz_json_ok(x.h.message_id, strlen(x.h.message_id));
	extract_free(&x);
	config_free(&cfg);
	return 0;
}
