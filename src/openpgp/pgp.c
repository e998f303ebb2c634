/*
 * pgp.c - OpenPGP packet framing: split keyrings into transferable public
 * keys, fingerprints, primary user IDs, per-packet digests (see pgp.h).
 *
 * Two passes per key over the caller's buffer: the first frames packets
 * and finds where each key ends (checking every length against what is
 * left, so nothing here can read past the buffer or overflow), the second
 * copies a key that passed the limits and digests its packets.  Nothing is
 * allocated for a key that is dropped, so a flood of oversized or secret
 * keys costs no memory.
 */
#include "openpgp/pgp.h"
#include "util/bytes.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <nettle/md5.h>
#include <nettle/sha1.h>
#include <nettle/sha2.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One packet as framed in the buffer. */
struct pkt {
	size_t off;		/* of the header */
	size_t hlen;
	size_t blen;
	unsigned tag;
};

/* read_packet - frame the packet at data[pos] (pos < len); -1 with a
 * reason in why when the header is malformed or the body does not fit. */
static int
read_packet(const unsigned char *data, size_t len, size_t pos, struct pkt *p,
	    char *why, size_t why_len)
{
	const unsigned char *h = data + pos;
	size_t rem = len - pos;
	unsigned c = h[0];

	p->off = pos;
	if (!(c & 0x80)) {
		snprintf(why, why_len, "byte 0x%02X is not a packet header", c);
		return -1;
	}
	if (c & 0x40) {
		unsigned o;

		p->tag = c & 0x3f;
		if (rem < 2)
			goto truncated;
		o = h[1];
		if (o < 192) {
			p->hlen = 2;
			p->blen = o;
		} else if (o < 224) {
			if (rem < 3)
				goto truncated;
			p->hlen = 3;
			p->blen = ((size_t)(o - 192) << 8) + h[2] + 192;
		} else if (o == 255) {
			if (rem < 6)
				goto truncated;
			p->hlen = 6;
			p->blen = be32_get(h + 2);
		} else {
			snprintf(why, why_len, "partial body length in a tag %u "
				 "packet (not allowed in keys)", p->tag);
			return -1;
		}
	} else {
		p->tag = (c >> 2) & 0x0f;
		switch (c & 3) {
		case 0:
			p->hlen = 2;
			break;
		case 1:
			p->hlen = 3;
			break;
		case 2:
			p->hlen = 5;
			break;
		default:
			snprintf(why, why_len, "indeterminate length in a tag %u "
				 "packet (not allowed in keys)", p->tag);
			return -1;
		}
		if (rem < p->hlen)
			goto truncated;
		p->blen = p->hlen == 2 ? h[1] : p->hlen == 3 ? be16_get(h + 1) :
			be32_get(h + 1);
	}
	if (p->tag == 0) {
		snprintf(why, why_len, "packet tag 0 is reserved");
		return -1;
	}
	if (p->blen > rem - p->hlen) {
		snprintf(why, why_len, "tag %u packet of %zu bytes runs past the "
			 "end of the data (%zu bytes left)", p->tag, p->blen,
			 rem - p->hlen);
		return -1;
	}
	return 0;
truncated:
	snprintf(why, why_len, "packet header cut off by the end of the data");
	return -1;
}

void
pgp_hex(const unsigned char *data, size_t len, char *out)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = '\0';
}

int
pgp_key_fingerprint(const unsigned char *body, size_t len, int *version_r,
		    unsigned char fpr[PGP_FPR_MAX], size_t *fpr_len_r)
{
	unsigned char hdr[5];

	if (len < 1)
		return -1;
	*version_r = body[0];
	if (body[0] == 4) {
		struct sha1_ctx ctx;

		if (len < 6 || len > 0xffff)
			return -1;
		hdr[0] = 0x99;
		hdr[1] = (unsigned char)(len >> 8);
		hdr[2] = (unsigned char)len;
		sha1_init(&ctx);
		sha1_update(&ctx, 3, hdr);
		sha1_update(&ctx, len, body);
		sha1_digest(&ctx, SHA1_DIGEST_SIZE, fpr);
		*fpr_len_r = SHA1_DIGEST_SIZE;
		return 0;
	}
	if (body[0] == 5 || body[0] == 6) {
		struct sha256_ctx ctx;

		if (len < 10 || (uint64_t)len > UINT32_MAX)
			return -1;
		hdr[0] = body[0] == 5 ? 0x9a : 0x9b;
		be32_put(hdr + 1, (uint32_t)len);
		sha256_init(&ctx);
		sha256_update(&ctx, 5, hdr);
		sha256_update(&ctx, len, body);
		sha256_digest(&ctx, SHA256_DIGEST_SIZE, fpr);
		*fpr_len_r = SHA256_DIGEST_SIZE;
		return 0;
	}
	return -1;
}

int
pgp_packet_next(const unsigned char *data, size_t len, size_t *off,
		struct pgp_packet *p, char *why, size_t why_len)
{
	struct pkt k;
	char scratch[1];

	if (*off >= len)
		return 0;
	if (why == NULL) {
		why = scratch;
		why_len = sizeof scratch;
	}
	if (read_packet(data, len, *off, &k, why, why_len) != 0)
		return -1;
	p->tag = k.tag;
	p->hdr = data + k.off;
	p->hlen = k.hlen;
	p->body = data + k.off + k.hlen;
	p->blen = k.blen;
	*off = k.off + k.hlen + k.blen;
	return 1;
}

int
pgp_fpr_from_hex(const char *hex, unsigned char *fpr, size_t *len_r)
{
	size_t n = 0;
	int hi = -1;

	while (*hex == ' ' || *hex == '\t')
		hex++;
	if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
		hex += 2;
	for (; *hex; hex++) {
		int v;

		if (*hex == ' ' || *hex == '\t')
			continue;
		if (*hex >= '0' && *hex <= '9')
			v = *hex - '0';
		else if (*hex >= 'a' && *hex <= 'f')
			v = *hex - 'a' + 10;
		else if (*hex >= 'A' && *hex <= 'F')
			v = *hex - 'A' + 10;
		else
			return -1;
		if (n == PGP_FPR_MAX)
			return -1;
		if (hi < 0) {
			hi = v;
		} else {
			fpr[n++] = (unsigned char)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0 || (n != 16 && n != 20 && n != 32))
		return -1;
	*len_r = n;
	return 0;
}

/* mpi_skip - step over one MPI at body[*pos]; -1 if it does not fit. */
static int
mpi_skip(const unsigned char *body, size_t blen, size_t *pos,
	 const unsigned char **val, size_t *val_len)
{
	size_t n;

	if (blen - *pos < 2)
		return -1;
	n = (be16_get(body + *pos) + 7) / 8;
	if (n > blen - *pos - 2)
		return -1;
	if (val) {
		*val = body + *pos + 2;
		*val_len = n;
	}
	*pos += 2 + n;
	return 0;
}

/* len_skip - step over a one-octet length and that many octets (curve
 * OIDs, KDF parameters). */
static int
len_skip(const unsigned char *body, size_t blen, size_t *pos)
{
	size_t n;

	if (blen - *pos < 1)
		return -1;
	n = body[*pos];
	if (n > blen - *pos - 1)
		return -1;
	*pos += 1 + n;
	return 0;
}

/* public_part_len - how many leading bytes of a key packet body are the
 * public key (the fingerprinted part).  Only needed for secret key
 * packets, where secret material follows; -1 if it cannot be told. */
static int
public_part_len(const unsigned char *body, size_t blen, size_t *publen)
{
	size_t pos;
	int nmpi;

	if (blen < 1)
		return -1;
	if (body[0] == 5 || body[0] == 6) {
		/* v5/v6 carry the length of the public material. */
		if (blen < 10 || be32_get(body + 6) > blen - 10)
			return -1;
		*publen = 10 + be32_get(body + 6);
		return 0;
	}
	if (body[0] == 2 || body[0] == 3) {
		if (blen < 8)
			return -1;
		pos = 8;
		if (mpi_skip(body, blen, &pos, NULL, NULL) ||
		    mpi_skip(body, blen, &pos, NULL, NULL))
			return -1;
		*publen = pos;
		return 0;
	}
	if (body[0] != 4 || blen < 6)
		return -1;
	pos = 6;
	switch (body[5]) {
	case 1: case 2: case 3:		/* RSA: n, e */
		nmpi = 2;
		break;
	case 16: case 20:		/* Elgamal: p, g, y */
		nmpi = 3;
		break;
	case 17:			/* DSA: p, q, g, y */
		nmpi = 4;
		break;
	case 18:			/* ECDH: OID, point, KDF parameters */
		if (len_skip(body, blen, &pos) ||
		    mpi_skip(body, blen, &pos, NULL, NULL) ||
		    len_skip(body, blen, &pos))
			return -1;
		*publen = pos;
		return 0;
	case 19: case 22:		/* ECDSA, EdDSA: OID, point */
		if (len_skip(body, blen, &pos))
			return -1;
		nmpi = 1;
		break;
	case 25: case 27:		/* X25519, Ed25519: 32 octets */
	case 26: case 28:		/* X448: 56, Ed448: 57 octets */
		{
			size_t n = body[5] == 25 || body[5] == 27 ? 32 :
				body[5] == 26 ? 56 : 57;

			if (blen - pos < n)
				return -1;
			*publen = pos + n;
			return 0;
		}
	default:
		return -1;
	}
	while (nmpi-- > 0)
		if (mpi_skip(body, blen, &pos, NULL, NULL))
			return -1;
	*publen = pos;
	return 0;
}

/* key_identity - version and fingerprint of a primary key packet body
 * (its public part).  -1 with a reason if the key cannot be one of ours;
 * for a v3 key the MD5 fingerprint is still filled in, for the report. */
static int
key_identity(const unsigned char *body, size_t blen, struct pgp_key *k,
	     char *why, size_t why_len)
{
	k->fpr_len = 0;
	k->fpr_hex[0] = '\0';
	if (blen < 1) {
		snprintf(why, why_len, "empty primary key packet");
		return -1;
	}
	k->version = body[0];
	switch (body[0]) {
	case 4:
	case 5:
	case 6: {
		int version;

		if (pgp_key_fingerprint(body, blen, &version, k->fpr,
					&k->fpr_len) != 0) {
			if (body[0] == 4 && blen > 0xffff)
				/* The fingerprint frames the body with two
				 * octets. */
				snprintf(why, why_len, "v4 primary key packet "
					 "of %zu bytes (at most 65535 can be "
					 "fingerprinted)", blen);
			else
				snprintf(why, why_len, "truncated v%u primary "
					 "key packet", body[0]);
			return -1;
		}
		break;
	}
	case 2:
	case 3: {
		/* PGP 2 keys: GnuPG 2.1 and later refuse them, so they could
		 * never be delivered; MD5 fingerprints are forgeable, so they
		 * must not key the dedup index either.  The fingerprint still
		 * names the key in the report. */
		const unsigned char *n = NULL, *e = NULL;
		size_t nlen = 0, elen = 0, pos = 8;
		struct md5_ctx ctx;

		if (blen >= 8 && body[7] >= 1 && body[7] <= 3 &&
		    mpi_skip(body, blen, &pos, &n, &nlen) == 0 &&
		    mpi_skip(body, blen, &pos, &e, &elen) == 0) {
			md5_init(&ctx);
			md5_update(&ctx, nlen, n);
			md5_update(&ctx, elen, e);
			md5_digest(&ctx, MD5_DIGEST_SIZE, k->fpr);
			k->fpr_len = MD5_DIGEST_SIZE;
			pgp_hex(k->fpr, k->fpr_len, k->fpr_hex);
		}
		snprintf(why, why_len, "v%u (PGP 2) key: not supported",
			 body[0]);
		return -1;
	}
	default:
		snprintf(why, why_len, "unknown key version %u", body[0]);
		return -1;
	}
	pgp_hex(k->fpr, k->fpr_len, k->fpr_hex);
	return 0;
}

/* Lists grow by doubling whenever their count reaches a power of two, so
 * no capacity field is needed: lists are only ever grown here. */
static void *
grow(void *arr, size_t n, size_t elsize)
{
	if (n == 0)
		return xreallocarray(arr, 1, elsize);
	if ((n & (n - 1)) == 0)
		return xreallocarray(arr, n, 2 * elsize);
	return arr;
}

static void
add_problem(struct pgp_keylist *list, const char *fpr_hex, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
add_problem(struct pgp_keylist *list, const char *fpr_hex, const char *fmt, ...)
{
	struct pgp_problem *p;
	va_list ap;

	if (list->nproblems > PGP_MAX_PROBLEMS)
		return;
	list->problems = grow(list->problems, list->nproblems,
			      sizeof *list->problems);
	p = &list->problems[list->nproblems++];
	if (list->nproblems == PGP_MAX_PROBLEMS + 1) {
		p->fpr_hex[0] = '\0';
		snprintf(p->reason, sizeof p->reason,
			 "more than %d problems; further ones not listed",
			 PGP_MAX_PROBLEMS);
		return;
	}
	snprintf(p->fpr_hex, sizeof p->fpr_hex, "%s", fpr_hex ? fpr_hex : "");
	va_start(ap, fmt);
	vsnprintf(p->reason, sizeof p->reason, fmt, ap);
	va_end(ap);
}

/* What a signature packet says about the user ID it follows. */
struct siginfo {
	int type;		/* signature type */
	int self;		/* issued by this key */
	int primary;		/* hashed primary-user-id flag set */
	uint32_t created;
};

/* scan_subpackets - walk one subpacket area; a malformed area just ends
 * the walk (GnuPG judges the signature, we only pick a display name). */
static void
scan_subpackets(const unsigned char *p, size_t n, int hashed,
		const struct pgp_key *k, struct siginfo *si)
{
	const unsigned char *keyid = k->version == 4 ? k->fpr + 12 : k->fpr;

	while (n > 0) {
		size_t hl, l;
		unsigned type;
		const unsigned char *v;

		if (p[0] < 192) {
			hl = 1;
			l = p[0];
		} else if (p[0] < 255) {
			if (n < 2)
				return;
			hl = 2;
			l = ((size_t)(p[0] - 192) << 8) + p[1] + 192;
		} else {
			if (n < 5)
				return;
			hl = 5;
			l = be32_get(p + 1);
		}
		if (l == 0 || l > n - hl)
			return;
		type = p[hl] & 0x7f;
		v = p + hl + 1;
		switch (type) {
		case 2:		/* signature creation time */
			if (hashed && l - 1 == 4)
				si->created = be32_get(v);
			break;
		case 16:	/* issuer key ID */
			if (l - 1 == 8 && memcmp(v, keyid, 8) == 0)
				si->self = 1;
			break;
		case 25:	/* primary user ID; unhashed it proves nothing */
			if (hashed && l - 1 >= 1 && v[0] != 0)
				si->primary = 1;
			break;
		case 33:	/* issuer fingerprint: version octet, fingerprint */
			if (l >= 2 && l - 2 == k->fpr_len && memcmp(v + 1, k->fpr,
							  k->fpr_len) == 0)
				si->self = 1;
			break;
		}
		p += hl + l;
		n -= hl + l;
	}
}

/* parse_sig - what a v4/v5/v6 user ID certification or certification
 * revocation says; si->self stays 0 for anything else. */
static void
parse_sig(const unsigned char *b, size_t n, const struct pgp_key *k,
	  struct siginfo *si)
{
	size_t lw, hlen, ulen, pos;

	memset(si, 0, sizeof *si);
	if (n < 1 || (b[0] != 4 && b[0] != 5 && b[0] != 6))
		return;
	lw = b[0] == 6 ? 4 : 2;		/* v6 widened the area counts */
	if (n < 4 + lw || ((b[1] < 0x10 || b[1] > 0x13) && b[1] != 0x30))
		return;
	si->type = b[1];
	hlen = lw == 4 ? be32_get(b + 4) : be16_get(b + 4);
	pos = 4 + lw;
	if (hlen > n - pos)
		return;
	scan_subpackets(b + pos, hlen, 1, k, si);
	pos += hlen;
	if (n - pos < lw)
		goto out;
	ulen = lw == 4 ? be32_get(b + pos) : be16_get(b + pos);
	pos += lw;
	if (ulen <= n - pos)
		scan_subpackets(b + pos, ulen, 0, k, si);
out:
	if (!si->self)
		si->primary = 0;
}

/* sanitize_uid - a copy of a user ID that is safe in JSON and logs:
 * C0/C1 controls, DEL and invalid UTF-8 bytes become '?'; cut to
 * PGP_UID_MAX bytes on a character boundary.  Caller frees. */
static char *
sanitize_uid(const unsigned char *p, size_t n)
{
	struct buf out = BUF_INIT;

	/* buf_append, unlike buf_reserve, NUL-terminates even when empty. */
	buf_append(&out, "", 0);
	buf_reserve(&out, n < PGP_UID_MAX ? n : PGP_UID_MAX);
	while (n > 0) {
		uint32_t cp;
		size_t l = utf8_char(p, n, &cp);

		if (l == 0 || utf8_control(cp)) {
			if (l == 0)
				l = 1;
			if (out.len + 1 > PGP_UID_MAX)
				break;
			buf_putc(&out, '?');
		} else {
			if (out.len + l > PGP_UID_MAX)
				break;
			buf_append(&out, p, l);
		}
		p += l;
		n -= l;
	}
	return (char *)buf_steal(&out, NULL);
}

/* User ID choice while walking a key's packets. */
struct uidsel {
	const unsigned char *first, *cur, *best, *newest;
	size_t first_len, cur_len, best_len, newest_len;
	int in_uid, cur_has_sig, cur_primary, have_best, have_newest;
	int cur_has_rev;
	uint32_t cur_time, cur_rev_time, best_time, newest_time;
};

/* uid_beats - does the current user ID, self-signed at t, win over the
 * one held (held_len bytes, self-signed at held_t)?  Newer wins; on a tie
 * GnuPG's arbitrary but stable order: longer, then bytewise greater. */
static int
uid_beats(const struct uidsel *u, uint32_t t, const unsigned char *held,
	  size_t held_len, uint32_t held_t)
{
	if (t != held_t)
		return t > held_t;
	if (u->cur_len != held_len)
		return u->cur_len > held_len;
	return memcmp(u->cur, held, held_len) > 0;
}

static void
uid_close(struct uidsel *u)
{
	/* Revoked by its owner after its last self-signature: never primary
	 * (but still the fallback "first" user ID). */
	if (u->in_uid && u->cur_has_rev && u->cur_rev_time >= u->cur_time)
		u->cur_has_sig = 0;
	/* Several user IDs flagged primary: the newest self-signature wins,
	 * as in GnuPG. */
	if (u->in_uid && u->cur_has_sig && u->cur_primary &&
	    (!u->have_best || uid_beats(u, u->cur_time, u->best, u->best_len,
					u->best_time))) {
		u->best = u->cur;
		u->best_len = u->cur_len;
		u->best_time = u->cur_time;
		u->have_best = 1;
	}
	/* None flagged: GnuPG takes the most recently self-signed one. */
	if (u->in_uid && u->cur_has_sig &&
	    (!u->have_newest || uid_beats(u, u->cur_time, u->newest,
					  u->newest_len, u->newest_time))) {
		u->newest = u->cur;
		u->newest_len = u->cur_len;
		u->newest_time = u->cur_time;
		u->have_newest = 1;
	}
	u->in_uid = 0;
}

static void
uid_packet(struct uidsel *u, const struct pgp_key *k, unsigned tag,
	   const unsigned char *body, size_t blen)
{
	struct siginfo si;

	switch (tag) {
	case PGP_TAG_USER_ID:
		uid_close(u);
		u->in_uid = 1;
		u->cur = body;
		u->cur_len = blen;
		u->cur_has_sig = u->cur_primary = u->cur_has_rev = 0;
		u->cur_time = u->cur_rev_time = 0;
		if (!u->first) {
			u->first = body;
			u->first_len = blen;
		}
		break;
	case PGP_TAG_SIGNATURE:
		if (!u->in_uid)
			break;
		parse_sig(body, blen, k, &si);
		if (si.self && si.type == 0x30) {
			if (!u->cur_has_rev || si.created > u->cur_rev_time)
				u->cur_rev_time = si.created;
			u->cur_has_rev = 1;
			break;
		}
		/* Only the newest self-signature of a user ID counts. */
		if (si.self && (!u->cur_has_sig || si.created >= u->cur_time)) {
			u->cur_has_sig = 1;
			u->cur_time = si.created;
			u->cur_primary = si.primary;
		}
		break;
	default:
		uid_close(u);
		break;
	}
}

/* The key being collected: data[start..end) in the input. */
struct split {
	const unsigned char *data;
	size_t max_key_size, max_keys;
	struct pgp_keylist *list;
	int active;
	int secret;		/* holds secret material: to be dropped */
	unsigned secret_tag;
	size_t secret_off;
	size_t start, end;
	size_t size;		/* bytes it will be stored as (no trust) */
	size_t npackets;
};

/* build_key - copy and digest the open key's packets into k (whose
 * identity is already set). */
static void
build_key(const struct split *s, struct pgp_key *k)
{
	struct uidsel u;
	size_t pos = s->start, i = 0;
	char why[160];

	memset(&u, 0, sizeof u);
	k->data = xmalloc(s->size);
	k->len = 0;
	k->digests = xreallocarray(NULL, s->npackets, sizeof *k->digests);
	k->tags = xmalloc(s->npackets);
	k->npackets = s->npackets;
	while (pos < s->end) {
		struct pkt p;
		struct sha256_ctx ctx;
		unsigned char hdr[5];
		const unsigned char *body;

		/* Already framed once: cannot fail. */
		if (read_packet(s->data, s->end, pos, &p, why, sizeof why) != 0)
			abort();
		pos = p.off + p.hlen + p.blen;
		if (p.tag == PGP_TAG_TRUST)
			continue;
		body = s->data + p.off + p.hlen;
		memcpy(k->data + k->len, s->data + p.off, p.hlen + p.blen);
		k->len += p.hlen + p.blen;

		/* Framing-independent, so old- and new-format headers of
		 * the same packet dedup as equal. */
		hdr[0] = (unsigned char)p.tag;
		hdr[1] = (unsigned char)(p.blen >> 24);
		hdr[2] = (unsigned char)(p.blen >> 16);
		hdr[3] = (unsigned char)(p.blen >> 8);
		hdr[4] = (unsigned char)p.blen;
		sha256_init(&ctx);
		sha256_update(&ctx, sizeof hdr, hdr);
		sha256_update(&ctx, p.blen, body);
		sha256_digest(&ctx, PGP_DIGEST_LEN, k->digests[i].d);
		k->tags[i] = (uint8_t)p.tag;
		i++;
		uid_packet(&u, k, p.tag, body, p.blen);
	}
	uid_close(&u);
	if (u.have_best)
		k->uid = sanitize_uid(u.best, u.best_len);
	else if (u.have_newest)
		k->uid = sanitize_uid(u.newest, u.newest_len);
	else if (u.first)
		k->uid = sanitize_uid(u.first, u.first_len);
	else
		k->uid = NULL;
}

/* open_key_identity - version and fingerprint of the open key, from its
 * first packet (for a secret key, from its public part). */
static int
open_key_identity(const struct split *s, struct pgp_key *k, char *why,
		  size_t why_len)
{
	const unsigned char *body;
	struct pkt p;
	size_t publen;

	/* Already framed once: cannot fail. */
	if (read_packet(s->data, s->end, s->start, &p, why, why_len) != 0)
		abort();
	body = s->data + p.off + p.hlen;
	publen = p.blen;
	if (p.tag == PGP_TAG_SECRET_KEY &&
	    public_part_len(body, p.blen, &publen) != 0) {
		snprintf(why, why_len, "secret key of unknown layout");
		return -1;
	}
	return key_identity(body, publen, k, why, why_len);
}

/* finish_key - decide about the open key: into the list, or a problem. */
static void
finish_key(struct split *s)
{
	struct pgp_keylist *list = s->list;
	struct pgp_key k;
	char why[200];

	if (!s->active)
		return;
	s->active = 0;
	memset(&k, 0, sizeof k);
	if (s->secret) {
		/* Named when possible, so the operator knows whose secret
		 * key went by. */
		open_key_identity(s, &k, why, sizeof why);
		add_problem(list, k.fpr_hex, "secret key material (tag %u packet "
			    "at offset %zu); key dropped", s->secret_tag,
			    s->secret_off);
		return;
	}
	if (open_key_identity(s, &k, why, sizeof why) != 0) {
		add_problem(list, k.fpr_hex, "%s (key at offset %zu); key dropped",
			    why, s->start);
		return;
	}
	if (s->size > s->max_key_size) {
		add_problem(list, k.fpr_hex, "key of %zu bytes is larger than "
			    "%zu bytes; key dropped", s->size, s->max_key_size);
		return;
	}
	if (list->nkeys >= s->max_keys) {
		add_problem(list, k.fpr_hex, "more than %zu keys; key dropped",
			    s->max_keys);
		return;
	}
	build_key(s, &k);
	list->keys = grow(list->keys, list->nkeys, sizeof *list->keys);
	list->keys[list->nkeys++] = k;
}

void
pgp_split_keys(const unsigned char *data, size_t len,
	       const struct pgp_limits *limits, struct pgp_keylist *list)
{
	struct split s;
	size_t pos = 0;
	int orphan_reported = 0;
	char why[160];

	memset(&s, 0, sizeof s);
	s.data = data;
	s.list = list;
	s.max_key_size = limits ? limits->max_key_size : (size_t)-1;
	s.max_keys = limits ? limits->max_keys : (size_t)-1;
	while (pos < len) {
		struct pkt p;

		if (read_packet(data, len, pos, &p, why, sizeof why) != 0) {
			if (s.active && !s.secret) {
				struct pgp_key k;
				char why2[200];

				/* Drop the key: its remaining packets are lost. */
				memset(&k, 0, sizeof k);
				open_key_identity(&s, &k, why2, sizeof why2);
				add_problem(list, k.fpr_hex, "broken packet framing "
					    "at offset %zu: %s; key dropped", pos,
					    why);
				s.active = 0;
			} else {
				add_problem(list, "", "broken packet framing at "
					    "offset %zu: %s", pos, why);
			}
			break;
		}
		pos = p.off + p.hlen + p.blen;
		switch (p.tag) {
		case PGP_TAG_PUBLIC_KEY:
		case PGP_TAG_SECRET_KEY:
			finish_key(&s);
			s.active = 1;
			s.secret = p.tag == PGP_TAG_SECRET_KEY;
			s.secret_tag = p.tag;
			s.secret_off = p.off;
			s.start = p.off;
			s.size = 0;
			s.npackets = 0;
			break;
		case PGP_TAG_SECRET_SUBKEY:
			if (s.active && !s.secret) {
				s.secret = 1;
				s.secret_tag = p.tag;
				s.secret_off = p.off;
			} else if (!s.active) {
				add_problem(list, "", "secret key material (tag %u "
					    "packet at offset %zu) outside any "
					    "key", p.tag, p.off);
			}
			break;
		case PGP_TAG_TRUST:
			/* Local to the keyring it came from: never stored. */
			break;
		default:
			if (!s.active && !orphan_reported) {
				add_problem(list, "", "tag %u packet at offset %zu "
					    "is not inside a key (no primary key "
					    "packet before it); skipped", p.tag,
					    p.off);
				orphan_reported = 1;
			}
			break;
		}
		if (p.tag == PGP_TAG_SECRET_KEY || p.tag == PGP_TAG_SECRET_SUBKEY)
			list->secret_seen = 1;
		if (s.active) {
			s.end = pos;
			if (p.tag != PGP_TAG_TRUST) {
				s.size += p.hlen + p.blen;
				s.npackets++;
			}
		}
	}
	finish_key(&s);
}

void
pgp_key_free_contents(struct pgp_key *key)
{
	free(key->data);
	free(key->uid);
	free(key->digests);
	free(key->tags);
	memset(key, 0, sizeof *key);
}

void
pgp_keylist_free(struct pgp_keylist *list)
{
	for (size_t i = 0; i < list->nkeys; i++)
		pgp_key_free_contents(&list->keys[i]);
	free(list->keys);
	free(list->problems);
	memset(list, 0, sizeof *list);
}

void
pgp_keyseq_add(struct buf *seq, const unsigned char *key, size_t len)
{
	unsigned char hdr[4];

	be32_put(hdr, (uint32_t)len);
	buf_append(seq, hdr, 4);
	buf_append(seq, key, len);
}

int
pgp_keyseq_next(const unsigned char *seq, size_t len, size_t *off,
		   const unsigned char **key_r, size_t *key_len_r)
{
	uint32_t n;

	if (*off == len)
		return 0;
	if (*off > len || len - *off < 4)
		return -1;
	n = be32_get(seq + *off);
	if (n == 0 || n > len - *off - 4)
		return -1;
	*key_r = seq + *off + 4;
	*key_len_r = n;
	*off += 4 + (size_t)n;
	return 1;
}

void
pgp_key_copy(struct pgp_key *dst, const struct pgp_key *src)
{
	*dst = *src;
	dst->data = xmemdup(src->data, src->len);
	dst->uid = src->uid ? xstrdup(src->uid) : NULL;
	dst->digests = xreallocarray(NULL, src->npackets, sizeof *src->digests);
	if (src->npackets)
		memcpy(dst->digests, src->digests,
		       src->npackets * sizeof *src->digests);
	dst->tags = xmemdup(src->tags, src->npackets);
}

int
pgp_parse_key_blob(const unsigned char *data, size_t len,
		   struct pgp_key *key, struct pb_err *err)
{
	struct pgp_keylist list;
	struct pgp_limits lim = { (size_t)-1, 2 };

	memset(key, 0, sizeof *key);
	memset(&list, 0, sizeof list);
	pgp_split_keys(data, len, &lim, &list);
	if (list.nproblems > 0) {
		pb_err_set(err, PB_EDATA, "stored key: %s",
			   list.problems[0].reason);
	} else if (list.nkeys != 1) {
		pb_err_set(err, PB_EDATA, "stored key blob holds %zu keys, "
			   "not one", list.nkeys);
	} else {
		*key = list.keys[0];
		list.nkeys = 0;
		pgp_keylist_free(&list);
		return 0;
	}
	pgp_keylist_free(&list);
	return -1;
}
