/*
 * fuzz_policy.c - libFuzzer entry point for the key policy
 * (policy_judge, hence sigverify's parsers and every Nettle call they
 * make).  make fuzz builds and runs it.
 *
 * Input: four control octets, then the key.  Octet 0: bits 0-1 the
 * third_party_certs mode, bit 2 keep user attributes, bit 3 the gnupg:
 * exception, bit 4 judge as a delta (the stored key is the input's
 * second part, from the offset in octets 2-3), bit 5 block the primary
 * key; octet 1: max_certs_per_uid.
 *
 * Invariants: policy_judge fails only with PB_EDATA; on success every
 * packet of the key is counted exactly once, the output is empty or one
 * public key made only of packets of the input (byte for byte; one the
 * splitter takes, unless the key was unjudged), within
 * max_key_size, and empty for the verdicts that deliver nothing; the
 * log line and the JSON object are printable and the reason why valid
 * UTF-8 without controls.
 */
#include "fuzz_check.h"
#include "openpgp/pgp.h"
#include "openpgp/policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
npackets(const unsigned char *d, size_t len, int *broken)
{
	size_t off = 0, n = 0;
	struct pgp_packet p;
	int r;

	while ((r = pgp_packet_next(d, len, &off, &p, NULL, 0)) == 1)
		n++;
	*broken = r < 0;
	return n;
}

/* in_input - is the packet q, byte for byte, one of d's packets? */
static int
in_input(const unsigned char *d, size_t len, const struct pgp_packet *q)
{
	size_t off = 0;
	struct pgp_packet p;

	while (pgp_packet_next(d, len, &off, &p, NULL, 0) == 1)
		if (p.hlen + p.blen == q->hlen + q->blen &&
		    memcmp(p.hdr, q->hdr, p.hlen + p.blen) == 0)
			return 1;
	return 0;
}

static int
block_all(void *ctx, const unsigned char *fpr, size_t len)
{
	(void)ctx;
	(void)fpr;
	(void)len;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy pol;
	struct policy_result r;
	struct pb_err err;
	const unsigned char *key, *stored = NULL;
	size_t klen, slen = 0, total, off = 0;
	struct pgp_packet p;
	struct buf b = BUF_INIT;
	int broken;

	if (size < 4)
		return 0;
	memset(&pol, 0, sizeof pol);
	policy_settings_init(&pol.set);
	pol.set.third_party = (enum policy_third_party)(data[0] & 3);
	pol.set.keep_user_attributes = (data[0] >> 2) & 1;
	pol.set.keep_uids_when_revoked = (data[0] >> 3) & 1;
	pol.set.max_certs_per_uid = data[1];
	pol.set.max_key_size = 16384;
	pol.set.now = 1700000000 + 86400;
	if (data[0] & 0x20)
		pol.blocked = block_all;
	key = data + 4;
	klen = size - 4;
	if (data[0] & 0x10) {
		size_t at = (size_t)data[2] << 8 | data[3];

		if (at < klen) {
			stored = key + at;
			slen = klen - at;
			klen = at;
		}
	}
	if (policy_judge(&pol, key, klen, stored, slen, &r, &err) != 0) {
		if (err.status != PB_EDATA || r.kept.len != 0)
			abort();
		policy_result_free(&r);
		return 0;
	}
	/* Success means the key framed as one key. */
	total = r.kept_packets + r.stored_packets;
	for (int i = 0; i < POLICY_NREASONS; i++)
		total += r.dropped[i];
	if (total != npackets(key, klen, &broken) || broken)
		abort();
	if (r.kept.len > pol.set.max_key_size ||
	    ((r.verdict == POLICY_EMPTY || r.verdict == POLICY_TOO_LARGE) &&
	     r.kept.len != 0) ||
	    (r.verdict == POLICY_KEPT && r.kept.len == 0))
		abort();
	if (r.kept.len && r.verdict != POLICY_UNJUDGED) {
		struct pgp_keylist l;

		/* An unjudged key may be of a version the splitter refuses
		 * (the policy passes what it cannot judge, as SKS would);
		 * the packet checks below still hold for it. */
		memset(&l, 0, sizeof l);
		pgp_split_keys(r.kept.data, r.kept.len, NULL, &l);
		if (l.nkeys != 1 || l.nproblems != 0)
			abort();
		pgp_keylist_free(&l);
	}
	if (r.kept.len) {
		if (r.kept.data[0] != (0xC0 | PGP_TAG_PUBLIC_KEY) &&
		    (r.kept.data[0] & 0xFC) != (0x80 | PGP_TAG_PUBLIC_KEY << 2))
			abort();
		if (npackets(r.kept.data, r.kept.len, &broken) != r.kept_packets ||
		    broken)
			abort();
		while (pgp_packet_next(r.kept.data, r.kept.len, &off, &p, NULL,
				       0) == 1)
			if (!in_input(key, klen, &p))
				abort();
	}
	if (!fuzz_utf8_ok((const unsigned char *)r.why, strlen(r.why)))
		abort();
	policy_result_log(&r, &b);
	policy_result_json(&r, &b);
	if (!fuzz_utf8_ok(b.data, b.len))
		abort();
	buf_free(&b);
	policy_result_free(&r);
	return 0;
}
