/*
 * keysplit - test and bench tool: write keys from a binary keyring as one
 * armored file each, using pksbridge's own packet framing (importing the
 * 905-key Debian keyring into gpg to export it again takes minutes).
 *
 *   keysplit KEYRING OUTDIR [COUNT [SKIP [MAX_BYTES]]]
 *
 * Writes OUTDIR/FPR.asc for COUNT keys (default all) after skipping SKIP,
 * and prints "FPR FILE" per key on stdout.  With MAX_BYTES, keys whose
 * binary form is larger are passed over (not counted): a throwaway SKS
 * merges small keys much faster.
 */
#include "openpgp/armor.h"
#include "openpgp/pgp.h"
#include "util/buf.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	struct pgp_keylist list = { 0 };
	struct pgp_limits lim = { 64u << 20, 1000000 };
	unsigned long count, skip, max_bytes, written = 0;
	FILE *f;
	unsigned char *data;
	long len;

	log_open("keysplit", LOG_DEST_STDERR, 1);
	if (argc < 3) {
		fprintf(stderr, "usage: keysplit KEYRING OUTDIR [COUNT [SKIP "
			"[MAX_BYTES]]]\n");
		return 64;
	}
	count = argc > 3 ? strtoul(argv[3], NULL, 10) : (unsigned long)-1;
	skip = argc > 4 ? strtoul(argv[4], NULL, 10) : 0;
	max_bytes = argc > 5 ? strtoul(argv[5], NULL, 10) : (unsigned long)-1;
	if (!(f = fopen(argv[1], "rb")) || fseek(f, 0, SEEK_END) != 0 ||
	    (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		perror(argv[1]);
		return 66;
	}
	data = malloc((size_t)len + 1);
	if (!data || fread(data, 1, (size_t)len, f) != (size_t)len) {
		perror(argv[1]);
		return 66;
	}
	fclose(f);
	pgp_split_keys(data, (size_t)len, &lim, &list);
	for (size_t i = skip; i < list.nkeys && written < count; i++) {
		struct buf out = BUF_INIT;
		char path[4096];
		FILE *o;

		if (list.keys[i].len > max_bytes)
			continue;
		written++;
		snprintf(path, sizeof path, "%s/%s.asc", argv[2],
			 list.keys[i].fpr_hex);
		armor_encode_pubkey(list.keys[i].data, list.keys[i].len, &out);
		if (!(o = fopen(path, "w")) || fwrite(out.data, 1, out.len, o) != out.len ||
		    fclose(o) != 0) {
			perror(path);
			return 73;
		}
		printf("%s %s\n", list.keys[i].fpr_hex, path);
		buf_free(&out);
	}
	pgp_keylist_free(&list);
	free(data);
	return 0;
}
