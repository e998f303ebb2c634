/*
 * fuzz_pgp.c - libFuzzer entry point for pgp_split_keys (make fuzz builds
 * and runs it).  Any bytes are split under limits; accepted keys must
 * respect them, carry a sane fingerprint and a printable user ID, and
 * parse back from their stored bytes to the same key.
 */
#include "openpgp/pgp.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_key(const struct pgp_key *k, const struct pgp_limits *lim)
{
	struct pgp_key back;
	struct pb_err err;

	if (k->len > lim->max_key_size || k->npackets == 0 ||
	    k->tags[0] != PGP_TAG_PUBLIC_KEY)
		abort();
	if (!((k->version == 4 && k->fpr_len == 20) ||
	      ((k->version == 5 || k->version == 6) && k->fpr_len == 32)) ||
	    strlen(k->fpr_hex) != 2 * k->fpr_len)
		abort();
	for (size_t i = 0; i < k->npackets; i++)
		if (k->tags[i] == PGP_TAG_TRUST ||
		    k->tags[i] == PGP_TAG_SECRET_KEY ||
		    k->tags[i] == PGP_TAG_SECRET_SUBKEY)
			abort();
	if (k->uid) {
		size_t n = strlen(k->uid);

		if (n > PGP_UID_MAX)
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)k->uid[i] < 0x20 || k->uid[i] == 0x7f)
				abort();
	}
	if (pgp_parse_key_blob(k->data, k->len, &back, &err) != 0)
		abort();
	if (strcmp(back.fpr_hex, k->fpr_hex) != 0 ||
	    back.npackets != k->npackets || back.len != k->len ||
	    memcmp(back.digests, k->digests,
		   k->npackets * sizeof *k->digests) != 0 ||
	    (back.uid == NULL) != (k->uid == NULL) ||
	    (k->uid && strcmp(back.uid, k->uid) != 0))
		abort();
	pgp_key_free_contents(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pgp_limits lim = { 16384, 8 };
	struct pgp_keylist list;

	memset(&list, 0, sizeof list);
	pgp_split_keys(data, size, &lim, &list);
	if (list.nkeys > lim.max_keys || list.nproblems > PGP_MAX_PROBLEMS + 1)
		abort();
	for (size_t i = 0; i < list.nkeys; i++)
		check_key(&list.keys[i], &lim);
	pgp_keylist_free(&list);
	return 0;
}
