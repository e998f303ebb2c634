/*
 * test_sigverify.c - in-process signature verification: good, bad and
 * unknown for every algorithm and hash (keys made by pgpgen, each
 * checked against gpg too), v3 signatures, hostile lengths and
 * parameters, every self-signature and back-signature of Debian's
 * keyring against `gpg --with-sig-check`, and the 1PA3PC digests against
 * real `sq key attest-certifications` output.
 */
#include "lib/unit.h"
#include "openpgp/armor.h"
#include "openpgp/pgp.h"
#include "openpgp/sigverify.h"
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEBIAN_KEYRING "/usr/share/keyrings/debian-keyring.gpg"

/* --- helpers ----------------------------------------------------------- */

/* A key's first packets: the primary key, one component, one signature. */
struct three {
	struct pgp_packet key, comp, sig;
};

static int
frame3(const unsigned char *d, size_t len, struct three *t)
{
	size_t off = 0;

	return pgp_packet_next(d, len, &off, &t->key, NULL, 0) == 1 &&
	       pgp_packet_next(d, len, &off, &t->comp, NULL, 0) == 1 &&
	       pgp_packet_next(d, len, &off, &t->sig, NULL, 0) == 1 ? 0 : -1;
}

/* check3 - verify the signature of a framed three-packet key. */
static enum sigv_result
check3(const unsigned char *kb, size_t kl, const unsigned char *sb, size_t sl,
       const struct three *t)
{
	struct sigv_key k;
	struct pgp_sig s;
	enum sigv_result r;

	r = sigv_key_init(&k, kb, kl, NULL, 0);
	if (r == SIGV_GOOD) {
		if (pgp_sig_parse(sb, sl, &s, NULL, 0) != 0)
			r = SIGV_BAD;
		else
			r = sigv_verify(&k, &s, kb, kl, t->comp.tag,
					t->comp.body, t->comp.blen, NULL, 0);
	}
	sigv_key_clear(&k);
	return r;
}

static int
first_block(void *ctx, const struct armor_block *blk)
{
	if (blk->ok)
		buf_append(ctx, blk->data, blk->len);
	return 1;
}

/* dearmor - the first armor block of a fixture under tests/data. */
static int
dearmor(const char *rel, struct buf *out)
{
	size_t len;
	char *text = unit_read_file(unit_data_path(rel), &len);

	buf_reset(out);
	if (!text)
		return -1;
	armor_scan(text, len, 1 << 20, first_block, out);
	free(text);
	return out->len ? 0 : -1;
}

/* gpg_says_good - does `gpg --show-keys --with-sig-check` list the
 * self-signature of the key in path as good ("sig:!")? */
static int
gpg_says_good(const char *path)
{
	char cmd[1200], line[1024];
	FILE *f;
	int good = 0;

	snprintf(cmd, sizeof cmd, "GNUPGHOME='%s/gnupg' gpg --batch --no-tty "
		 "--with-colons --with-sig-check --show-keys '%s' 2>/dev/null",
		 unit_tmpdir(), path);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "sig:!:", 6) == 0)
			good = 1;
	if (pclose(f) != 0)
		return -1;
	return good;
}

static const char *
gnupg_home(void)
{
	static char home[700];

	snprintf(home, sizeof home, "%s/gnupg", unit_tmpdir());
	mkdir(home, 0700);
	return home;
}

/* algos - pgpgen's good and broken key per algorithm and hash, made once
 * per run into TMP/algos (the list in TMP/algos.list); NULL on failure. */
static const char *
algos(void)
{
	static char dir[700];
	static int made;
	char list[800], args[1024];

	snprintf(dir, sizeof dir, "%s/algos", unit_tmpdir());
	if (!made) {
		snprintf(list, sizeof list, "%s/algos.list", unit_tmpdir());
		snprintf(args, sizeof args, "algos --out '%s'", dir);
		if (unit_pgpgen(args, list) != 0)
			return NULL;
		made = 1;
	}
	return dir;
}

/* --- tests --------------------------------------------------------------- */

/* Every algorithm and hash: the good key verifies, the broken one does
 * not, brainpool (no Nettle curve) is unknown; gpg agrees wherever it
 * knows the algorithm (GnuPG 2.2 rejects MD5 by policy and knows neither
 * SHA-3 nor the algorithms 27 and 28). */
static void
test_algorithms(void)
{
	const char *dir = algos();
	char list[800], line[1024];
	size_t n = 0, gpg_checked = 0;
	FILE *f;

	CHECK_MSG(dir != NULL, "pgpgen algos failed");
	snprintf(list, sizeof list, "%s/algos.list", unit_tmpdir());
	gnupg_home();
	f = fopen(list, "r");
	CHECK(f != NULL);
	while (fgets(line, sizeof line, f)) {
		char name[200], algo[40], hash[40], verdict[10], path[1000];
		unsigned char *d;
		size_t len;
		struct three t;
		enum sigv_result r, want;
		int g;

		CHECK(sscanf(line, "%199s %39s %39s %9s", name, algo, hash,
			     verdict) == 4);
		snprintf(path, sizeof path, "%s/%s", dir, name);
		d = (unsigned char *)unit_read_file(path, &len);
		CHECK(d != NULL);
		CHECK(frame3(d, len, &t) == 0);
		r = check3(t.key.body, t.key.blen, t.sig.body, t.sig.blen, &t);
		want = strcmp(algo, "brainpool256") == 0 ? SIGV_UNKNOWN :
			strcmp(verdict, "good") == 0 ? SIGV_GOOD : SIGV_BAD;
		CHECK_MSG(r == want, "%s: got %s, want %s", name,
			  sigv_result_name(r), sigv_result_name(want));
		free(d);
		n++;
		if (strcmp(hash, "md5") == 0 || strncmp(hash, "sha3", 4) == 0 ||
		    strcmp(algo, "ed25519") == 0 || strcmp(algo, "ed448") == 0)
			continue;
		g = gpg_says_good(path);
		CHECK_MSG(g == (strcmp(verdict, "good") == 0), "%s: gpg says %d",
			  name, g);
		gpg_checked++;
	}
	fclose(f);
	printf("# sigverify: %zu keys, %zu of them checked against gpg\n", n,
	       gpg_checked);
	CHECK(n >= 40);
}

/* What this code does not implement is UNKNOWN, never BAD or GOOD; a
 * signature that claims another algorithm than its key is BAD. */
static void
test_unknown(void)
{
	char path[800];
	unsigned char *d, *kb, *sb;
	size_t len;
	struct three t;
	struct sigv_key k;

	CHECK_MSG(algos() != NULL, "pgpgen algos failed");
	snprintf(path, sizeof path, "%s/rsa2048-sha256-good.gpg", algos());
	d = (unsigned char *)unit_read_file(path, &len);
	CHECK(d != NULL);
	CHECK(frame3(d, len, &t) == 0);
	kb = (unsigned char *)t.key.body;
	sb = (unsigned char *)t.sig.body;
	CHECK_INT(check3(kb, t.key.blen, sb, t.sig.blen, &t), SIGV_GOOD);
	/* A hash id nobody assigned. */
	sb[3] = 100;
	CHECK_INT(check3(kb, t.key.blen, sb, t.sig.blen, &t), SIGV_UNKNOWN);
	sb[3] = 8;
	/* The signature says DSA. */
	sb[2] = 17;
	CHECK_INT(check3(kb, t.key.blen, sb, t.sig.blen, &t), SIGV_BAD);
	sb[2] = 1;
	/* A key of algorithm 99, Elgamal, v5. */
	kb[5] = 99;
	CHECK_INT(sigv_key_init(&k, kb, t.key.blen, NULL, 0), SIGV_UNKNOWN);
	sigv_key_clear(&k);
	kb[5] = 20;
	CHECK_INT(sigv_key_init(&k, kb, t.key.blen, NULL, 0), SIGV_UNKNOWN);
	sigv_key_clear(&k);
	kb[5] = 1;
	kb[0] = 5;
	CHECK_INT(sigv_key_init(&k, kb, t.key.blen, NULL, 0), SIGV_UNKNOWN);
	sigv_key_clear(&k);
	kb[0] = 4;
	CHECK_INT(check3(kb, t.key.blen, sb, t.sig.blen, &t), SIGV_GOOD);
	/* A signature over a user ID is not over a subkey. */
	t.comp.tag = PGP_TAG_PUBLIC_SUBKEY;
	CHECK_INT(check3(kb, t.key.blen, sb, t.sig.blen, &t), SIGV_BAD);
	free(d);
}

/* Critical subpackets this code does not know make a signature invalid
 * only in the hashed area (anyone can add to the unhashed one). */
static void
test_critical(void)
{
	/* v4, type 0x13, RSA, SHA-256; hashed: creation time, critical
	 * type 99; unhashed: critical type 98; left16; an empty MPI. */
	unsigned char sig[] = {
		4, 0x13, 1, 8, 0, 8, 5, 2, 0, 0, 0, 1, 1, 0x80 | 99,
		0, 2, 1, 0x80 | 98, 0xAB, 0xCD, 0, 0,
	};
	struct pgp_sig s;

	CHECK(pgp_sig_parse(sig, sizeof sig, &s, NULL, 0) == 0);
	CHECK_INT(s.unknown_critical, 1);
	CHECK_INT(s.created, 1);
	sig[13] = 0x80 | 37;	/* attested certifications: known */
	CHECK(pgp_sig_parse(sig, sizeof sig, &s, NULL, 0) == 0);
	CHECK_INT(s.unknown_critical, 0);
	CHECK_INT(s.has_attested, 1);
	/* A subpacket length of 0, and one running past its area. */
	sig[12] = 0;
	CHECK(pgp_sig_parse(sig, sizeof sig, &s, NULL, 0) != 0);
	sig[12] = 9;
	CHECK(pgp_sig_parse(sig, sizeof sig, &s, NULL, 0) != 0);
}

/* Hostile bytes: every truncation of every good signature and key is
 * BAD or UNKNOWN, never GOOD, and nothing reads past the packet (ASan
 * and valgrind run this); parameters that would break GMP are BAD. */
static void
test_hostile(void)
{
	static const char *const names[] = {
		"rsa2048-sha256", "dsa2048-sha256", "p384-sha384",
		"ed25519legacy-sha256", "ed25519-sha256", "ed448-sha512",
	};
	size_t tried = 0;

	CHECK_MSG(algos() != NULL, "pgpgen algos failed");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char path[800];
		unsigned char *d, *copy;
		size_t len;
		struct three t;

		snprintf(path, sizeof path, "%s/algos/%s-good.gpg", unit_tmpdir(),
			 names[i]);
		d = (unsigned char *)unit_read_file(path, &len);
		CHECK_MSG(d != NULL, "%s missing", path);
		CHECK(frame3(d, len, &t) == 0);
		for (size_t n = 0; n < t.sig.blen; n++) {
			/* A copy of exactly n bytes, so ASan sees any
			 * overread. */
			copy = malloc(n ? n : 1);
			memcpy(copy, t.sig.body, n);
			CHECK_MSG(check3(t.key.body, t.key.blen, copy, n, &t) !=
				  SIGV_GOOD, "%s: signature cut to %zu", names[i], n);
			free(copy);
			tried++;
		}
		for (size_t n = 0; n < t.key.blen; n++) {
			copy = malloc(n ? n : 1);
			memcpy(copy, t.key.body, n);
			CHECK_MSG(check3(copy, n, t.sig.body, t.sig.blen, &t) !=
				  SIGV_GOOD, "%s: key cut to %zu", names[i], n);
			free(copy);
			tried++;
		}
		free(d);
	}
	{
		/* DSA with q = 0 and p even; RSA with e = 1 and e even; an
		 * MPI longer than its packet; an ECDSA point off its curve. */
		static const unsigned char dsa_q0[] = {
			4, 0, 0, 0, 0, 17, 0, 5, 0x17, 0, 0, 0, 2, 3, 0, 2, 3 };
		static const unsigned char dsa_even[] = {
			4, 0, 0, 0, 0, 17, 0, 16, 0x80, 0x00, 0, 9, 1, 0x01,
			0, 2, 3, 0, 2, 3 };
		static const unsigned char rsa_e1[] = {
			4, 0, 0, 0, 0, 1, 0, 16, 0xC0, 0x01, 0, 1, 1 };
		static const unsigned char rsa_e2[] = {
			4, 0, 0, 0, 0, 1, 0, 16, 0xC0, 0x01, 0, 2, 2 };
		static const unsigned char rsa_long[] = {
			4, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xC0, 0x01 };
		struct sigv_key k;
		char path[800];
		unsigned char *d;
		size_t len;
		struct three t;

		CHECK_INT(sigv_key_init(&k, dsa_q0, sizeof dsa_q0, NULL, 0),
			  SIGV_BAD);
		sigv_key_clear(&k);
		CHECK_INT(sigv_key_init(&k, dsa_even, sizeof dsa_even, NULL, 0),
			  SIGV_BAD);
		sigv_key_clear(&k);
		CHECK_INT(sigv_key_init(&k, rsa_e1, sizeof rsa_e1, NULL, 0),
			  SIGV_BAD);
		sigv_key_clear(&k);
		CHECK_INT(sigv_key_init(&k, rsa_e2, sizeof rsa_e2, NULL, 0),
			  SIGV_BAD);
		sigv_key_clear(&k);
		CHECK_INT(sigv_key_init(&k, rsa_long, sizeof rsa_long, NULL, 0),
			  SIGV_BAD);
		sigv_key_clear(&k);
		snprintf(path, sizeof path, "%s/algos/p256-sha256-good.gpg",
			 unit_tmpdir());
		d = (unsigned char *)unit_read_file(path, &len);
		CHECK(d != NULL);
		CHECK(frame3(d, len, &t) == 0);
		((unsigned char *)t.key.body)[t.key.blen - 1] ^= 1;
		CHECK_INT(sigv_key_init(&k, t.key.body, t.key.blen, NULL, 0),
			  SIGV_BAD);
		sigv_key_clear(&k);
		free(d);
	}
	printf("# sigverify: %zu truncated signatures and keys\n", tried);
}

/* A self-signature recorded by gpg: the key ID it belongs to, its class
 * and its creation time. */
struct gsig {
	char fpr[41];
	unsigned cls;
	unsigned long created;
};

static int
gsig_cmp(const void *a, const void *b)
{
	const struct gsig *x = a, *y = b;
	int c = strcmp(x->fpr, y->fpr);

	if (c)
		return c;
	if (x->cls != y->cls)
		return x->cls < y->cls ? -1 : 1;
	return x->created < y->created ? -1 : x->created > y->created;
}

/* Every self-signature and back-signature of Debian's keyring verifies;
 * every one gpg calls good ("sig:!"/"rev:!" with the key's own key ID)
 * is one we call good.  gpg lists only the newest subkey binding of a
 * subkey (its import keeps only that one), so ours are a superset. */
static void
test_debian_keyring(void)
{
	unsigned char *d;
	size_t len, off = 0, ngpg = 0, cap = 8192, matched = 0;
	struct pgp_packet p;
	const unsigned char *prim = NULL, *comp = NULL;
	size_t plen = 0, clen = 0;
	unsigned ctag = 0;
	unsigned char fpr[PGP_FPR_MAX];
	size_t fl = 0;
	char fhex[2 * PGP_FPR_MAX + 1] = "";
	int ver, kok = SIGV_BAD;
	long count[3] = { 0 }, back[3] = { 0 };
	struct gsig *gs, *ours;
	size_t nours = 0;
	struct sigv_key k;
	char cmd[900], line[4096], cur[41] = "";
	FILE *f;
	double t0, t;

	if (access(DEBIAN_KEYRING, R_OK) != 0) {
		printf("# skip: %s missing\n", DEBIAN_KEYRING);
		return;
	}
	/* gpg's view: self-signatures it checked. */
	gs = calloc(cap, sizeof *gs);
	ours = calloc(cap, sizeof *ours);
	snprintf(cmd, sizeof cmd, "GNUPGHOME='%s' gpg --batch --no-tty "
		 "--with-colons --with-sig-check --show-keys %s 2>/dev/null",
		 gnupg_home(), DEBIAN_KEYRING);
	f = popen(cmd, "r");
	CHECK(f != NULL);
	while (fgets(line, sizeof line, f)) {
		char *fld[20];
		int nf = 0;

		for (char *s = line, *e; nf < 20; s = e + 1) {
			fld[nf++] = s;
			if ((e = strchr(s, ':')) == NULL)
				break;
			*e = '\0';
		}
		if (strcmp(fld[0], "fpr") == 0 && nf > 9 && cur[0] == '\0')
			snprintf(cur, sizeof cur, "%s", fld[9]);
		if (strcmp(fld[0], "pub") == 0)
			cur[0] = '\0';
		if ((strcmp(fld[0], "sig") == 0 || strcmp(fld[0], "rev") == 0) &&
		    nf > 10 && strcmp(fld[1], "!") == 0 && cur[0] &&
		    strcmp(fld[4], cur + 24) == 0 && ngpg < cap) {
			snprintf(gs[ngpg].fpr, sizeof gs[ngpg].fpr, "%s", cur);
			gs[ngpg].cls = (unsigned)strtoul(fld[10], NULL, 16);
			gs[ngpg].created = strtoul(fld[5], NULL, 10);
			ngpg++;
		}
	}
	CHECK(pclose(f) == 0);
	CHECK(ngpg > 5000);

	d = (unsigned char *)unit_read_file(DEBIAN_KEYRING, &len);
	CHECK(d != NULL);
	memset(&k, 0, sizeof k);
	t0 = unit_ms();
	while (pgp_packet_next(d, len, &off, &p, NULL, 0) == 1) {
		struct pgp_sig s;
		enum sigv_result r;

		if (p.tag == PGP_TAG_PUBLIC_KEY) {
			sigv_key_clear(&k);
			prim = p.body;
			plen = p.blen;
			kok = sigv_key_init(&k, p.body, p.blen, NULL, 0);
			CHECK(pgp_key_fingerprint(p.body, p.blen, &ver, fpr,
						  &fl) == 0);
			pgp_hex(fpr, fl, fhex);
			ctag = 0;
			continue;
		}
		if (p.tag == PGP_TAG_USER_ID || p.tag == PGP_TAG_USER_ATTRIBUTE ||
		    p.tag == PGP_TAG_PUBLIC_SUBKEY) {
			ctag = p.tag;
			comp = p.body;
			clen = p.blen;
			continue;
		}
		if (p.tag != PGP_TAG_SIGNATURE || !prim)
			continue;
		CHECK(pgp_sig_parse(p.body, p.blen, &s, NULL, 0) == 0);
		if (!s.has_issuer || memcmp(s.issuer, fpr + 12, 8) != 0 ||
		    (ctag == 0 && s.type != SIG_DIRECT_KEY &&
		     s.type != SIG_KEY_REVOCATION))
			continue;
		CHECK_INT(kok, SIGV_GOOD);
		r = sigv_verify(&k, &s, prim, plen, ctag, comp, clen, NULL, 0);
		count[r]++;
		CHECK_MSG(r == SIGV_GOOD, "%s: type 0x%02X: %s", fhex, s.type,
			  sigv_result_name(r));
		if (nours < cap) {
			snprintf(ours[nours].fpr, sizeof ours[nours].fpr, "%s",
				 fhex);
			ours[nours].cls = (unsigned)s.type;
			ours[nours].created = s.created;
			nours++;
		}
		if (s.type == SIG_SUBKEY_BINDING && s.embedded) {
			struct pgp_sig e;
			struct sigv_key sk;

			CHECK(pgp_sig_parse(s.embedded, s.embedded_len, &e, NULL,
					    0) == 0);
			r = sigv_key_init(&sk, comp, clen, NULL, 0);
			if (r == SIGV_GOOD)
				r = sigv_verify(&sk, &e, prim, plen,
						PGP_TAG_PUBLIC_SUBKEY, comp, clen,
						NULL, 0);
			sigv_key_clear(&sk);
			back[r]++;
			CHECK_MSG(r == SIGV_GOOD, "%s: back-signature: %s", fhex,
				  sigv_result_name(r));
		}
	}
	t = unit_ms() - t0;
	sigv_key_clear(&k);
	free(d);
	qsort(gs, ngpg, sizeof *gs, gsig_cmp);
	qsort(ours, nours, sizeof *ours, gsig_cmp);
	for (size_t i = 0; i < ngpg; i++)
		if (bsearch(&gs[i], ours, nours, sizeof *ours, gsig_cmp))
			matched++;
	printf("# sigverify: debian keyring: %ld self-signatures good, %ld "
	       "back-signatures good (%.0f ms); gpg calls %zu good, all %zu "
	       "found good here\n", count[SIGV_GOOD], back[SIGV_GOOD], t, ngpg,
	       matched);
	CHECK_INT(matched, ngpg);
	CHECK(back[SIGV_GOOD] > 600);
	free(gs);
	free(ours);
}

/* attested - how many certifications of the key in rel the newest
 * attestation names, by sigv_attest_digest; *with_unhashed counts those
 * matched whose unhashed area is not empty (GnuPG's certifications). */
static int
attested(const char *rel, size_t *ncerts, size_t *with_unhashed)
{
	struct buf b = BUF_INIT;
	size_t off = 0, matched = 0;
	struct pgp_packet p;
	struct pgp_sig att, s;
	const unsigned char *att_body = NULL;
	size_t att_len = 0;

	*ncerts = *with_unhashed = 0;
	if (dearmor(rel, &b) != 0)
		return -1;
	memset(&att, 0, sizeof att);
	/* The newest attestation. */
	while (pgp_packet_next(b.data, b.len, &off, &p, NULL, 0) == 1) {
		if (p.tag != PGP_TAG_SIGNATURE ||
		    pgp_sig_parse(p.body, p.blen, &s, NULL, 0) != 0 ||
		    s.type != SIG_ATTESTATION)
			continue;
		if (!att_body || s.created > att.created) {
			att = s;
			att_body = p.body;
			att_len = p.blen;
		}
	}
	if (!att_body)
		return -1;
	off = 0;
	while (pgp_packet_next(b.data, b.len, &off, &p, NULL, 0) == 1) {
		unsigned char dig[SIGV_MAX_DIGEST];
		size_t dl, soff = 0, l;
		unsigned type;
		int crit;
		const unsigned char *data;

		if (p.tag != PGP_TAG_SIGNATURE ||
		    pgp_sig_parse(p.body, p.blen, &s, NULL, 0) != 0 ||
		    s.type != SIG_CERT_GENERIC)
			continue;
		(*ncerts)++;
		dl = sigv_attest_digest(&s, att.hash_algo, dig);
		if (dl == 0)
			continue;
		while (pgp_sig_subpacket_next(att.hashed, att.hashed_len, &soff,
					      &type, &crit, &data, &l) == 1) {
			if (type != SUBPKT_ATTESTED_CERTS)
				continue;
			for (size_t i = 0; i + dl <= l; i += dl) {
				if (memcmp(data + i, dig, dl) == 0) {
					matched++;
					if (s.unhashed_len > 0)
						(*with_unhashed)++;
				}
			}
		}
	}
	(void)att_len;
	buf_free(&b);
	return (int)matched;
}

/* The 1PA3PC digest, against what sq 0.27 wrote: bob, carol (sq) and
 * dave (gpg, issuer in the unhashed area) attested, erin not; on the
 * no-modify key the first four of ten. */
static void
test_attest_digest_sq(void)
{
	size_t ncerts, unhashed;

	CHECK_INT(attested("policy/sq-attested.asc", &ncerts, &unhashed), 3);
	CHECK_INT(ncerts, 4);
	CHECK_INT(unhashed, 1);
	CHECK_INT(attested("policy/sq-nomodify.asc", &ncerts, &unhashed), 4);
	CHECK_INT(ncerts, 10);
}

/* Every self-signature of the sq fixtures verifies (sq's own keys:
 * EdDSA and RSA-3072, SHA-512, critical subpackets, notations). */
static void
test_sq_self(void)
{
	static const char *const fx[] = { "policy/sq-attested.asc",
					  "policy/sq-nomodify.asc" };

	for (size_t i = 0; i < 2; i++) {
		struct buf b = BUF_INIT;
		size_t off = 0, good = 0;
		struct pgp_packet p, key, comp;
		struct sigv_key k;

		CHECK(dearmor(fx[i], &b) == 0);
		CHECK(pgp_packet_next(b.data, b.len, &off, &key, NULL, 0) == 1);
		CHECK_INT(sigv_key_init(&k, key.body, key.blen, NULL, 0),
			  SIGV_GOOD);
		memset(&comp, 0, sizeof comp);
		while (pgp_packet_next(b.data, b.len, &off, &p, NULL, 0) == 1) {
			struct pgp_sig s;
			unsigned char fpr[PGP_FPR_MAX];
			size_t fl;
			int ver;

			if (p.tag != PGP_TAG_SIGNATURE) {
				comp = p;
				continue;
			}
			CHECK(pgp_sig_parse(p.body, p.blen, &s, NULL, 0) == 0);
			CHECK(pgp_key_fingerprint(key.body, key.blen, &ver, fpr,
						  &fl) == 0);
			if (memcmp(s.issuer, fpr + 12, 8) != 0)
				continue;
			CHECK_MSG(sigv_verify(&k, &s, key.body, key.blen,
					      comp.tag ? comp.tag : 0, comp.body,
					      comp.blen, NULL, 0) == SIGV_GOOD,
				  "%s: type 0x%02X", fx[i], s.type);
			good++;
		}
		sigv_key_clear(&k);
		buf_free(&b);
		CHECK(good >= 2);
	}
}

/* v3 signatures (PGP 2 to 6) on a v4 key. */
static void
test_v3(void)
{
	CHECK_MSG(algos() != NULL, "pgpgen algos failed");
	for (int bad = 0; bad < 2; bad++) {
		char path[800];
		unsigned char *d;
		size_t len;
		struct three t;
		struct pgp_sig s;

		snprintf(path, sizeof path, "%s/algos/rsa2048-sha1v3-%s.gpg",
			 unit_tmpdir(), bad ? "bad" : "good");
		d = (unsigned char *)unit_read_file(path, &len);
		CHECK(d != NULL);
		CHECK(frame3(d, len, &t) == 0);
		CHECK(pgp_sig_parse(t.sig.body, t.sig.blen, &s, NULL, 0) == 0);
		CHECK_INT(s.version, 3);
		CHECK_INT(s.has_issuer, 2);
		CHECK_INT(check3(t.key.body, t.key.blen, t.sig.body, t.sig.blen,
				 &t), bad ? SIGV_BAD : SIGV_GOOD);
		free(d);
	}
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "algorithms", test_algorithms },
		{ "unknown", test_unknown },
		{ "critical subpackets", test_critical },
		{ "hostile", test_hostile },
		{ "v3 signatures", test_v3 },
		{ "debian keyring", test_debian_keyring },
		{ "attestation digests vs sq", test_attest_digest_sq },
		{ "sq self-signatures", test_sq_self },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "sigverify", tests);
}
