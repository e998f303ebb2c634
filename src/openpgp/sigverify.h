/*
 * sigverify.h - OpenPGP signatures over keys, parsed and verified in
 * process (RFC 4880 / RFC 9580 section 5.2), for the key policy.
 *
 * Parsing is ours (the packet bytes stay the caller's; struct pgp_sig
 * points into them); the mathematics is Nettle's (hogweed): RSA PKCS#1
 * v1.5, DSA, ECDSA on the NIST curves, EdDSA over Ed25519 (legacy
 * algorithm 22 and algorithm 27) and Ed448 (algorithm 28).  Hashes MD5,
 * SHA-1, RIPEMD-160, SHA-224/256/384/512 and SHA3-256/512.
 *
 * What a signature covers is decided by its type (RFC 9580 5.2.4): the
 * primary key alone for direct-key signatures and key revocations (0x1F,
 * 0x20); the primary key and a user ID or user attribute for
 * certifications, their revocations and attestations (0x10-0x13, 0x30,
 * 0x16); the primary key and a subkey for subkey bindings, primary-key
 * back-signatures and subkey revocations (0x18, 0x19, 0x28).
 *
 * Three outcomes, never confused: GOOD, BAD (does not verify, or the
 * packet is malformed, or the signature claims another algorithm than the
 * key's), and UNKNOWN: this code cannot tell (a key or signature version,
 * public-key algorithm, curve or hash it does not implement, or a key
 * beyond the sizes it verifies, see SIGV_MAX_*).  The key policy treats
 * UNKNOWN on a key it can otherwise judge as "not verified" and drops the
 * signature; only a primary key that is itself UNKNOWN makes a key
 * "unjudged".
 *
 * Lengths come from mail: every field is checked against the bytes that
 * are there; nothing here allocates more than the bignums of one key.
 * v5 and v6 keys and signatures are parsed (for their issuer and type)
 * but not verified: UNKNOWN.
 */
#ifndef PB_SIGVERIFY_H
#define PB_SIGVERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <gmp.h>
#include <nettle/dsa.h>
#include <nettle/ecc.h>
#include <nettle/rsa.h>

#include "openpgp/pgp.h"

enum sigv_result {
	SIGV_GOOD,
	SIGV_BAD,
	SIGV_UNKNOWN,
};

/* Key sizes beyond these are UNKNOWN, so that one verification costs a
 * bounded time (an RSA key's cost grows with the square of its modulus
 * and linearly with its exponent's bits). */
#define SIGV_MAX_RSA_BITS 16384
#define SIGV_MAX_RSA_E_BITS 256
#define SIGV_MAX_DSA_P_BITS 16384
#define SIGV_MAX_DSA_Q_BITS 512

/* Signature types (RFC 9580 5.2.1) the key policy deals with. */
enum {
	SIG_CERT_GENERIC = 0x10,
	SIG_CERT_PERSONA = 0x11,
	SIG_CERT_CASUAL = 0x12,
	SIG_CERT_POSITIVE = 0x13,
	SIG_ATTESTATION = 0x16,
	SIG_SUBKEY_BINDING = 0x18,
	SIG_PRIMARY_BINDING = 0x19,
	SIG_DIRECT_KEY = 0x1F,
	SIG_KEY_REVOCATION = 0x20,
	SIG_SUBKEY_REVOCATION = 0x28,
	SIG_CERT_REVOCATION = 0x30,
};

/* Subpacket types (RFC 9580 5.2.3.7 and draft-dkg-openpgp-1pa3pc). */
enum {
	SUBPKT_CREATED = 2,
	SUBPKT_REVOCATION_KEY = 12,
	SUBPKT_ISSUER = 16,
	SUBPKT_KEYSERVER_PREFS = 23,
	SUBPKT_KEY_FLAGS = 27,
	SUBPKT_REASON = 29,
	SUBPKT_EMBEDDED_SIG = 32,
	SUBPKT_ISSUER_FPR = 33,
	SUBPKT_ATTESTED_CERTS = 37,
};

#define KS_PREF_NO_MODIFY 0x80	/* first octet of Key Server Preferences */
#define KEY_FLAG_SIGN 0x02	/* first octet of Key Flags */

/* A signature packet body, parsed.  Pointers go into the caller's body,
 * which must outlive the struct.  Subpacket facts are taken from the
 * hashed area only where the unhashed area could be altered by anyone
 * (creation time, key server preferences, reason, key flags, attested
 * certifications); the issuer and an embedded back-signature count in
 * either area, as in GnuPG (both are checked cryptographically anyway). */
struct pgp_sig {
	int version;			/* 2..6 */
	int type;			/* SIG_* */
	int pk_algo;
	int hash_algo;
	uint32_t created;		/* 0: no creation time */
	unsigned char issuer[8];	/* key ID, from the issuer or the
					 * issuer fingerprint subpacket */
	int has_issuer;
	unsigned char issuer_fpr[PGP_FPR_MAX];
	size_t issuer_fpr_len;		/* 0: no issuer fingerprint */
	int has_ks_prefs, ks_prefs;	/* first octet of Key Server Prefs */
	int has_key_flags, key_flags;	/* first octet of Key Flags */
	int has_reason, reason;		/* reason for revocation code */
	const unsigned char *embedded;	/* first Embedded Signature */
	size_t embedded_len;
	int has_attested;		/* at least one Attested
					 * Certifications subpacket */
	int unknown_critical;		/* a critical subpacket this code does
					 * not know: the signature cannot be
					 * valid (RFC 9580 5.2.3.7) */
	const unsigned char *hashed;	/* hashed subpacket area (v4+) */
	size_t hashed_len;
	const unsigned char *unhashed;	/* unhashed subpacket area */
	size_t unhashed_len;
	const unsigned char *body;	/* the whole packet body */
	size_t body_len;
	size_t hashed_end;		/* v4: body[0..hashed_end) is hashed */
	size_t unhashed_off;		/* v4: offset of the unhashed length */
	const unsigned char *left16;	/* the two octets of the hash */
	const unsigned char *sigdata;	/* the algorithm-specific fields */
	size_t sigdata_len;
};

/* pgp_sig_parse - parse a signature packet body.  0, or -1 with why
 * (malformed: framing or a subpacket area that does not add up). */
int pgp_sig_parse(const unsigned char *body, size_t len, struct pgp_sig *sig,
		  char *why, size_t why_len);

/* pgp_sig_subpacket_next - walk one subpacket area: 1 with the next
 * subpacket (type without the critical bit, its data), 0 at the end, -1
 * if the area is malformed.  *off starts at 0. */
int pgp_sig_subpacket_next(const unsigned char *area, size_t len, size_t *off,
			   unsigned *type, int *critical,
			   const unsigned char **data, size_t *data_len);

/* A public key to verify with, prepared from a key packet body: its
 * Nettle form (bignums, a curve point).  The body must outlive it;
 * release with sigv_key_clear. */
enum sigv_kind {
	SIGV_KIND_NONE,
	SIGV_KIND_RSA,
	SIGV_KIND_DSA,
	SIGV_KIND_ECDSA,
	SIGV_KIND_ED25519_LEGACY,	/* algorithm 22, the Ed25519 OID */
	SIGV_KIND_ED25519,		/* algorithm 27 */
	SIGV_KIND_ED448,		/* algorithm 28 */
};

struct sigv_key {
	enum sigv_kind kind;
	int version;
	int algo;			/* public-key algorithm id */
	unsigned bits;			/* modulus / p / curve size */
	unsigned cost;			/* estimated microseconds per
					 * verification, for budgets */
	const unsigned char *body;	/* the key packet body */
	size_t body_len;
	struct rsa_public_key rsa;
	struct dsa_params dsa;
	mpz_t y;			/* DSA public value */
	struct ecc_point point;		/* ECDSA */
	const unsigned char *ed;	/* EdDSA public key octets */
	int inited;			/* which Nettle objects to clear */
};

/* sigv_key_init - prepare k from a key or subkey packet body: GOOD (k
 * can verify), UNKNOWN (a version, algorithm or curve this code does not
 * verify, or over SIGV_MAX_*), BAD (malformed: an MPI running past the
 * body, a point not on its curve).  why says what for the last two.
 * Call sigv_key_clear whatever it returned. */
enum sigv_result sigv_key_init(struct sigv_key *k, const unsigned char *body,
			       size_t len, char *why, size_t why_len);
void sigv_key_clear(struct sigv_key *k);

/* sigv_verify - does sig, made by signer, verify over what its type
 * covers: primary (a key packet body) and, for the types that cover one,
 * comp (the body of the user ID (comp_tag 13), user attribute (17) or
 * subkey (14) packet; NULL for the types that cover none).  A component
 * of the wrong kind for the type is BAD.  why (may be NULL) says why not
 * GOOD. */
enum sigv_result sigv_verify(const struct sigv_key *signer,
			     const struct pgp_sig *sig,
			     const unsigned char *primary, size_t primary_len,
			     unsigned comp_tag, const unsigned char *comp,
			     size_t comp_len, char *why, size_t why_len);

#define SIGV_MAX_DIGEST 64

/* The same in two steps, for a caller that budgets the costly one:
 * sigv_digest - the checks that cost a hash (versions, the algorithm
 * the key and signature name, the digest and its two quick-check
 * octets): GOOD with digest filled, else BAD or UNKNOWN as sigv_verify;
 * sigv_verify_digest - the public-key operation over that digest. */
enum sigv_result sigv_digest(const struct sigv_key *signer,
			     const struct pgp_sig *sig,
			     const unsigned char *primary, size_t primary_len,
			     unsigned comp_tag, const unsigned char *comp,
			     size_t comp_len, unsigned char digest[SIGV_MAX_DIGEST],
			     char *why, size_t why_len);
enum sigv_result sigv_verify_digest(const struct sigv_key *signer,
				    const struct pgp_sig *sig,
				    const unsigned char *digest, char *why,
				    size_t why_len);

/* sigv_hash_len - the digest length of an OpenPGP hash algorithm id, 0
 * if this code does not implement it. */
size_t sigv_hash_len(int hash_algo);

/* sigv_attest_digest - the digest by which a 1PA3PC attestation names a
 * certification (draft-dkg-openpgp-1pa3pc, as Sequoia computes it in
 * Signature4::hash_for_confirmation): hash_algo over 0x88, the 4-octet
 * length, and the v4 signature packet body with its unhashed subpacket
 * area left out (its length octets kept, as zero).  Checked against
 * real `sq key attest-certifications` output in tests/openpgp.  Returns
 * the digest length, or 0 if the hash is unknown or the signature is not
 * v4. */
size_t sigv_attest_digest(const struct pgp_sig *cert, int hash_algo,
			  unsigned char out[SIGV_MAX_DIGEST]);

/* sigv_result_name - "good", "bad", "unknown". */
const char *sigv_result_name(enum sigv_result r);

#endif
