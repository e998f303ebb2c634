/*
 * policy.c - the key policy (see policy.h for the rules and the API).
 *
 * One call, in this order:
 *
 *   1. frame the key (and the stored copy) into components (the primary
 *      key, user IDs, user attributes, subkeys), each with its
 *      signatures; merge components and signatures that are the same
 *      bytes (a delta's user ID is the stored one; a repeated packet is
 *      a duplicate);
 *   2. the rules that need no cryptography: sizes, user attributes,
 *      secret subkeys, misplaced and future signatures, a blocked
 *      primary key;
 *   3. unless the primary key cannot verify (unjudged: count limits,
 *      then output): the key's own signatures, newest first, only as
 *      many as decisions need (key revocations, then per component the
 *      newest valid binding, revocation, attestation), each verified at
 *      most once, within POLICY_VERIFY_BUDGET_US;
 *   4. third-party certifications by third_party_certs, the cap, the
 *      designated revokers, hard revocation, blocked subkeys;
 *   5. output: the kept packets of the judged key, component by
 *      component in key order, and the counts.
 *
 * Everything points into the caller's buffers; what is allocated is one
 * small record per packet (about 80 bytes) and the output.
 */
#include "openpgp/policy.h"
#include "openpgp/sigverify.h"
#include "util/bytes.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <nettle/sha2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NONE UINT32_MAX
#define FUTURE_SLACK 86400	/* SPEC: more than a day ahead is dropped */
#define MAX_EMBEDDED 4		/* back-signatures tried per binding */
#define MAX_REVOKERS 16		/* designated revokers remembered */
#define SEQ_KEY 0x80000000u	/* the key's packets after the stored ones */

static const char *const reason_names[POLICY_NREASONS] = {
	[POLICY_R_SECRET] = "secret",
	[POLICY_R_BLOCKED] = "blocked",
	[POLICY_R_HARD_REVOKED] = "hard_revoked",
	[POLICY_R_UNBOUND] = "unbound",
	[POLICY_R_BAD_SIG] = "bad_sig",
	[POLICY_R_FUTURE] = "future",
	[POLICY_R_SUPERSEDED] = "superseded",
	[POLICY_R_THIRD_PARTY] = "third_party",
	[POLICY_R_CAP] = "cap",
	[POLICY_R_UID_SIZE] = "uid_size",
	[POLICY_R_SIG_SIZE] = "sig_size",
	[POLICY_R_USER_ATTRIBUTE] = "user_attribute",
	[POLICY_R_DUPLICATE] = "duplicate",
	[POLICY_R_MISPLACED] = "misplaced",
	[POLICY_R_MALFORMED] = "malformed",
	[POLICY_R_PACKET_TYPE] = "packet_type",
	[POLICY_R_OVER_BUDGET] = "over_budget",
};

const char *
policy_reason_name(enum policy_reason r)
{
	return (unsigned)r < POLICY_NREASONS ? reason_names[r] : "?";
}

const char *
policy_verdict_name(enum policy_verdict v)
{
	switch (v) {
	case POLICY_KEPT: return "kept";
	case POLICY_UNJUDGED: return "unjudged";
	case POLICY_BLOCKED: return "blocked";
	case POLICY_EMPTY: return "empty";
	case POLICY_TOO_LARGE: return "too_large";
	}
	return "?";
}

static const char *const tp_names[] = {
	[POLICY_TP_NONE] = "none",
	[POLICY_TP_APPROVED] = "approved",
	[POLICY_TP_OWNER] = "owner",
	[POLICY_TP_ALL] = "all",
};

int
policy_third_party_parse(const char *s, enum policy_third_party *tp)
{
	for (size_t i = 0; i < sizeof tp_names / sizeof tp_names[0]; i++) {
		if (strcmp(s, tp_names[i]) == 0) {
			*tp = (enum policy_third_party)i;
			return 0;
		}
	}
	return -1;
}

const char *
policy_third_party_name(enum policy_third_party tp)
{
	return (unsigned)tp < sizeof tp_names / sizeof tp_names[0] ?
		tp_names[tp] : "?";
}

void
policy_settings_init(struct policy_settings *s)
{
	memset(s, 0, sizeof *s);
	s->third_party = POLICY_TP_OWNER;
	s->max_certs_per_uid = 100;
	s->max_uid_size = 1024;
	s->max_sig_size = 8192;
	s->max_key_size = 1024 * 1024;
	s->keep_user_attributes = 0;
	s->keep_uids_when_revoked = 0;
	s->now = 0;
}

/* --- the model --------------------------------------------------------- */

enum { FROM_KEY = 1, FROM_STORED = 2 };

/* What became of a packet.  STORED: a packet of the judged key that the
 * stored copy also has (only the stored one is judged); MERGED: a
 * component of the judged key that is the stored one (its canon carries
 * it from then on). */
enum { ST_OPEN, ST_KEEP, ST_DROP, ST_STORED, ST_MERGED };

enum comp_kind { C_PRIMARY, C_UID, C_UAT, C_SUBKEY };
enum issuer_kind { ISS_NONE, ISS_SELF, ISS_OTHER };
enum vstate { V_UNTRIED, V_GOOD, V_BAD, V_UNKNOWN, V_BUDGET };

struct pkt {
	const unsigned char *hdr;	/* into the caller's key or stored */
	size_t hlen, blen;
	uint64_t hash;			/* of the body: finds equal packets */
	uint32_t key_pos;		/* position in the judged key, or NONE */
	uint32_t seq;			/* parse order, stored copy first */
	uint8_t from;
	uint8_t state;
	uint8_t reason;
};

struct comp {
	struct pkt p;
	uint8_t kind;
	uint8_t secret;			/* a secret subkey packet */
	uint8_t emit;			/* output: this component's packet */
	uint32_t canon;			/* the comp it is the same as, or
					 * itself */
	uint32_t first, n;		/* its signatures: order[first..+n) */
	uint32_t binding;		/* the kept binding signature */
};

struct sig {
	struct pkt p;
	uint32_t comp;
	uint32_t created;
	uint8_t type, version;
	uint8_t iss;			/* enum issuer_kind */
	uint8_t v;			/* enum vstate */
	uint8_t no_modify;		/* hashed Key Server Preferences 0x80 */
	uint8_t hard;			/* a revocation with a hard reason */
	uint8_t approved;		/* attested by the owner */
	unsigned char issuer[8];
};

struct judge {
	const struct policy *pol;
	const struct policy_settings *set;
	struct policy_result *res;
	int64_t now;
	int delta;			/* a stored copy was given */
	uint32_t key_npackets;		/* packets in the judged key */
	uint32_t seq, key_seq;		/* parse order: stored, key */
	struct comp *comps;
	size_t ncomps;
	struct sig *sigs;
	size_t nsigs;
	uint32_t *order;		/* sigs, grouped by component */
	const unsigned char *pbody;	/* primary key packet body */
	size_t plen;
	unsigned char keyid[8];
	struct sigv_key pk;
	int judged;			/* the primary key can verify */
	char pk_why[120];
	long budget;			/* estimated microseconds left */
	struct sha256_ctx id_ctx;	/* sigcache ids: after the primary */
	unsigned char revokers[MAX_REVOKERS][PGP_FPR_MAX];
	size_t nrevokers;
};

/* Lists grow by doubling when their count reaches a power of two. */
static void *
grow(void *arr, size_t n, size_t elsize)
{
	if (n == 0)
		return xreallocarray(arr, 1, elsize);
	if ((n & (n - 1)) == 0)
		return xreallocarray(arr, n, 2 * elsize);
	return arr;
}

/* fnv64 - FNV-1a: equal packets must hash equal; bytes are compared
 * whenever hashes are, so collisions cost time, never correctness. */
static uint64_t
fnv64(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static const unsigned char *
body(const struct pkt *p)
{
	return p->hdr + p->hlen;
}

static int
same_body(const struct pkt *a, const struct pkt *b)
{
	return a->blen == b->blen && a->hash == b->hash &&
	       memcmp(body(a), body(b), a->blen) == 0;
}

/* drop, keep - decide about an open packet; a decision stands (the few
 * overrides, a dropped component or a blocked key, set the state
 * themselves). */
static void
drop(struct pkt *p, enum policy_reason r)
{
	if (p->state == ST_OPEN) {
		p->state = ST_DROP;
		p->reason = (uint8_t)r;
	}
}

static void
keep(struct pkt *p)
{
	if (p->state == ST_OPEN)
		p->state = ST_KEEP;
}

static struct sig *
comp_sig(struct judge *j, const struct comp *c, uint32_t i)
{
	return &j->sigs[j->order[c->first + i]];
}

/* drop_comp - a component goes, with every signature still open. */
static void
drop_comp(struct judge *j, struct comp *c, enum policy_reason r)
{
	drop(&c->p, r);
	for (uint32_t i = 0; i < c->n; i++) {
		struct sig *s = comp_sig(j, c, i);

		if (s->p.state == ST_OPEN || s->p.state == ST_KEEP) {
			s->p.state = ST_DROP;
			s->p.reason = (uint8_t)r;
		}
	}
}

/* --- 1. framing and merging -------------------------------------------- */

static void
add_pkt(struct judge *j, struct pkt *p, const struct pgp_packet *pk, int from)
{
	memset(p, 0, sizeof *p);
	p->hdr = pk->hdr;
	p->hlen = pk->hlen;
	p->blen = pk->blen;
	p->hash = fnv64(pk->body, pk->blen);
	p->from = (uint8_t)from;
	/* The stored copy's packets rank before the key's, though the key
	 * is read first: of equal packets the stored one is the one judged,
	 * the key's is its twin. */
	p->seq = from == FROM_KEY ? SEQ_KEY + j->key_seq++ : j->seq++;
	p->key_pos = from == FROM_KEY ? j->key_npackets++ : NONE;
	p->state = ST_OPEN;
}

/* load - frame data into components and signatures.  The judged key
 * first (it creates comps[0], the primary key); a stored copy must start
 * with the same primary key packet. */
static int
load(struct judge *j, const unsigned char *data, size_t len, int from,
     struct pb_err *err)
{
	const char *what = from == FROM_KEY ? "key" : "stored key";
	struct pgp_packet pk;
	size_t off = 0;
	uint32_t cur = 0;
	char why[160];
	int r;

	r = pgp_packet_next(data, len, &off, &pk, why, sizeof why);
	if (r == 0)
		return pb_err_set(err, PB_EDATA, "%s: no packets", what);
	if (r < 0)
		return pb_err_set(err, PB_EDATA, "%s: %s", what, why);
	if (pk.tag != PGP_TAG_PUBLIC_KEY && !(from == FROM_KEY &&
					     pk.tag == PGP_TAG_SECRET_KEY))
		return pb_err_set(err, PB_EDATA, "%s: starts with a tag %u "
				  "packet, not a public key", what, pk.tag);
	if (from == FROM_KEY) {
		j->comps = grow(j->comps, j->ncomps, sizeof *j->comps);
		memset(&j->comps[0], 0, sizeof j->comps[0]);
		add_pkt(j, &j->comps[0].p, &pk, FROM_KEY);
		j->comps[0].kind = C_PRIMARY;
		j->comps[0].secret = pk.tag == PGP_TAG_SECRET_KEY;
		j->ncomps = 1;
		j->pbody = pk.body;
		j->plen = pk.blen;
	} else {
		if (pk.blen != j->plen || memcmp(pk.body, j->pbody, pk.blen) != 0)
			return pb_err_set(err, PB_EDATA, "stored key: not the "
					  "same primary key");
		j->comps[0].p.from |= FROM_STORED;
	}
	while ((r = pgp_packet_next(data, len, &off, &pk, why,
				    sizeof why)) == 1) {
		struct comp *c;
		struct sig *s;

		switch (pk.tag) {
		case PGP_TAG_SIGNATURE:
			j->sigs = grow(j->sigs, j->nsigs, sizeof *j->sigs);
			s = &j->sigs[j->nsigs++];
			memset(s, 0, sizeof *s);
			add_pkt(j, &s->p, &pk, from);
			s->comp = cur;
			break;
		case PGP_TAG_USER_ID:
		case PGP_TAG_USER_ATTRIBUTE:
		case PGP_TAG_PUBLIC_SUBKEY:
		case PGP_TAG_SECRET_SUBKEY:
			j->comps = grow(j->comps, j->ncomps, sizeof *j->comps);
			cur = (uint32_t)j->ncomps++;
			c = &j->comps[cur];
			memset(c, 0, sizeof *c);
			add_pkt(j, &c->p, &pk, from);
			c->kind = pk.tag == PGP_TAG_USER_ID ? C_UID :
				pk.tag == PGP_TAG_USER_ATTRIBUTE ? C_UAT : C_SUBKEY;
			c->secret = pk.tag == PGP_TAG_SECRET_SUBKEY;
			break;
		case PGP_TAG_PUBLIC_KEY:
		case PGP_TAG_SECRET_KEY:
			return pb_err_set(err, PB_EDATA, "%s: a second primary "
					  "key (more than one key)", what);
		default:
			/* Trust, marker, padding, unknown: no part of what
			 * the policy passes. */
			if (from == FROM_KEY) {
				j->key_npackets++;
				j->res->dropped[POLICY_R_PACKET_TYPE]++;
			}
			break;
		}
	}
	if (r < 0)
		return pb_err_set(err, PB_EDATA, "%s: %s", what, why);
	return 0;
}

/* Sorting by a precomputed rank, so qsort needs no context. */
struct rank {
	uint64_t a, b;		/* compared in turn, ascending */
	uint32_t seq;
	uint32_t idx;
};

static int
rank_cmp(const void *x, const void *y)
{
	const struct rank *p = x, *q = y;

	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	if (p->b != q->b)
		return p->b < q->b ? -1 : 1;
	if (p->seq != q->seq)
		return p->seq < q->seq ? -1 : 1;
	return 0;
}

/* merge_comps - equal components become one: a stored one and the
 * delta's copy (its anchor), or a duplicate within the key. */
static void
merge_comps(struct judge *j)
{
	struct rank *r = xreallocarray(NULL, j->ncomps, sizeof *r);
	size_t n = 0;

	for (uint32_t i = 0; i < j->ncomps; i++)
		j->comps[i].canon = i;
	for (uint32_t i = 1; i < j->ncomps; i++)
		r[n++] = (struct rank){ j->comps[i].kind,
					j->comps[i].p.hash, j->comps[i].p.seq, i };
	qsort(r, n, sizeof *r, rank_cmp);
	for (size_t a = 0; a < n; a++) {
		struct comp *c = &j->comps[r[a].idx];

		for (size_t b = a; b-- > 0 && r[b].a == r[a].a &&
		     r[b].b == r[a].b;) {
			struct comp *e = &j->comps[r[b].idx];

			if (e->canon != r[b].idx || e->secret != c->secret ||
			    !same_body(&e->p, &c->p))
				continue;
			c->canon = r[b].idx;
			if (c->p.from == FROM_KEY && e->p.from == FROM_STORED) {
				/* The delta's copy: output it, not the
				 * stored one, should it be needed. */
				e->p.from |= FROM_KEY;
				e->p.hdr = c->p.hdr;
				e->p.hlen = c->p.hlen;
				e->p.key_pos = c->p.key_pos;
				c->p.state = ST_MERGED;
			} else if (c->p.from == FROM_KEY) {
				drop(&c->p, POLICY_R_DUPLICATE);
			} else {
				c->p.state = ST_MERGED;
			}
			break;
		}
	}
	free(r);
}

/* group_sigs - each signature under its canonical component; equal
 * signatures there become one (the first; a delta's copy of a stored one
 * is STORED); then order[] lists them component by component. */
static void
group_sigs(struct judge *j)
{
	struct rank *r = xreallocarray(NULL, j->nsigs ? j->nsigs : 1, sizeof *r);

	for (uint32_t i = 0; i < j->nsigs; i++) {
		j->sigs[i].comp = j->comps[j->sigs[i].comp].canon;
		r[i] = (struct rank){ j->sigs[i].comp, j->sigs[i].p.hash,
				      j->sigs[i].p.seq, i };
	}
	qsort(r, j->nsigs, sizeof *r, rank_cmp);
	for (size_t a = 0; a < j->nsigs; a++) {
		struct sig *s = &j->sigs[r[a].idx];

		for (size_t b = a; b-- > 0 && r[b].a == r[a].a &&
		     r[b].b == r[a].b;) {
			struct sig *e = &j->sigs[r[b].idx];

			if (e->p.state == ST_STORED ||
			    (e->p.state == ST_DROP &&
			     e->p.reason == POLICY_R_DUPLICATE) ||
			    !same_body(&e->p, &s->p))
				continue;
			if (s->p.from == FROM_KEY && e->p.from == FROM_KEY)
				drop(&s->p, POLICY_R_DUPLICATE);
			else
				s->p.state = ST_STORED;
			break;
		}
	}
	/* Component by component, in parse order. */
	for (uint32_t i = 0; i < j->nsigs; i++)
		r[i] = (struct rank){ j->sigs[i].comp, 0, j->sigs[i].p.seq, i };
	qsort(r, j->nsigs, sizeof *r, rank_cmp);
	j->order = xreallocarray(NULL, j->nsigs ? j->nsigs : 1,
				 sizeof *j->order);
	for (uint32_t i = 0; i < j->nsigs; i++) {
		struct comp *c = &j->comps[r[i].a];

		if (c->n == 0)
			c->first = i;
		c->n++;
		j->order[i] = r[i].idx;
	}
	free(r);
}

/* --- 2. the rules that need no cryptography ----------------------------- */

static int
type_fits(enum comp_kind kind, int type)
{
	switch (kind) {
	case C_PRIMARY:
		return type == SIG_DIRECT_KEY || type == SIG_KEY_REVOCATION;
	case C_UID:
	case C_UAT:
		return (type >= SIG_CERT_GENERIC && type <= SIG_CERT_POSITIVE) ||
		       type == SIG_CERT_REVOCATION || type == SIG_ATTESTATION;
	case C_SUBKEY:
		return type == SIG_SUBKEY_BINDING ||
		       type == SIG_SUBKEY_REVOCATION;
	}
	return 0;
}

/* hard_reason - HIP-5: absent, 0 (no reason) or 2 (compromised). */
static int
hard_reason(const struct pgp_sig *ps)
{
	return !ps->has_reason || ps->reason == 0 || ps->reason == 2;
}

/* classify - what a signature says about itself, and the cheap rules. */
static void
classify(struct judge *j, struct sig *s)
{
	const struct comp *c = &j->comps[s->comp];
	struct pgp_sig ps;
	size_t fl = j->res->fpr_len;

	if (s->p.state != ST_OPEN)
		return;
	if (s->p.blen > j->set->max_sig_size) {
		drop(&s->p, POLICY_R_SIG_SIZE);
		return;
	}
	if (pgp_sig_parse(body(&s->p), s->p.blen, &ps, NULL, 0) != 0) {
		drop(&s->p, POLICY_R_MALFORMED);
		return;
	}
	s->type = (uint8_t)ps.type;
	s->version = (uint8_t)ps.version;
	s->created = ps.created;
	s->no_modify = ps.has_ks_prefs && (ps.ks_prefs & KS_PREF_NO_MODIFY);
	s->hard = hard_reason(&ps);
	memcpy(s->issuer, ps.issuer, 8);
	if (ps.has_issuer && memcmp(ps.issuer, j->keyid, 8) == 0 &&
	    (ps.issuer_fpr_len == 0 || (ps.issuer_fpr_len == fl &&
	     memcmp(ps.issuer_fpr, j->res->fpr, fl) == 0)))
		s->iss = ISS_SELF;
	else
		s->iss = ps.has_issuer ? ISS_OTHER : ISS_NONE;
	if ((int64_t)s->created > j->now + FUTURE_SLACK)
		drop(&s->p, POLICY_R_FUTURE);
	else if (!type_fits(c->kind, s->type))
		drop(&s->p, POLICY_R_MISPLACED);
}

static void
cheap_rules(struct judge *j)
{
	for (uint32_t i = 1; i < j->ncomps; i++) {
		struct comp *c = &j->comps[i];

		if (c->canon != i)
			continue;
		if (c->secret)
			drop_comp(j, c, POLICY_R_SECRET);
		else if (c->kind == C_UID && c->p.blen > j->set->max_uid_size)
			drop_comp(j, c, POLICY_R_UID_SIZE);
		else if (c->kind == C_UAT && !j->set->keep_user_attributes)
			drop_comp(j, c, POLICY_R_USER_ATTRIBUTE);
	}
	for (uint32_t i = 0; i < j->nsigs; i++)
		classify(j, &j->sigs[i]);
}

/* --- 3. verification ----------------------------------------------------- */

static unsigned
comp_tag(const struct comp *c)
{
	switch (c->kind) {
	case C_UID: return PGP_TAG_USER_ID;
	case C_UAT: return PGP_TAG_USER_ATTRIBUTE;
	case C_SUBKEY: return PGP_TAG_PUBLIC_SUBKEY;
	default: return 0;
	}
}

/* sig_id - the sigcache id: SHA-256 over the primary key (already in
 * id_ctx), the component and the signature, each framed by its tag and
 * length. */
static void
sig_id(const struct judge *j, const struct comp *c, const struct sig *s,
       unsigned char id[POLICY_SIGID_LEN])
{
	struct sha256_ctx ctx = j->id_ctx;
	unsigned char h[5];

	if (c->kind != C_PRIMARY) {
		h[0] = (unsigned char)comp_tag(c);
		be32_put(h + 1, (uint32_t)c->p.blen);
		sha256_update(&ctx, 5, h);
		sha256_update(&ctx, c->p.blen, body(&c->p));
	}
	h[0] = PGP_TAG_SIGNATURE;
	be32_put(h + 1, (uint32_t)s->p.blen);
	sha256_update(&ctx, 5, h);
	sha256_update(&ctx, s->p.blen, body(&s->p));
	sha256_digest(&ctx, POLICY_SIGID_LEN, id);
}

static int
spend(struct judge *j, unsigned cost)
{
	if (j->budget < (long)cost)
		return -1;
	j->budget -= (long)cost;
	j->res->verified++;
	return 0;
}

/* backsig - a signing subkey's binding must embed a valid primary-key
 * binding signature (0x19) made by the subkey.  Every Embedded Signature
 * subpacket is tried (at most MAX_EMBEDDED), the hashed ones first:
 * anyone may add one to the unhashed area, and a junk one there must not
 * hide the real one. */
static enum vstate
backsig(struct judge *j, const struct comp *c, const struct pgp_sig *bind)
{
	const unsigned char *areas[2] = { bind->hashed, bind->unhashed };
	size_t lens[2] = { bind->hashed_len, bind->unhashed_len };
	struct sigv_key sk;
	enum sigv_result kr;
	enum vstate v = V_BAD;
	unsigned char digest[SIGV_MAX_DIGEST];
	int tried = 0;

	kr = sigv_key_init(&sk, body(&c->p), c->p.blen, NULL, 0);
	if (kr != SIGV_GOOD) {
		sigv_key_clear(&sk);
		return kr == SIGV_UNKNOWN ? V_UNKNOWN : V_BAD;
	}
	for (int a = 0; a < 2 && v != V_GOOD && tried < MAX_EMBEDDED; a++) {
		size_t off = 0;
		unsigned type;
		int crit;
		const unsigned char *d;
		size_t dl;

		while (tried < MAX_EMBEDDED &&
		       pgp_sig_subpacket_next(areas[a], lens[a], &off, &type,
					      &crit, &d, &dl) == 1) {
			struct pgp_sig e;
			enum sigv_result r;

			if (type != SUBPKT_EMBEDDED_SIG)
				continue;
			tried++;
			if (pgp_sig_parse(d, dl, &e, NULL, 0) != 0 ||
			    e.type != SIG_PRIMARY_BINDING || e.unknown_critical)
				continue;
			r = sigv_digest(&sk, &e, j->pbody, j->plen,
					PGP_TAG_PUBLIC_SUBKEY, body(&c->p),
					c->p.blen, digest, NULL, 0);
			if (r == SIGV_GOOD) {
				if (spend(j, sk.cost) != 0) {
					v = V_BUDGET;
					break;
				}
				r = sigv_verify_digest(&sk, &e, digest, NULL, 0);
			}
			if (r == SIGV_GOOD) {
				v = V_GOOD;
				break;
			}
			if (r == SIGV_UNKNOWN)
				v = V_UNKNOWN;
		}
	}
	sigv_key_clear(&sk);
	return v;
}

/* verify - is s, claiming to be by the primary key, valid?  Each
 * signature is verified at most once per call (and not at all if the
 * sigcache knows it). */
static enum vstate
verify(struct judge *j, struct sig *s)
{
	const struct comp *c = &j->comps[s->comp];
	unsigned char id[POLICY_SIGID_LEN], digest[SIGV_MAX_DIGEST];
	const struct policy_sigcache *cache = j->pol->cache;
	struct pgp_sig ps;
	enum sigv_result r;
	enum vstate v;

	if (s->v != V_UNTRIED)
		return (enum vstate)s->v;
	if (pgp_sig_parse(body(&s->p), s->p.blen, &ps, NULL, 0) != 0) {
		s->v = V_BAD;
		return V_BAD;
	}
	if (ps.unknown_critical) {
		/* RFC 9580 5.2.3.7: such a signature is not valid. */
		s->v = V_UNKNOWN;
		return V_UNKNOWN;
	}
	if (cache) {
		sig_id(j, c, s, id);
		if (cache->known_good(cache->ctx, id)) {
			j->res->cache_hits++;
			s->v = V_GOOD;
			return V_GOOD;
		}
	}
	/* The hash and its quick check first: a signature that fails them
	 * costs no public-key operation, and none of the budget. */
	r = sigv_digest(&j->pk, &ps, j->pbody, j->plen, comp_tag(c),
			c->kind == C_PRIMARY ? NULL : body(&c->p), c->p.blen,
			digest, NULL, 0);
	if (r == SIGV_GOOD) {
		if (spend(j, j->pk.cost) != 0) {
			s->v = V_BUDGET;
			return V_BUDGET;
		}
		r = sigv_verify_digest(&j->pk, &ps, digest, NULL, 0);
	}
	v = r == SIGV_GOOD ? V_GOOD : r == SIGV_BAD ? V_BAD : V_UNKNOWN;
	if (v == V_GOOD && ps.type == SIG_SUBKEY_BINDING && ps.has_key_flags &&
	    (ps.key_flags & KEY_FLAG_SIGN))
		v = backsig(j, c, &ps);
	if (v == V_GOOD && cache)
		cache->remember_good(cache->ctx, id);
	s->v = (uint8_t)v;
	return v;
}

static enum policy_reason
failed_reason(enum vstate v)
{
	return v == V_BUDGET ? POLICY_R_OVER_BUDGET : POLICY_R_BAD_SIG;
}

/* self_sigs - the open signatures by the key itself of the types
 * t1..t2 on c, newest first (ties: key order). */
static size_t
self_sigs(struct judge *j, const struct comp *c, int t1, int t2,
	  struct rank *out)
{
	size_t n = 0;

	for (uint32_t i = 0; i < c->n; i++) {
		struct sig *s = comp_sig(j, c, i);

		if (s->p.state != ST_OPEN || s->iss != ISS_SELF ||
		    s->type < t1 || s->type > t2)
			continue;
		out[n++] = (struct rank){ UINT32_MAX - (uint64_t)s->created, 0,
					  s->p.seq, j->order[c->first + i] };
	}
	qsort(out, n, sizeof *out, rank_cmp);
	return n;
}

/* newest_valid - of the candidates (newest first), keep the first that
 * verifies (with ties, every valid one of the same time when ties is
 * set); drop those before it that fail and those after it as
 * superseded.  Returns the kept one, or NONE (all failed). */
static uint32_t
newest_valid(struct judge *j, const struct rank *cand, size_t n, int ties)
{
	uint32_t found = NONE;
	uint32_t when = 0;

	for (size_t i = 0; i < n; i++) {
		struct sig *s = &j->sigs[cand[i].idx];
		enum vstate v;

		if (found != NONE && (!ties || s->created != when)) {
			drop(&s->p, POLICY_R_SUPERSEDED);
			continue;
		}
		v = verify(j, s);
		if (v == V_GOOD) {
			keep(&s->p);
			if (found == NONE) {
				found = cand[i].idx;
				when = s->created;
			}
		} else {
			drop(&s->p, failed_reason(v));
		}
	}
	return found;
}

/* --- 4. third parties ---------------------------------------------------- */

/* The owner's attestation: digests by hash algorithm. */
struct approvals {
	struct {
		int algo;
		size_t dlen;
		unsigned char *d;	/* n digests of dlen, sorted */
		size_t n;
	} set[4];
	size_t nsets;
};

static int
dig_cmp16(const void *a, const void *b)
{
	/* Only equality matters for bsearch, and all digests of one set
	 * share a length, which the comparator cannot see: the sets sort
	 * on their first 16 octets, and lookups compare in full. */
	return memcmp(a, b, 16);
}

static void
approvals_free(struct approvals *ap)
{
	for (size_t i = 0; i < ap->nsets; i++)
		free(ap->set[i].d);
	memset(ap, 0, sizeof *ap);
}

/* approvals_add - the Attested Certifications of one valid attestation.
 * A subpacket whose length is no multiple of the digest length attests
 * nothing. */
static void
approvals_add(struct approvals *ap, const struct sig *s)
{
	struct pgp_sig ps;
	size_t off = 0, dlen, k;
	unsigned type;
	int crit;
	const unsigned char *d;
	size_t dl;

	if (pgp_sig_parse(body(&s->p), s->p.blen, &ps, NULL, 0) != 0)
		return;
	dlen = sigv_hash_len(ps.hash_algo);
	if (dlen < 16)
		return;
	for (k = 0; k < ap->nsets && ap->set[k].algo != ps.hash_algo; k++)
		;
	if (k == ap->nsets) {
		if (k == sizeof ap->set / sizeof ap->set[0])
			return;
		ap->nsets++;
		ap->set[k].algo = ps.hash_algo;
		ap->set[k].dlen = dlen;
	}
	while (pgp_sig_subpacket_next(ps.hashed, ps.hashed_len, &off, &type,
				      &crit, &d, &dl) == 1) {
		if (type != SUBPKT_ATTESTED_CERTS || dl % dlen != 0)
			continue;
		ap->set[k].d = xreallocarray(ap->set[k].d,
					     ap->set[k].n * dlen + dl + 1, 1);
		memcpy(ap->set[k].d + ap->set[k].n * dlen, d, dl);
		ap->set[k].n += dl / dlen;
	}
}

static void
approvals_sort(struct approvals *ap)
{
	for (size_t k = 0; k < ap->nsets; k++)
		qsort(ap->set[k].d, ap->set[k].n, ap->set[k].dlen, dig_cmp16);
}

/* approved - is the certification s among the attested ones? */
static int
approved(const struct approvals *ap, const struct sig *s)
{
	struct pgp_sig ps;

	if (ap->nsets == 0 ||
	    pgp_sig_parse(body(&s->p), s->p.blen, &ps, NULL, 0) != 0)
		return 0;
	for (size_t k = 0; k < ap->nsets; k++) {
		unsigned char dig[SIGV_MAX_DIGEST];
		size_t dl = ap->set[k].dlen, lo = 0, hi = ap->set[k].n;

		if (sigv_attest_digest(&ps, ap->set[k].algo, dig) != dl)
			continue;
		/* The first 16 octets find the run; all of them decide. */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = memcmp(ap->set[k].d + mid * dl, dig, 16);

			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < ap->set[k].n &&
		     memcmp(ap->set[k].d + lo * dl, dig, 16) == 0; lo++)
			if (memcmp(ap->set[k].d + lo * dl, dig, dl) == 0)
				return 1;
	}
	return 0;
}

static int
is_cert(int type)
{
	return type >= SIG_CERT_GENERIC && type <= SIG_CERT_POSITIVE;
}

/* cap - keep the first max_certs_per_uid candidates (ranked), drop the
 * rest as cap. */
static void
cap(struct judge *j, struct rank *cand, size_t n)
{
	qsort(cand, n, sizeof *cand, rank_cmp);
	for (size_t i = 0; i < n; i++) {
		struct sig *s = &j->sigs[cand[i].idx];

		if (i < j->set->max_certs_per_uid)
			keep(&s->p);
		else
			drop(&s->p, POLICY_R_CAP);
	}
}

static int
keyid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 8);
}

/* third_party_revocations - a certification revocation by another key
 * stays while a certification by that key on this user ID stays: the
 * newest one per issuer. */
static void
third_party_revocations(struct judge *j, struct comp *c, struct rank *tmp)
{
	unsigned char *kept = xreallocarray(NULL, c->n ? c->n : 1, 8);
	size_t nkept = 0, n = 0;

	for (uint32_t i = 0; i < c->n; i++) {
		struct sig *s = comp_sig(j, c, i);

		if (s->p.state == ST_KEEP && s->iss == ISS_OTHER &&
		    is_cert(s->type))
			memcpy(kept + 8 * nkept++, s->issuer, 8);
	}
	qsort(kept, nkept, 8, keyid_cmp);
	for (uint32_t i = 0; i < c->n; i++) {
		struct sig *s = comp_sig(j, c, i);

		if (s->p.state != ST_OPEN || s->iss == ISS_SELF ||
		    s->type != SIG_CERT_REVOCATION)
			continue;
		if (s->iss == ISS_NONE ||
		    !bsearch(s->issuer, kept, nkept, 8, keyid_cmp)) {
			drop(&s->p, POLICY_R_THIRD_PARTY);
			continue;
		}
		tmp[n++] = (struct rank){ be64_get(s->issuer),
					  UINT32_MAX - (uint64_t)s->created,
					  s->p.seq, j->order[c->first + i] };
	}
	qsort(tmp, n, sizeof *tmp, rank_cmp);
	for (size_t i = 0; i < n; i++) {
		struct sig *s = &j->sigs[tmp[i].idx];

		if (i > 0 && tmp[i - 1].a == tmp[i].a)
			drop(&s->p, POLICY_R_SUPERSEDED);
		else
			keep(&s->p);
	}
	free(kept);
}

/* user_id - a user ID or user attribute: binding, revocation,
 * attestation, then the third-party certifications. */
static void
user_id(struct judge *j, struct comp *c, struct rank *tmp, int hard_revoked)
{
	struct approvals ap;
	size_t n;
	uint32_t b, r;
	int no_modify;
	enum policy_third_party mode = j->set->third_party;

	if (c->p.state != ST_OPEN)
		return;
	if (hard_revoked && (c->kind == C_UAT ||
			     !j->set->keep_uids_when_revoked)) {
		drop_comp(j, c, POLICY_R_HARD_REVOKED);
		return;
	}
	n = self_sigs(j, c, SIG_CERT_GENERIC, SIG_CERT_POSITIVE, tmp);
	if (n == 0 && !j->delta && (c->p.from & FROM_KEY))
		/* No self-signature at all: a delta's user ID, which the
		 * stored key may bind. */
		j->res->needs_stored = 1;
	b = newest_valid(j, tmp, n, 0);
	n = self_sigs(j, c, SIG_CERT_REVOCATION, SIG_CERT_REVOCATION, tmp);
	r = newest_valid(j, tmp, n, 0);
	if (b == NONE && r == NONE) {
		drop_comp(j, c, POLICY_R_UNBOUND);
		return;
	}
	/* A user ID whose only valid self-signature is its revocation (a
	 * cleaned key keeps just that) stays, so that the revocation
	 * travels: nobody but the owner can have made it. */
	keep(&c->p);
	c->binding = b;
	/* The owner's word on keyserver changes is in the binding
	 * certification; a revocation carries none, so a user ID bound
	 * only by its revocation consents to nothing. */
	no_modify = b == NONE || j->sigs[b].no_modify;
	if (hard_revoked) {
		/* The gnupg: exception: the self-signed user ID (its binding
		 * and revocation), never what others said about it. */
		for (uint32_t i = 0; i < c->n; i++)
			drop(&comp_sig(j, c, i)->p, POLICY_R_HARD_REVOKED);
		return;
	}
	memset(&ap, 0, sizeof ap);
	n = self_sigs(j, c, SIG_ATTESTATION, SIG_ATTESTATION, tmp);
	if (newest_valid(j, tmp, n, 1) != NONE) {
		for (size_t i = 0; i < n; i++)
			if (j->sigs[tmp[i].idx].p.state == ST_KEEP)
				approvals_add(&ap, &j->sigs[tmp[i].idx]);
		approvals_sort(&ap);
	}
	n = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		struct sig *s = comp_sig(j, c, i);

		if (s->p.state != ST_OPEN || s->iss == ISS_SELF)
			continue;
		if (s->type == SIG_ATTESTATION) {
			drop(&s->p, POLICY_R_MISPLACED);
			continue;
		}
		if (!is_cert(s->type))
			continue;	/* revocations: below */
		s->approved = (uint8_t)approved(&ap, s);
		if (mode == POLICY_TP_NONE ||
		    (mode == POLICY_TP_APPROVED && !s->approved) ||
		    (mode == POLICY_TP_OWNER && !s->approved && no_modify)) {
			drop(&s->p, POLICY_R_THIRD_PARTY);
			continue;
		}
		tmp[n++] = (struct rank){ !s->approved,
					  UINT32_MAX - (uint64_t)s->created,
					  s->p.seq, j->order[c->first + i] };
	}
	approvals_free(&ap);
	cap(j, tmp, n);
	third_party_revocations(j, c, tmp);
}

/* subkey - the newest valid binding (with its back-signature when the
 * subkey signs) and revocation; others' signatures go. */
static void
subkey(struct judge *j, struct comp *c, struct rank *tmp)
{
	size_t n;

	if (c->p.state != ST_OPEN)
		return;
	n = self_sigs(j, c, SIG_SUBKEY_BINDING, SIG_SUBKEY_BINDING, tmp);
	if (n == 0 && !j->delta && (c->p.from & FROM_KEY))
		j->res->needs_stored = 1;
	c->binding = newest_valid(j, tmp, n, 0);
	n = self_sigs(j, c, SIG_SUBKEY_REVOCATION, SIG_SUBKEY_REVOCATION, tmp);
	/* As with user IDs, a valid revocation alone keeps the subkey. */
	if (newest_valid(j, tmp, n, 0) == NONE && c->binding == NONE) {
		drop_comp(j, c, POLICY_R_UNBOUND);
		return;
	}
	keep(&c->p);
	for (uint32_t i = 0; i < c->n; i++) {
		struct sig *s = comp_sig(j, c, i);

		if (s->p.state == ST_OPEN)
			drop(&s->p, POLICY_R_THIRD_PARTY);
	}
}

/* add_revokers - the designated revokers a kept self-signature names
 * (Revocation Key subpackets, hashed: class, algorithm, fingerprint). */
static void
add_revokers(struct judge *j, const struct sig *s)
{
	struct pgp_sig ps;
	size_t off = 0;
	unsigned type;
	int crit;
	const unsigned char *d;
	size_t dl;

	if (pgp_sig_parse(body(&s->p), s->p.blen, &ps, NULL, 0) != 0)
		return;
	while (j->nrevokers < MAX_REVOKERS &&
	       pgp_sig_subpacket_next(ps.hashed, ps.hashed_len, &off, &type,
				      &crit, &d, &dl) == 1) {
		if (type == SUBPKT_REVOCATION_KEY && dl == 22)
			memcpy(j->revokers[j->nrevokers++], d + 2, 20);
	}
}

static int
is_revoker(const struct judge *j, const struct sig *s)
{
	for (size_t i = 0; i < j->nrevokers; i++)
		if (memcmp(j->revokers[i] + 12, s->issuer, 8) == 0)
			return 1;
	return 0;
}

/* blocked - is this fingerprint on the caller's blocklist? */
static int
blocked(const struct judge *j, const unsigned char *fpr, size_t len)
{
	return j->pol->blocked && j->pol->blocked(j->pol->blocked_ctx, fpr, len);
}

/* primary_sigs - the key's own revocations (all valid ones stay; a hard
 * one revokes), its newest direct-key signature; returns hard. */
static int
primary_sigs(struct judge *j, struct rank *tmp)
{
	struct comp *c = &j->comps[0];
	int hard = 0;
	size_t n;

	n = self_sigs(j, c, SIG_KEY_REVOCATION, SIG_KEY_REVOCATION, tmp);
	for (size_t i = 0; i < n; i++) {
		struct sig *s = &j->sigs[tmp[i].idx];
		enum vstate v = verify(j, s);

		if (v == V_GOOD) {
			keep(&s->p);
			hard |= s->hard;
		} else {
			drop(&s->p, failed_reason(v));
		}
	}
	n = self_sigs(j, c, SIG_DIRECT_KEY, SIG_DIRECT_KEY, tmp);
	newest_valid(j, tmp, n, 0);
	return hard;
}

/* others_on_primary - third-party signatures on the primary key: key
 * revocations by a designated revoker stay (newest first, capped);
 * direct-key signatures by others only under "all" (capped). */
static void
others_on_primary(struct judge *j, struct rank *tmp, int hard_revoked)
{
	struct comp *c = &j->comps[0];
	size_t nrev = 0, ndk = 0;
	struct rank *dk;

	dk = xreallocarray(NULL, c->n ? c->n : 1, sizeof *dk);
	for (uint32_t i = 0; i < c->n; i++) {
		struct sig *s = comp_sig(j, c, i);
		struct rank r = { UINT32_MAX - (uint64_t)s->created, 0,
				  s->p.seq, j->order[c->first + i] };

		if (s->p.state != ST_OPEN || s->iss == ISS_SELF)
			continue;
		if (s->type == SIG_KEY_REVOCATION && s->iss == ISS_OTHER &&
		    is_revoker(j, s))
			tmp[nrev++] = r;
		else if (s->type == SIG_DIRECT_KEY && !hard_revoked &&
			 j->set->third_party == POLICY_TP_ALL)
			dk[ndk++] = r;
		else
			drop(&s->p, hard_revoked && s->type == SIG_DIRECT_KEY ?
			     POLICY_R_HARD_REVOKED : POLICY_R_THIRD_PARTY);
	}
	cap(j, tmp, nrev);
	cap(j, dk, ndk);
	free(dk);
}

/* blocked_only - a blocked key: the primary key packet and its valid
 * key revocations, nothing else. */
static void
blocked_only(struct judge *j, struct rank *tmp)
{
	struct comp *c = &j->comps[0];
	size_t n;

	for (uint32_t i = 0; i < j->nsigs; i++) {
		struct sig *s = &j->sigs[i];

		if (s->p.state == ST_KEEP)
			s->p.state = ST_OPEN;
	}
	n = j->judged ? self_sigs(j, c, SIG_KEY_REVOCATION,
				  SIG_KEY_REVOCATION, tmp) : 0;
	for (size_t i = 0; i < n; i++) {
		struct sig *s = &j->sigs[tmp[i].idx];

		if (verify(j, s) == V_GOOD)
			keep(&s->p);
	}
	for (uint32_t i = 0; i < j->nsigs; i++) {
		struct sig *s = &j->sigs[i];

		if (s->p.state == ST_OPEN || (s->p.state == ST_DROP &&
					      s->p.reason != POLICY_R_DUPLICATE)) {
			s->p.state = ST_DROP;
			s->p.reason = POLICY_R_BLOCKED;
		}
	}
	for (uint32_t i = 1; i < j->ncomps; i++) {
		struct comp *k = &j->comps[i];

		if (k->p.state == ST_OPEN || k->p.state == ST_KEEP ||
		    (k->p.state == ST_DROP && k->p.reason != POLICY_R_DUPLICATE)) {
			k->p.state = ST_DROP;
			k->p.reason = POLICY_R_BLOCKED;
		}
	}
	j->res->verdict = POLICY_BLOCKED;
}

/* unjudged - the primary key cannot verify: only limits that need no
 * cryptography.  Per component, at most max_certs_per_uid signatures
 * from the key's own key ID and as many from others (none at all under
 * third_party_certs: none), newest first. */
static void
unjudged(struct judge *j, struct rank *tmp)
{
	for (uint32_t ci = 0; ci < j->ncomps; ci++) {
		struct comp *c = &j->comps[ci];
		size_t n = 0;

		if (c->canon != ci || c->p.state == ST_MERGED)
			continue;
		if (c->p.state == ST_DROP)
			continue;
		keep(&c->p);
		for (int self = 0; self < 2; self++) {
			n = 0;
			for (uint32_t i = 0; i < c->n; i++) {
				struct sig *s = comp_sig(j, c, i);

				if (s->p.state != ST_OPEN ||
				    (s->iss == ISS_SELF) != self)
					continue;
				if (!self && j->set->third_party == POLICY_TP_NONE) {
					drop(&s->p, POLICY_R_THIRD_PARTY);
					continue;
				}
				tmp[n++] = (struct rank){
					UINT32_MAX - (uint64_t)s->created, 0,
					s->p.seq, j->order[c->first + i] };
			}
			cap(j, tmp, n);
		}
	}
	j->res->verdict = POLICY_UNJUDGED;
	snprintf(j->res->why, sizeof j->res->why, "not judged: %s", j->pk_why);
}

/* judged - steps 3 and 4 for a key whose primary key can verify. */
static void
judged(struct judge *j, struct rank *tmp)
{
	int hard;

	hard = primary_sigs(j, tmp);
	j->res->hard_revoked = hard;
	for (uint32_t i = 1; i < j->ncomps; i++) {
		struct comp *c = &j->comps[i];

		if (c->canon != i)
			continue;
		if (c->kind == C_SUBKEY)
			subkey(j, c, tmp);
		else
			user_id(j, c, tmp, hard);
	}
	/* Designated revokers, named by what the key itself kept. */
	for (uint32_t i = 0; i < j->ncomps; i++) {
		struct comp *c = &j->comps[i];

		for (uint32_t k = 0; k < c->n; k++) {
			struct sig *s = comp_sig(j, c, k);

			if (s->p.state == ST_KEEP && s->iss == ISS_SELF &&
			    (s->type == SIG_DIRECT_KEY || is_cert(s->type)))
				add_revokers(j, s);
		}
	}
	others_on_primary(j, tmp, hard);
	if (hard) {
		/* HIP-5: no direct-key signature either. */
		struct comp *c = &j->comps[0];

		for (uint32_t k = 0; k < c->n; k++) {
			struct sig *s = comp_sig(j, c, k);

			if (s->type == SIG_DIRECT_KEY && s->p.state == ST_KEEP) {
				s->p.state = ST_DROP;
				s->p.reason = POLICY_R_HARD_REVOKED;
			}
		}
	}
	/* A bound subkey on the blocklist blocks the key (an unbound one
	 * is anybody's addition and must not). */
	for (uint32_t i = 1; i < j->ncomps; i++) {
		struct comp *c = &j->comps[i];
		unsigned char fpr[PGP_FPR_MAX];
		size_t fl;
		int ver;

		if (c->canon != i || c->kind != C_SUBKEY ||
		    c->p.state != ST_KEEP)
			continue;
		if (pgp_key_fingerprint(body(&c->p), c->p.blen, &ver, fpr,
					&fl) == 0 && blocked(j, fpr, fl)) {
			char hex[2 * PGP_FPR_MAX + 1];

			pgp_hex(fpr, fl, hex);
			blocked_only(j, tmp);
			snprintf(j->res->why, sizeof j->res->why,
				 "subkey %s is on the blocklist", hex);
			return;
		}
	}
	j->res->verdict = POLICY_KEPT;
}

/* --- 5. output ----------------------------------------------------------- */

static int
pos_cmp(const void *a, const void *b)
{
	const struct rank *p = a, *q = b;

	return p->a < q->a ? -1 : p->a > q->a;
}

/* output - the kept packets of the judged key, component by component
 * in key order, each component followed by its kept signatures in key
 * order; a delta's component packet only with something new under it.
 * Then count every packet of the key once. */
static void
output(struct judge *j)
{
	struct policy_result *res = j->res;
	struct rank *cs = xreallocarray(NULL, j->ncomps, sizeof *cs);
	size_t ncs = 0, substance = 0;

	for (uint32_t i = 0; i < j->ncomps; i++) {
		struct comp *c = &j->comps[i];
		size_t mine = 0;

		c->emit = 0;
		if (c->canon != i || !(c->p.from & FROM_KEY) ||
		    c->p.state != ST_KEEP)
			continue;
		for (uint32_t k = 0; k < c->n; k++) {
			struct sig *s = comp_sig(j, c, k);

			if (s->p.state == ST_KEEP && s->p.from == FROM_KEY)
				mine++;
		}
		if (i == 0 || mine > 0 || !(c->p.from & FROM_STORED))
			c->emit = 1;
		if (i != 0)
			substance += mine + !(c->p.from & FROM_STORED);
		else
			substance += mine;
		cs[ncs++] = (struct rank){ c->p.key_pos, 0, 0, i };
	}
	/* Nothing valid (a delta: nothing new) besides the primary key. */
	if (substance == 0 && res->verdict != POLICY_BLOCKED) {
		res->verdict = POLICY_EMPTY;
		snprintf(res->why, sizeof res->why, j->delta ?
			 "nothing new and valid beyond the stored key" :
			 "nothing valid left");
		j->comps[0].emit = 0;
	}
	if (substance == 0 && res->verdict == POLICY_BLOCKED)
		j->comps[0].emit = 0;
	qsort(cs, ncs, sizeof *cs, pos_cmp);
	for (size_t i = 0; i < ncs; i++) {
		struct comp *c = &j->comps[cs[i].idx];

		if (!c->emit)
			continue;
		buf_append(&res->kept, c->p.hdr, c->p.hlen + c->p.blen);
		for (uint32_t k = 0; k < c->n; k++) {
			struct sig *s = comp_sig(j, c, k);

			if (s->p.state == ST_KEEP && s->p.from == FROM_KEY)
				buf_append(&res->kept, s->p.hdr,
					   s->p.hlen + s->p.blen);
		}
	}
	free(cs);

	/* Count: every packet of the judged key exactly once. */
	for (uint32_t i = 0; i < j->ncomps; i++) {
		struct comp *c = &j->comps[i];

		if (!(c->p.from & FROM_KEY) || c->p.state == ST_MERGED)
			continue;
		if (c->emit)
			res->kept_packets++;
		else if (c->p.from & FROM_STORED)
			res->stored_packets++;
		else if (c->p.state == ST_DROP)
			res->dropped[c->p.reason]++;
		else if (res->verdict == POLICY_BLOCKED)
			/* The primary key of a blocked key with no
			 * revocation to carry. */
			res->dropped[POLICY_R_BLOCKED]++;
		else
			res->dropped[POLICY_R_UNBOUND]++;
	}
	for (uint32_t i = 0; i < j->nsigs; i++) {
		struct sig *s = &j->sigs[i];
		const struct comp *c = &j->comps[s->comp];

		if (s->p.from != FROM_KEY)
			continue;
		if (s->p.state == ST_STORED)
			res->stored_packets++;
		else if (s->p.state == ST_KEEP && c->emit)
			res->kept_packets++;
		else if (s->p.state == ST_DROP)
			res->dropped[s->p.reason]++;
		else
			/* Kept under a component that is not output: only
			 * a component with nothing valid left. */
			res->dropped[POLICY_R_UNBOUND]++;
	}
	res->kept_size = res->kept.len;
}

/* --- the call ------------------------------------------------------------ */

int
policy_judge(const struct policy *p, const unsigned char *key, size_t len,
	     const unsigned char *stored, size_t stored_len,
	     struct policy_result *res, struct pb_err *err)
{
	struct judge j;
	struct rank *tmp = NULL;
	int version, rc = -1;
	enum sigv_result kr;

	memset(res, 0, sizeof *res);
	buf_init(&res->kept);
	memset(&j, 0, sizeof j);
	j.pol = p;
	j.set = &p->set;
	j.res = res;
	j.now = p->set.now ? p->set.now : (int64_t)time(NULL);
	j.delta = stored != NULL;
	j.budget = POLICY_VERIFY_BUDGET_US;

	if (load(&j, key, len, FROM_KEY, err) != 0)
		goto out;
	if (pgp_key_fingerprint(j.pbody, j.plen, &version, res->fpr,
				&res->fpr_len) != 0)
		res->fpr_len = 0;
	if (version == 4)
		memcpy(j.keyid, res->fpr + 12, 8);
	else if (res->fpr_len >= 8)
		memcpy(j.keyid, res->fpr, 8);
	if (j.comps[0].secret) {
		/* Secret material never passes, and a secret primary key is
		 * not a public key to trim: the whole key goes. */
		res->verdict = POLICY_EMPTY;
		memset(res->dropped, 0, sizeof res->dropped);
		res->dropped[POLICY_R_SECRET] = j.key_npackets;
		snprintf(res->why, sizeof res->why, "secret key");
		rc = 0;
		goto out;
	}
	if (stored && load(&j, stored, stored_len, FROM_STORED, err) != 0)
		goto out;
	merge_comps(&j);
	group_sigs(&j);
	tmp = xreallocarray(NULL, j.nsigs + 1, sizeof *tmp);

	kr = sigv_key_init(&j.pk, j.pbody, j.plen, j.pk_why, sizeof j.pk_why);
	j.judged = kr != SIGV_UNKNOWN;
	keep(&j.comps[0].p);
	if (p->cache) {
		unsigned char h[5];

		sha256_init(&j.id_ctx);
		sha256_update(&j.id_ctx, 20, (const uint8_t *)"pksbridge sigid v1\n");
		h[0] = PGP_TAG_PUBLIC_KEY;
		be32_put(h + 1, (uint32_t)j.plen);
		sha256_update(&j.id_ctx, 5, h);
		sha256_update(&j.id_ctx, j.plen, j.pbody);
	}
	cheap_rules(&j);
	if (res->fpr_len && blocked(&j, res->fpr, res->fpr_len)) {
		blocked_only(&j, tmp);
		snprintf(res->why, sizeof res->why, "on the blocklist");
	} else if (!j.judged) {
		unjudged(&j, tmp);
	} else {
		judged(&j, tmp);
	}
	output(&j);
	if (res->kept_size > p->set.max_key_size &&
	    res->verdict != POLICY_EMPTY) {
		res->verdict = POLICY_TOO_LARGE;
		snprintf(res->why, sizeof res->why, "%zu bytes after trimming, "
			 "over max_key_size (%zu)", res->kept_size,
			 p->set.max_key_size);
		buf_free(&res->kept);
	}
	rc = 0;
out:
	sigv_key_clear(&j.pk);
	free(tmp);
	free(j.comps);
	free(j.sigs);
	free(j.order);
	return rc;
}

void
policy_result_free(struct policy_result *res)
{
	buf_free(&res->kept);
	memset(res, 0, sizeof *res);
}

void
policy_result_log(const struct policy_result *res, struct buf *out)
{
	buf_printf(out, "kept:%zu", res->kept_packets);
	if (res->stored_packets)
		buf_printf(out, ",stored:%zu", res->stored_packets);
	for (int r = 0; r < POLICY_NREASONS; r++)
		if (res->dropped[r])
			buf_printf(out, ",%s:%zu", reason_names[r],
				   res->dropped[r]);
}

void
policy_result_json(const struct policy_result *res, struct buf *out)
{
	int first = 1, dfirst = 1;

	buf_putc(out, '{');
	json_kv_str(out, "verdict", policy_verdict_name(res->verdict), &first);
	json_kv_int(out, "kept", (int64_t)res->kept_packets, &first);
	json_kv_int(out, "stored", (int64_t)res->stored_packets, &first);
	json_key(out, "dropped", &first);
	buf_putc(out, '{');
	for (int r = 0; r < POLICY_NREASONS; r++)
		if (res->dropped[r])
			json_kv_int(out, reason_names[r],
				    (int64_t)res->dropped[r], &dfirst);
	buf_putc(out, '}');
	json_key(out, "hard_revoked", &first);
	buf_puts(out, res->hard_revoked ? "true" : "false");
	json_key(out, "why", &first);
	json_str(out, res->why[0] ? res->why : NULL);
	buf_putc(out, '}');
}
