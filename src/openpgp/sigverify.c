/*
 * sigverify.c - OpenPGP signatures over keys: parsing, the hash material
 * of RFC 9580 5.2.4, and verification with Nettle (see sigverify.h).
 *
 * Written by hand: the packet fields and what goes into the hash (no
 * library exposes that for a packet list of our own).  From Nettle: the
 * hash functions, RSA PKCS#1 v1.5, DSA, ECDSA and EdDSA.
 */
#include "openpgp/sigverify.h"
#include "util/bytes.h"

#include <nettle/bignum.h>
#include <nettle/ecc-curve.h>
#include <nettle/ecdsa.h>
#include <nettle/eddsa.h>
#include <nettle/md5.h>
#include <nettle/nettle-meta.h>
#include <nettle/ripemd160.h>
#include <nettle/sha1.h>
#include <nettle/sha2.h>
#include <nettle/sha3.h>

#include <stdio.h>
#include <string.h>

/* --- hashes ------------------------------------------------------------ */

/* Room for any of the contexts below. */
union hash_ctx {
	struct md5_ctx md5;
	struct sha1_ctx sha1;
	struct ripemd160_ctx ripemd160;
	struct sha256_ctx sha256;
	struct sha512_ctx sha512;
	struct sha3_256_ctx sha3_256;
	struct sha3_512_ctx sha3_512;
};

/* One OpenPGP hash algorithm: its Nettle implementation and the DER
 * DigestInfo prefix an RSA PKCS#1 v1.5 signature carries
 * (RFC 9580 5.2.2). */
struct hashalg {
	int id;
	const struct nettle_hash *h;
	const unsigned char *der;
	size_t der_len;
};

static const unsigned char der_md5[] = {
	0x30, 0x20, 0x30, 0x0C, 0x06, 0x08, 0x2A, 0x86, 0x48, 0x86, 0xF7,
	0x0D, 0x02, 0x05, 0x05, 0x00, 0x04, 0x10 };
static const unsigned char der_sha1[] = {
	0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A,
	0x05, 0x00, 0x04, 0x14 };
static const unsigned char der_ripemd160[] = {
	0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2B, 0x24, 0x03, 0x02, 0x01,
	0x05, 0x00, 0x04, 0x14 };
static const unsigned char der_sha256[] = {
	0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const unsigned char der_sha384[] = {
	0x30, 0x41, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const unsigned char der_sha512[] = {
	0x30, 0x51, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };
static const unsigned char der_sha224[] = {
	0x30, 0x2D, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1C };
static const unsigned char der_sha3_256[] = {
	0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x08, 0x05, 0x00, 0x04, 0x20 };
static const unsigned char der_sha3_512[] = {
	0x30, 0x51, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x0A, 0x05, 0x00, 0x04, 0x40 };

#define DER(x) x, sizeof x

static const struct hashalg hashes[] = {
	{ 1, &nettle_md5, DER(der_md5) },
	{ 2, &nettle_sha1, DER(der_sha1) },
	{ 3, &nettle_ripemd160, DER(der_ripemd160) },
	{ 8, &nettle_sha256, DER(der_sha256) },
	{ 9, &nettle_sha384, DER(der_sha384) },
	{ 10, &nettle_sha512, DER(der_sha512) },
	{ 11, &nettle_sha224, DER(der_sha224) },
	{ 12, &nettle_sha3_256, DER(der_sha3_256) },
	{ 14, &nettle_sha3_512, DER(der_sha3_512) },
};

static const struct hashalg *
hash_by_id(int id)
{
	for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++)
		if (hashes[i].id == id)
			return &hashes[i];
	return NULL;
}

size_t
sigv_hash_len(int hash_algo)
{
	const struct hashalg *a = hash_by_id(hash_algo);

	return a ? a->h->digest_size : 0;
}

const char *
sigv_result_name(enum sigv_result r)
{
	switch (r) {
	case SIGV_GOOD: return "good";
	case SIGV_BAD: return "bad";
	case SIGV_UNKNOWN: return "unknown";
	}
	return "?";
}

/* --- parsing ----------------------------------------------------------- */

static int
fail(char *why, size_t why_len, const char *what)
{
	if (why && why_len)
		snprintf(why, why_len, "%s", what);
	return -1;
}

int
pgp_sig_subpacket_next(const unsigned char *area, size_t len, size_t *off,
		       unsigned *type, int *critical,
		       const unsigned char **data, size_t *data_len)
{
	const unsigned char *p;
	size_t n, hl, l;

	/* area is NULL for a v3 signature, which has no subpackets. */
	if (*off >= len)
		return 0;
	p = area + *off;
	n = len - *off;
	if (p[0] < 192) {
		hl = 1;
		l = p[0];
	} else if (p[0] < 255) {
		if (n < 2)
			return -1;
		hl = 2;
		l = ((size_t)(p[0] - 192) << 8) + p[1] + 192;
	} else {
		if (n < 5)
			return -1;
		hl = 5;
		l = be32_get(p + 1);
	}
	/* The length counts the type octet: 0 is malformed. */
	if (l == 0 || l > n - hl)
		return -1;
	*type = p[hl] & 0x7f;
	*critical = (p[hl] & 0x80) != 0;
	*data = p + hl + 1;
	*data_len = l - 1;
	*off += hl + l;
	return 1;
}

/* known_subpacket - a type RFC 9580 (or the 1PA3PC draft) defines, whose
 * critical bit therefore does not invalidate a signature.  A critical
 * notation (20) is accepted whatever its name, as GnuPG does for the
 * notations keys carry. */
static int
known_subpacket(unsigned t)
{
	return (t >= 2 && t <= 7) || t == 9 || t == 10 || t == 11 || t == 12 ||
	       t == 16 || (t >= 20 && t <= 35) || (t >= 37 && t <= 39);
}

/* scan_area - collect what struct pgp_sig names from one area. */
static int
scan_area(struct pgp_sig *sig, const unsigned char *area, size_t len,
	  int hashed)
{
	size_t off = 0;
	unsigned type;
	int critical, r;
	const unsigned char *d;
	size_t dl;

	while ((r = pgp_sig_subpacket_next(area, len, &off, &type, &critical,
					   &d, &dl)) == 1) {
		if (hashed && critical && !known_subpacket(type))
			sig->unknown_critical = 1;
		switch (type) {
		case SUBPKT_CREATED:
			if (hashed && dl == 4 && sig->created == 0)
				sig->created = be32_get(d);
			break;
		case SUBPKT_ISSUER:
			/* The hashed one wins: the unhashed area can be
			 * altered by anyone. */
			if (dl == 8 && (!sig->has_issuer || hashed)) {
				memcpy(sig->issuer, d, 8);
				sig->has_issuer = 1 + hashed;
			}
			break;
		case SUBPKT_ISSUER_FPR:
			if ((dl == 21 && d[0] == 4) ||
			    (dl == 33 && (d[0] == 5 || d[0] == 6))) {
				if (sig->issuer_fpr_len == 0 || hashed) {
					memcpy(sig->issuer_fpr, d + 1, dl - 1);
					sig->issuer_fpr_len = dl - 1;
				}
				if (sig->has_issuer < 1 + hashed) {
					memcpy(sig->issuer, d[0] == 4 ? d + 13 :
					       d + 1, 8);
					sig->has_issuer = 1 + hashed;
				}
			}
			break;
		case SUBPKT_KEYSERVER_PREFS:
			if (hashed && dl >= 1 && !sig->has_ks_prefs) {
				sig->has_ks_prefs = 1;
				sig->ks_prefs = d[0];
			}
			break;
		case SUBPKT_KEY_FLAGS:
			if (hashed && dl >= 1 && !sig->has_key_flags) {
				sig->has_key_flags = 1;
				sig->key_flags = d[0];
			}
			break;
		case SUBPKT_REASON:
			if (hashed && dl >= 1 && !sig->has_reason) {
				sig->has_reason = 1;
				sig->reason = d[0];
			}
			break;
		case SUBPKT_EMBEDDED_SIG:
			if (sig->embedded == NULL) {
				sig->embedded = d;
				sig->embedded_len = dl;
			}
			break;
		case SUBPKT_ATTESTED_CERTS:
			if (hashed)
				sig->has_attested = 1;
			break;
		}
	}
	return r;
}

int
pgp_sig_parse(const unsigned char *b, size_t n, struct pgp_sig *sig,
	      char *why, size_t why_len)
{
	size_t pos, hlen, ulen, lw;

	memset(sig, 0, sizeof *sig);
	sig->body = b;
	sig->body_len = n;
	if (n < 1)
		return fail(why, why_len, "empty signature packet");
	sig->version = b[0];
	if (b[0] == 2 || b[0] == 3) {
		/* v3: fixed fields, no subpackets. */
		if (n < 19 || b[1] != 5)
			return fail(why, why_len, "truncated v3 signature");
		sig->type = b[2];
		sig->created = be32_get(b + 3);
		memcpy(sig->issuer, b + 7, 8);
		sig->has_issuer = 2;	/* covered by the hash */
		sig->pk_algo = b[15];
		sig->hash_algo = b[16];
		sig->left16 = b + 17;
		sig->sigdata = b + 19;
		sig->sigdata_len = n - 19;
		return 0;
	}
	if (b[0] != 4 && b[0] != 5 && b[0] != 6)
		return fail(why, why_len, "unknown signature version");
	lw = b[0] == 6 ? 4 : 2;		/* v6 widened the area counts */
	if (n < 4 + lw)
		return fail(why, why_len, "truncated signature");
	sig->type = b[1];
	sig->pk_algo = b[2];
	sig->hash_algo = b[3];
	hlen = lw == 4 ? be32_get(b + 4) : be16_get(b + 4);
	pos = 4 + lw;
	if (hlen > n - pos)
		return fail(why, why_len, "hashed subpackets run past the "
			    "signature");
	sig->hashed = b + pos;
	sig->hashed_len = hlen;
	pos += hlen;
	sig->hashed_end = pos;
	sig->unhashed_off = pos;
	if (n - pos < lw)
		return fail(why, why_len, "truncated signature");
	ulen = lw == 4 ? be32_get(b + pos) : be16_get(b + pos);
	pos += lw;
	if (ulen > n - pos)
		return fail(why, why_len, "unhashed subpackets run past the "
			    "signature");
	sig->unhashed = b + pos;
	sig->unhashed_len = ulen;
	pos += ulen;
	if (n - pos < 2)
		return fail(why, why_len, "truncated signature");
	sig->left16 = b + pos;
	pos += 2;
	if (b[0] == 6) {
		/* A salt of its own length precedes the fields. */
		if (n - pos < 1 || b[pos] > n - pos - 1)
			return fail(why, why_len, "truncated v6 salt");
		pos += 1 + b[pos];
	}
	sig->sigdata = b + pos;
	sig->sigdata_len = n - pos;
	if (scan_area(sig, sig->hashed, sig->hashed_len, 1) != 0 ||
	    scan_area(sig, sig->unhashed, sig->unhashed_len, 0) != 0)
		return fail(why, why_len, "malformed subpacket area");
	return 0;
}

/* mpi - the MPI at d[*pos] (d[0..n)): its magnitude octets without the
 * leading zero octets a sloppy encoder left; -1 if it runs past n. */
static int
mpi(const unsigned char *d, size_t n, size_t *pos, const unsigned char **v,
    size_t *vlen)
{
	size_t bits, bytes;

	if (*pos > n || n - *pos < 2)
		return -1;
	bits = be16_get(d + *pos);
	bytes = (bits + 7) / 8;
	if (bytes > n - *pos - 2)
		return -1;
	*v = d + *pos + 2;
	*vlen = bytes;
	*pos += 2 + bytes;
	while (*vlen > 0 && **v == 0) {
		(*v)++;
		(*vlen)--;
	}
	return 0;
}

static unsigned
bitlen(const unsigned char *v, size_t n)
{
	unsigned b;

	if (n == 0)
		return 0;
	for (b = 8; b > 0 && !(v[0] & (1u << (b - 1))); b--)
		;
	return (unsigned)(n - 1) * 8 + b;
}

/* --- keys -------------------------------------------------------------- */

/* Curves by the OID octets OpenPGP carries (RFC 9580 9.2). */
static const unsigned char oid_p256[] = { 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03,
					  0x01, 0x07 };
static const unsigned char oid_p384[] = { 0x2B, 0x81, 0x04, 0x00, 0x22 };
static const unsigned char oid_p521[] = { 0x2B, 0x81, 0x04, 0x00, 0x23 };
static const unsigned char oid_ed25519[] = { 0x2B, 0x06, 0x01, 0x04, 0x01,
					     0xDA, 0x47, 0x0F, 0x01 };

static int
oid_is(const unsigned char *oid, size_t len, const unsigned char *want,
       size_t want_len)
{
	return len == want_len && memcmp(oid, want, len) == 0;
}

static enum sigv_result
key_fail(enum sigv_result r, char *why, size_t why_len, const char *what)
{
	fail(why, why_len, what);
	return r;
}

/* rsa_cost - microseconds of one verification, roughly, as measured with
 * Nettle 3.8 on a 2020s x86 core: 25 for RSA-2048, 90 for RSA-4096 with
 * e = 65537; quadratic in the modulus, linear in e's bits. */
static unsigned
rsa_cost(unsigned nbits, unsigned ebits)
{
	unsigned long c = (unsigned long)(nbits / 64) * (nbits / 64) * 90 / 4096;

	if (ebits > 17)
		c = c * ebits / 17;
	return c < 10 ? 10 : (unsigned)c;
}

static enum sigv_result
init_rsa(struct sigv_key *k, const unsigned char *b, size_t n, size_t pos,
	 char *why, size_t why_len)
{
	const unsigned char *nv, *ev;
	size_t nl, el;
	unsigned ebits;

	if (mpi(b, n, &pos, &nv, &nl) || mpi(b, n, &pos, &ev, &el))
		return key_fail(SIGV_BAD, why, why_len, "truncated RSA key");
	k->bits = bitlen(nv, nl);
	ebits = bitlen(ev, el);
	if (k->bits > SIGV_MAX_RSA_BITS || ebits > SIGV_MAX_RSA_E_BITS)
		return key_fail(SIGV_UNKNOWN, why, why_len, "RSA key larger "
				"than this code verifies");
	/* e of 1 (or 0, or even) makes every value a "signature". */
	if (el == 0 || (ev[el - 1] & 1) == 0 || (el == 1 && ev[0] < 3))
		return key_fail(SIGV_BAD, why, why_len, "RSA exponent unusable");
	k->kind = SIGV_KIND_RSA;
	rsa_public_key_init(&k->rsa);
	k->inited = 1;
	nettle_mpz_set_str_256_u(k->rsa.n, nl, nv);
	nettle_mpz_set_str_256_u(k->rsa.e, el, ev);
	if (!rsa_public_key_prepare(&k->rsa))
		return key_fail(SIGV_BAD, why, why_len, "RSA modulus too small");
	k->cost = rsa_cost(k->bits, ebits);
	return SIGV_GOOD;
}

static enum sigv_result
init_dsa(struct sigv_key *k, const unsigned char *b, size_t n, size_t pos,
	 char *why, size_t why_len)
{
	const unsigned char *v[4];
	size_t l[4];
	unsigned qbits;

	for (int i = 0; i < 4; i++)
		if (mpi(b, n, &pos, &v[i], &l[i]))
			return key_fail(SIGV_BAD, why, why_len,
					"truncated DSA key");
	k->bits = bitlen(v[0], l[0]);
	qbits = bitlen(v[1], l[1]);
	if (k->bits > SIGV_MAX_DSA_P_BITS || qbits > SIGV_MAX_DSA_Q_BITS)
		return key_fail(SIGV_UNKNOWN, why, why_len, "DSA key larger "
				"than this code verifies");
	/* GMP's modular arithmetic is undefined for a zero modulus: p and
	 * q must at least be odd numbers above 2 (they are primes). */
	if (l[0] == 0 || l[1] == 0 || !(v[0][l[0] - 1] & 1) ||
	    !(v[1][l[1] - 1] & 1) || k->bits < 16 || qbits < 16 ||
	    qbits >= k->bits)
		return key_fail(SIGV_BAD, why, why_len, "DSA parameters "
				"unusable");
	k->kind = SIGV_KIND_DSA;
	dsa_params_init(&k->dsa);
	mpz_init(k->y);
	k->inited = 1;
	nettle_mpz_set_str_256_u(k->dsa.p, l[0], v[0]);
	nettle_mpz_set_str_256_u(k->dsa.q, l[1], v[1]);
	nettle_mpz_set_str_256_u(k->dsa.g, l[2], v[2]);
	nettle_mpz_set_str_256_u(k->y, l[3], v[3]);
	if (mpz_cmp_ui(k->dsa.g, 1) <= 0 || mpz_cmp(k->dsa.g, k->dsa.p) >= 0 ||
	    mpz_cmp_ui(k->y, 1) <= 0 || mpz_cmp(k->y, k->dsa.p) >= 0)
		return key_fail(SIGV_BAD, why, why_len, "DSA parameters "
				"unusable");
	{
		unsigned long c = (unsigned long)(k->bits / 64) * (k->bits / 64) *
			90 / 4096 * (qbits * 2 / 17 + 1);

		k->cost = c < 50 ? 50 : (unsigned)c;
	}
	return SIGV_GOOD;
}

static enum sigv_result
init_ecdsa(struct sigv_key *k, const unsigned char *b, size_t n, size_t pos,
	   char *why, size_t why_len)
{
	const struct ecc_curve *curve;
	const unsigned char *oid, *pt;
	size_t oid_len, pt_len, clen;
	mpz_t x, y;
	int on_curve;

	if (n - pos < 1 || b[pos] == 0 || b[pos] == 0xff ||
	    b[pos] > n - pos - 1)
		return key_fail(SIGV_BAD, why, why_len, "truncated curve OID");
	oid = b + pos + 1;
	oid_len = b[pos];
	pos += 1 + oid_len;
	if (oid_is(oid, oid_len, oid_p256, sizeof oid_p256)) {
		curve = nettle_get_secp_256r1();
		k->cost = 200;
	} else if (oid_is(oid, oid_len, oid_p384, sizeof oid_p384)) {
		curve = nettle_get_secp_384r1();
		k->cost = 500;
	} else if (oid_is(oid, oid_len, oid_p521, sizeof oid_p521)) {
		curve = nettle_get_secp_521r1();
		k->cost = 1000;
	} else {
		/* Brainpool and others: Nettle has no such curve. */
		return key_fail(SIGV_UNKNOWN, why, why_len, "ECDSA curve not "
				"implemented");
	}
	if (mpi(b, n, &pos, &pt, &pt_len))
		return key_fail(SIGV_BAD, why, why_len, "truncated ECDSA point");
	k->bits = ecc_bit_size(curve);
	clen = (k->bits + 7) / 8;
	if (pt_len != 1 + 2 * clen || pt[0] != 0x04)
		return key_fail(SIGV_BAD, why, why_len, "ECDSA point not in "
				"uncompressed form");
	k->kind = SIGV_KIND_ECDSA;
	ecc_point_init(&k->point, curve);
	k->inited = 1;
	mpz_init(x);
	mpz_init(y);
	nettle_mpz_set_str_256_u(x, clen, pt + 1);
	nettle_mpz_set_str_256_u(y, clen, pt + 1 + clen);
	on_curve = ecc_point_set(&k->point, x, y);
	mpz_clear(x);
	mpz_clear(y);
	if (!on_curve)
		return key_fail(SIGV_BAD, why, why_len, "ECDSA point not on "
				"its curve");
	return SIGV_GOOD;
}

static enum sigv_result
init_eddsa_legacy(struct sigv_key *k, const unsigned char *b, size_t n,
		  size_t pos, char *why, size_t why_len)
{
	const unsigned char *oid, *pt;
	size_t oid_len, pt_len, bits;

	if (n - pos < 1 || b[pos] == 0 || b[pos] == 0xff ||
	    b[pos] > n - pos - 1)
		return key_fail(SIGV_BAD, why, why_len, "truncated curve OID");
	oid = b + pos + 1;
	oid_len = b[pos];
	pos += 1 + oid_len;
	if (!oid_is(oid, oid_len, oid_ed25519, sizeof oid_ed25519))
		return key_fail(SIGV_UNKNOWN, why, why_len, "EdDSA curve not "
				"implemented");
	/* The point is 0x40 and the 32 native octets: the MPI keeps them
	 * all (its first octet is not zero). */
	if (n - pos < 2)
		return key_fail(SIGV_BAD, why, why_len, "truncated EdDSA point");
	bits = be16_get(b + pos);
	pt = b + pos + 2;
	pt_len = (bits + 7) / 8;
	if (pt_len > n - pos - 2 || pt_len != 33 || pt[0] != 0x40)
		return key_fail(SIGV_BAD, why, why_len, "EdDSA point not in "
				"native form");
	k->kind = SIGV_KIND_ED25519_LEGACY;
	k->ed = pt + 1;
	k->bits = 255;
	k->cost = 110;
	return SIGV_GOOD;
}

enum sigv_result
sigv_key_init(struct sigv_key *k, const unsigned char *b, size_t n,
	      char *why, size_t why_len)
{
	size_t pos;

	memset(k, 0, sizeof *k);
	k->body = b;
	k->body_len = n;
	if (n < 1)
		return key_fail(SIGV_BAD, why, why_len, "empty key packet");
	k->version = b[0];
	if (b[0] == 3 || b[0] == 2) {
		/* v3: created, validity days, algorithm; RSA only. */
		if (n < 8)
			return key_fail(SIGV_BAD, why, why_len, "truncated v3 key");
		k->algo = b[7];
		if (k->algo < 1 || k->algo > 3)
			return key_fail(SIGV_UNKNOWN, why, why_len, "v3 key of a "
					"non-RSA algorithm");
		return init_rsa(k, b, n, 8, why, why_len);
	}
	if (b[0] != 4)
		return key_fail(SIGV_UNKNOWN, why, why_len, "key version not "
				"verified here (v5/v6)");
	if (n < 6)
		return key_fail(SIGV_BAD, why, why_len, "truncated v4 key");
	k->algo = b[5];
	pos = 6;
	switch (k->algo) {
	case 1: case 2: case 3:
		return init_rsa(k, b, n, pos, why, why_len);
	case 17:
		return init_dsa(k, b, n, pos, why, why_len);
	case 19:
		return init_ecdsa(k, b, n, pos, why, why_len);
	case 22:
		return init_eddsa_legacy(k, b, n, pos, why, why_len);
	case 27:
		if (n - pos < 32)
			return key_fail(SIGV_BAD, why, why_len,
					"truncated Ed25519 key");
		k->kind = SIGV_KIND_ED25519;
		k->ed = b + pos;
		k->bits = 255;
		k->cost = 110;
		return SIGV_GOOD;
	case 28:
		if (n - pos < 57)
			return key_fail(SIGV_BAD, why, why_len,
					"truncated Ed448 key");
		k->kind = SIGV_KIND_ED448;
		k->ed = b + pos;
		k->bits = 448;
		k->cost = 400;
		return SIGV_GOOD;
	default:
		/* Elgamal (16, 20), ECDH (18), X25519/X448 (25, 26) cannot
		 * sign; anything else is unknown here. */
		return key_fail(SIGV_UNKNOWN, why, why_len, "public-key "
				"algorithm cannot be verified here");
	}
}

void
sigv_key_clear(struct sigv_key *k)
{
	if (k->inited) {
		switch (k->kind) {
		case SIGV_KIND_RSA:
			rsa_public_key_clear(&k->rsa);
			break;
		case SIGV_KIND_DSA:
			dsa_params_clear(&k->dsa);
			mpz_clear(k->y);
			break;
		case SIGV_KIND_ECDSA:
			ecc_point_clear(&k->point);
			break;
		default:
			break;
		}
	}
	memset(k, 0, sizeof *k);
}

/* --- what is hashed ---------------------------------------------------- */

/* What a signature type covers besides the primary key. */
enum cover { COVER_KEY, COVER_UID, COVER_SUBKEY, COVER_NONE };

static enum cover
cover_of(int type)
{
	switch (type) {
	case SIG_DIRECT_KEY:
	case SIG_KEY_REVOCATION:
		return COVER_KEY;
	case SIG_CERT_GENERIC:
	case SIG_CERT_PERSONA:
	case SIG_CERT_CASUAL:
	case SIG_CERT_POSITIVE:
	case SIG_CERT_REVOCATION:
	case SIG_ATTESTATION:
		return COVER_UID;
	case SIG_SUBKEY_BINDING:
	case SIG_PRIMARY_BINDING:
	case SIG_SUBKEY_REVOCATION:
		return COVER_SUBKEY;
	default:
		return COVER_NONE;
	}
}

/* hash_keypkt - a key as it enters a v3/v4 signature's hash: 0x99 and a
 * two-octet length; -1 if it does not fit that length. */
static int
hash_keypkt(const struct nettle_hash *h, void *ctx, const unsigned char *body,
	    size_t len)
{
	unsigned char hdr[3];

	if (len > 0xffff)
		return -1;
	hdr[0] = 0x99;
	hdr[1] = (unsigned char)(len >> 8);
	hdr[2] = (unsigned char)len;
	h->update(ctx, 3, hdr);
	h->update(ctx, len, body);
	return 0;
}

/* compute_hash - the digest a signature is made over (RFC 9580 5.2.4). */
static int
compute_hash(const struct hashalg *a, const struct pgp_sig *sig,
	     const unsigned char *primary, size_t primary_len, unsigned comp_tag,
	     const unsigned char *comp, size_t comp_len, unsigned char *digest,
	     char *why, size_t why_len)
{
	union hash_ctx u;
	void *ctx = &u;
	const struct nettle_hash *h = a->h;

	h->init(ctx);
	if (hash_keypkt(h, ctx, primary, primary_len) != 0)
		return fail(why, why_len, "primary key packet too long to hash");
	switch (cover_of(sig->type)) {
	case COVER_KEY:
		break;
	case COVER_UID:
		if (comp_tag != PGP_TAG_USER_ID &&
		    comp_tag != PGP_TAG_USER_ATTRIBUTE)
			return fail(why, why_len, "certification not over a "
				    "user ID or attribute");
		if (sig->version >= 4) {
			unsigned char hdr[5];

			hdr[0] = comp_tag == PGP_TAG_USER_ID ? 0xB4 : 0xD1;
			be32_put(hdr + 1, (uint32_t)comp_len);
			h->update(ctx, 5, hdr);
		}
		h->update(ctx, comp_len, comp);
		break;
	case COVER_SUBKEY:
		if (comp_tag != PGP_TAG_PUBLIC_SUBKEY)
			return fail(why, why_len, "subkey signature not over a "
				    "subkey");
		if (hash_keypkt(h, ctx, comp, comp_len) != 0)
			return fail(why, why_len, "subkey packet too long to hash");
		break;
	case COVER_NONE:
		return fail(why, why_len, "not a signature over a key");
	}
	if (sig->version == 4) {
		unsigned char trailer[6];

		h->update(ctx, sig->hashed_end, sig->body);
		trailer[0] = 0x04;
		trailer[1] = 0xff;
		be32_put(trailer + 2, (uint32_t)sig->hashed_end);
		h->update(ctx, 6, trailer);
	} else {
		/* v3: the type and the creation time. */
		h->update(ctx, 5, sig->body + 2);
	}
	h->digest(ctx, h->digest_size, digest);
	return 0;
}

/* --- verification ------------------------------------------------------ */

/* algo_matches - may a key of algorithm key_algo have made a signature
 * that says sig_algo?  RSA's three ids are one algorithm. */
static int
algo_matches(int key_algo, int sig_algo)
{
	if (key_algo >= 1 && key_algo <= 3)
		return sig_algo >= 1 && sig_algo <= 3;
	return key_algo == sig_algo;
}

/* two_mpis - the r and s of a DSA-style signature. */
static int
two_mpis(const struct pgp_sig *sig, const unsigned char **r, size_t *rl,
	 const unsigned char **s, size_t *sl)
{
	size_t pos = 0;

	if (mpi(sig->sigdata, sig->sigdata_len, &pos, r, rl) ||
	    mpi(sig->sigdata, sig->sigdata_len, &pos, s, sl))
		return -1;
	return 0;
}

static enum sigv_result
verify_math(const struct sigv_key *k, const struct hashalg *a,
	    const struct pgp_sig *sig, const unsigned char *digest,
	    char *why, size_t why_len)
{
	const unsigned char *r, *s;
	size_t rl, sl, dl = a->h->digest_size;
	int ok = 0;

	switch (k->kind) {
	case SIGV_KIND_RSA: {
		unsigned char info[32 + SIGV_MAX_DIGEST];
		size_t pos = 0;
		mpz_t m;

		if (mpi(sig->sigdata, sig->sigdata_len, &pos, &r, &rl))
			break;
		memcpy(info, a->der, a->der_len);
		memcpy(info + a->der_len, digest, dl);
		mpz_init(m);
		nettle_mpz_set_str_256_u(m, rl, r);
		ok = rsa_pkcs1_verify(&k->rsa, a->der_len + dl, info, m);
		mpz_clear(m);
		break;
	}
	case SIGV_KIND_DSA:
	case SIGV_KIND_ECDSA: {
		struct dsa_signature ds;

		if (two_mpis(sig, &r, &rl, &s, &sl))
			break;
		dsa_signature_init(&ds);
		nettle_mpz_set_str_256_u(ds.r, rl, r);
		nettle_mpz_set_str_256_u(ds.s, sl, s);
		if (k->kind == SIGV_KIND_DSA)
			ok = dsa_verify(&k->dsa, k->y, dl, digest, &ds);
		else
			ok = ecdsa_verify(&k->point, dl, digest, &ds);
		dsa_signature_clear(&ds);
		break;
	}
	case SIGV_KIND_ED25519_LEGACY: {
		unsigned char rs[64];

		/* R and S as MPIs: their leading zero octets are gone. */
		if (two_mpis(sig, &r, &rl, &s, &sl) || rl > 32 || sl > 32)
			break;
		memset(rs, 0, sizeof rs);
		memcpy(rs + 32 - rl, r, rl);
		memcpy(rs + 64 - sl, s, sl);
		ok = ed25519_sha512_verify(k->ed, dl, digest, rs);
		break;
	}
	case SIGV_KIND_ED25519:
		if (sig->sigdata_len == 64)
			ok = ed25519_sha512_verify(k->ed, dl, digest,
						   sig->sigdata);
		break;
	case SIGV_KIND_ED448:
		if (sig->sigdata_len == 114)
			ok = ed448_shake256_verify(k->ed, dl, digest,
						   sig->sigdata);
		break;
	case SIGV_KIND_NONE:
		fail(why, why_len, "key cannot verify");
		return SIGV_UNKNOWN;
	}
	if (ok)
		return SIGV_GOOD;
	fail(why, why_len, "signature does not verify");
	return SIGV_BAD;
}

enum sigv_result
sigv_digest(const struct sigv_key *signer, const struct pgp_sig *sig,
	    const unsigned char *primary, size_t primary_len,
	    unsigned comp_tag, const unsigned char *comp, size_t comp_len,
	    unsigned char digest[SIGV_MAX_DIGEST], char *why, size_t why_len)
{
	const struct hashalg *a;

	if (signer->kind == SIGV_KIND_NONE) {
		fail(why, why_len, "signing key cannot verify");
		return SIGV_UNKNOWN;
	}
	if (sig->version != 4 && sig->version != 3 && sig->version != 2) {
		fail(why, why_len, "signature version not verified here");
		return SIGV_UNKNOWN;
	}
	/* A v3 key makes v3 signatures; a v4 key may have old v3 ones. */
	if (signer->version < 4 && sig->version == 4) {
		fail(why, why_len, "v4 signature by a v3 key");
		return SIGV_BAD;
	}
	if (!algo_matches(signer->algo, sig->pk_algo)) {
		fail(why, why_len, "signature algorithm is not the key's");
		return SIGV_BAD;
	}
	a = hash_by_id(sig->hash_algo);
	if (a == NULL) {
		fail(why, why_len, "hash algorithm not implemented");
		return SIGV_UNKNOWN;
	}
	if (compute_hash(a, sig, primary, primary_len, comp_tag, comp,
			 comp_len, digest, why, why_len) != 0)
		return SIGV_BAD;
	/* The quick check every signature carries: a mismatch means the
	 * material or the hash is not what the signer hashed. */
	if (memcmp(digest, sig->left16, 2) != 0) {
		fail(why, why_len, "hash does not match the signature's "
		     "first two octets");
		return SIGV_BAD;
	}
	return SIGV_GOOD;
}

enum sigv_result
sigv_verify_digest(const struct sigv_key *signer, const struct pgp_sig *sig,
		   const unsigned char *digest, char *why, size_t why_len)
{
	const struct hashalg *a = hash_by_id(sig->hash_algo);

	if (a == NULL || signer->kind == SIGV_KIND_NONE) {
		fail(why, why_len, "cannot verify");
		return SIGV_UNKNOWN;
	}
	return verify_math(signer, a, sig, digest, why, why_len);
}

enum sigv_result
sigv_verify(const struct sigv_key *signer, const struct pgp_sig *sig,
	    const unsigned char *primary, size_t primary_len,
	    unsigned comp_tag, const unsigned char *comp, size_t comp_len,
	    char *why, size_t why_len)
{
	unsigned char digest[SIGV_MAX_DIGEST];
	enum sigv_result r;

	r = sigv_digest(signer, sig, primary, primary_len, comp_tag, comp,
			comp_len, digest, why, why_len);
	if (r != SIGV_GOOD)
		return r;
	return sigv_verify_digest(signer, sig, digest, why, why_len);
}

size_t
sigv_attest_digest(const struct pgp_sig *cert, int hash_algo,
		   unsigned char out[SIGV_MAX_DIGEST])
{
	const struct hashalg *a = hash_by_id(hash_algo);
	union hash_ctx u;
	unsigned char hdr[5], zero[2] = { 0, 0 };
	const unsigned char *rest;
	size_t rest_len, len;

	if (a == NULL || cert->version != 4)
		return 0;
	/* The body without the unhashed area: what precedes its length,
	 * a zero length, and what follows the area. */
	rest = cert->unhashed + cert->unhashed_len;
	rest_len = cert->body_len - (size_t)(rest - cert->body);
	len = cert->unhashed_off + 2 + rest_len;
	hdr[0] = 0x88;
	be32_put(hdr + 1, (uint32_t)len);
	a->h->init(&u);
	a->h->update(&u, 5, hdr);
	a->h->update(&u, cert->unhashed_off, cert->body);
	a->h->update(&u, 2, zero);
	a->h->update(&u, rest_len, rest);
	a->h->digest(&u, a->h->digest_size, out);
	return a->h->digest_size;
}
