/*
 * test_policy.c - the key policy, rule by rule, on keys shaped as
 * attackers shaped them (tests/tools/pgpgen.py shapes) and on real sq
 * 1PA3PC output; what it keeps checked against gpg; deltas against a
 * stored key; the budget; Debian's keyring whole.  Every result is also
 * checked for the invariants: each packet of the key counted exactly
 * once, the output one key made of packets of the input.
 */
#include "lib/unit.h"
#include "openpgp/armor.h"
#include "openpgp/pgp.h"
#include "openpgp/policy.h"
#include "openpgp/sigverify.h"
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define T0 1700000000	/* pgpgen's DEFAULT_TIME */
#define DEBIAN_KEYRING "/usr/share/keyrings/debian-keyring.gpg"

/* --- helpers ----------------------------------------------------------- */

/* cpu_ms - this process's CPU time: what the policy costs, whatever else
 * the machine is doing. */
static double
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *
shapes(void)
{
	static char dir[700];
	static int made;
	char args[1024];

	snprintf(dir, sizeof dir, "%s/shapes", unit_tmpdir());
	if (!made) {
		snprintf(args, sizeof args, "shapes --out '%s'", dir);
		if (unit_pgpgen(args, NULL) != 0)
			return NULL;
		made = 1;
	}
	return dir;
}

/* shape - the binary key of one pgpgen shape into b. */
static int
shape(const char *name, struct buf *b)
{
	char path[1000];
	size_t len;
	char *d;

	buf_reset(b);
	if (!shapes())
		return -1;
	snprintf(path, sizeof path, "%s/%s.gpg", shapes(), name);
	d = unit_read_file(path, &len);
	if (!d)
		return -1;
	buf_append(b, d, len);
	free(d);
	return 0;
}

static int
first_block(void *ctx, const struct armor_block *blk)
{
	if (blk->ok)
		buf_append(ctx, blk->data, blk->len);
	return 1;
}

static int
fixture(const char *rel, struct buf *b)
{
	size_t len;
	char *text = unit_read_file(unit_data_path(rel), &len);

	buf_reset(b);
	if (!text)
		return -1;
	armor_scan(text, len, 1 << 20, first_block, b);
	free(text);
	return b->len ? 0 : -1;
}

static size_t
npackets(const unsigned char *d, size_t len)
{
	size_t off = 0, n = 0;
	struct pgp_packet p;

	while (pgp_packet_next(d, len, &off, &p, NULL, 0) == 1)
		n++;
	return n;
}

/* count - packets of tag (and, for signatures, of type sigtype, or any
 * with -1) in d. */
static size_t
count(const struct buf *b, unsigned tag, int sigtype)
{
	size_t off = 0, n = 0;
	struct pgp_packet p;

	while (pgp_packet_next(b->data, b->len, &off, &p, NULL, 0) == 1) {
		struct pgp_sig s;

		if (p.tag != tag)
			continue;
		if (tag == PGP_TAG_SIGNATURE && sigtype >= 0 &&
		    (pgp_sig_parse(p.body, p.blen, &s, NULL, 0) != 0 ||
		     s.type != sigtype))
			continue;
		n++;
	}
	return n;
}

/* has_packet - is the packet (header and body) one of d's? */
static int
has_packet(const unsigned char *d, size_t len, const struct pgp_packet *q)
{
	size_t off = 0;
	struct pgp_packet p;

	while (pgp_packet_next(d, len, &off, &p, NULL, 0) == 1)
		if (p.hlen + p.blen == q->hlen + q->blen &&
		    memcmp(p.hdr, q->hdr, p.hlen + p.blen) == 0)
			return 1;
	return 0;
}

/* invariants - every packet counted once; the output is one public key
 * made of the input's packets, byte for byte. */
static int
invariants(const unsigned char *key, size_t len, const struct policy_result *r,
	   char *why, size_t why_len)
{
	size_t total = r->kept_packets + r->stored_packets, off = 0;
	struct pgp_packet p;

	for (int i = 0; i < POLICY_NREASONS; i++)
		total += r->dropped[i];
	if (total != npackets(key, len)) {
		snprintf(why, why_len, "counted %zu packets of %zu", total,
			 npackets(key, len));
		return -1;
	}
	if (r->kept.len != r->kept_size && r->verdict != POLICY_TOO_LARGE) {
		snprintf(why, why_len, "kept_size");
		return -1;
	}
	if (npackets(r->kept.data, r->kept.len) != r->kept_packets &&
	    r->verdict != POLICY_TOO_LARGE) {
		snprintf(why, why_len, "kept_packets %zu, output holds %zu",
			 r->kept_packets, npackets(r->kept.data, r->kept.len));
		return -1;
	}
	if (r->kept.len) {
		struct pgp_keylist l;

		memset(&l, 0, sizeof l);
		pgp_split_keys(r->kept.data, r->kept.len, NULL, &l);
		if (l.nkeys != 1 || l.nproblems) {
			snprintf(why, why_len, "output is %zu keys, %zu problems",
				 l.nkeys, l.nproblems);
			pgp_keylist_free(&l);
			return -1;
		}
		pgp_keylist_free(&l);
	}
	while (pgp_packet_next(r->kept.data, r->kept.len, &off, &p, NULL, 0) == 1)
		if (!has_packet(key, len, &p)) {
			snprintf(why, why_len, "output packet not in the input");
			return -1;
		}
	return 0;
}

/* judge - policy_judge and the invariants; 0 or -1 (message printed). */
static int
judge(const struct policy *pol, const struct buf *key, const struct buf *stored,
      struct policy_result *r)
{
	struct pb_err err;
	char why[200];

	if (policy_judge(pol, key->data, key->len, stored ? stored->data : NULL,
			 stored ? stored->len : 0, r, &err) != 0) {
		printf("# policy_judge: %s\n", err.msg);
		return -1;
	}
	if (invariants(key->data, key->len, r, why, sizeof why) != 0) {
		printf("# invariant: %s\n", why);
		return -1;
	}
	return 0;
}

static void
pol_init(struct policy *pol)
{
	memset(pol, 0, sizeof *pol);
	policy_settings_init(&pol->set);
	pol->set.now = T0 + 86400;
}

static char *
logline(const struct policy_result *r)
{
	static char s[600];
	struct buf b = BUF_INIT;

	policy_result_log(r, &b);
	snprintf(s, sizeof s, "%s", buf_str(&b));
	buf_free(&b);
	return s;
}

/* gpg_view - what `gpg --show-keys --with-sig-check` makes of data (with
 * the keys of certifiers_rel imported first, if not NULL; only r's key
 * listed): user IDs,
 * subkeys, signatures it calls good and bad, and whether the key shows
 * as revoked. */
struct gview {
	int uids, subs, good, bad, revoked;
};

static int
gpg_view(const struct buf *data, const char *certifiers_rel,
	 const struct policy_result *r, struct gview *v)
{
	char fpr[2 * PGP_FPR_MAX + 1];

	char home[700], path[800], cmd[4000], line[4096];
	FILE *f;

	memset(v, 0, sizeof *v);
	snprintf(home, sizeof home, "%s/gnupg-%d", unit_tmpdir(), rand());
	if (mkdir(home, 0700) != 0)
		return -1;
	snprintf(path, sizeof path, "%s/key.gpg", home);
	f = fopen(path, "wb");
	if (!f || fwrite(data->data, 1, data->len, f) != data->len) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	pgp_hex(r->fpr, r->fpr_len, fpr);
	if (certifiers_rel) {
		snprintf(cmd, sizeof cmd, "GNUPGHOME='%s' gpg --batch -q "
			 "--import '%s' 2>/dev/null", home,
			 unit_data_path(certifiers_rel));
		if (system(cmd) != 0)
			return -1;
		snprintf(cmd, sizeof cmd, "GNUPGHOME='%s' gpg --batch -q "
			 "--import '%s' 2>/dev/null && GNUPGHOME='%s' gpg --batch "
			 "--no-tty --with-colons --check-sigs %s 2>/dev/null", home,
			 path, home, fpr);
	} else {
		snprintf(cmd, sizeof cmd, "GNUPGHOME='%s' gpg --batch --no-tty "
			 "--with-colons --with-sig-check --show-keys '%s' "
			 "2>/dev/null", home, path);
	}
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (getenv("GV"))
			printf("# %s", line);
		if (strncmp(line, "uid:", 4) == 0)
			v->uids++;
		else if (strncmp(line, "sub:", 4) == 0)
			v->subs++;
		else if (strncmp(line, "pub:r:", 6) == 0)
			v->revoked = 1;
		if (strncmp(line, "rev:!:", 6) == 0 && strstr(line, ":20x"))
			/* A key without a user ID shows as "pub:i:" with
			 * its good revocation. */
			v->revoked = 1;
		if (strncmp(line, "sig:!:", 6) == 0 ||
		    strncmp(line, "rev:!:", 6) == 0)
			v->good++;
		else if (strncmp(line, "sig:-:", 6) == 0 ||
			 strncmp(line, "rev:-:", 6) == 0)
			v->bad++;
	}
	return pclose(f) == 0 ? 0 : -1;
}

#define JUDGE(pol, key, stored, r) CHECK(judge((pol), (key), (stored), (r)) == 0)

/* --- third-party certifications ------------------------------------------ */

/* owner (the default): a no-modify flood loses every certification; an
 * open one keeps the newest max_certs_per_uid. */
static void
test_owner(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;
	size_t off = 0;
	struct pgp_packet p;

	pol_init(&pol);
	CHECK(shape("flood-nomodify", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(r.verdict, POLICY_KEPT);
	CHECK_STR(logline(&r), "kept:3,third_party:300");
	CHECK_INT(r.verified, 1);
	policy_result_free(&r);

	CHECK(shape("flood-open", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(r.verdict, POLICY_KEPT);
	CHECK_STR(logline(&r), "kept:103,cap:200");
	/* The newest 100: dated T0+201 .. T0+300. */
	while (pgp_packet_next(r.kept.data, r.kept.len, &off, &p, NULL, 0) == 1) {
		struct pgp_sig s;

		if (p.tag != PGP_TAG_SIGNATURE)
			continue;
		CHECK(pgp_sig_parse(p.body, p.blen, &s, NULL, 0) == 0);
		if (s.type == SIG_CERT_GENERIC)
			CHECK_MSG(s.created > T0 + 200, "kept a cert of %u",
				  s.created);
	}
	policy_result_free(&r);
	buf_free(&k);
}

static void
test_modes(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;

	pol_init(&pol);
	CHECK(shape("flood-open", &k) == 0);
	pol.set.third_party = POLICY_TP_NONE;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:3,third_party:300");
	policy_result_free(&r);
	pol.set.third_party = POLICY_TP_APPROVED;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:3,third_party:300");
	policy_result_free(&r);
	pol.set.third_party = POLICY_TP_ALL;
	pol.set.max_certs_per_uid = 250;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:253,cap:50");
	policy_result_free(&r);
	/* all overrides the owner's no-modify too. */
	CHECK(shape("flood-nomodify", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:253,cap:50");
	policy_result_free(&r);
	pol.set.max_certs_per_uid = 0;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:3,cap:300");
	policy_result_free(&r);
	buf_free(&k);
}

/* 1PA3PC made by pgpgen: the first 3 of 10 attested on a no-modify user
 * ID; approved and owner keep exactly those, ranked first under a cap. */
static void
test_approved_pgpgen(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;

	pol_init(&pol);
	CHECK(shape("attested", &k) == 0);
	pol.set.third_party = POLICY_TP_APPROVED;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:7,third_party:7");
	CHECK_INT(count(&r.kept, PGP_TAG_SIGNATURE, SIG_CERT_GENERIC), 3);
	CHECK_INT(count(&r.kept, PGP_TAG_SIGNATURE, SIG_ATTESTATION), 1);
	policy_result_free(&r);
	pol.set.third_party = POLICY_TP_OWNER;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:7,third_party:7");
	policy_result_free(&r);
	/* Attested ones first even when they are the oldest. */
	pol.set.third_party = POLICY_TP_ALL;
	pol.set.max_certs_per_uid = 2;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:6,cap:8");
	policy_result_free(&r);
	pol.set.max_certs_per_uid = 4;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:8,cap:6");
	CHECK_INT(count(&r.kept, PGP_TAG_SIGNATURE, SIG_CERT_GENERIC), 4);
	policy_result_free(&r);
	buf_free(&k);
}

/* Real sq 0.27 attestations: a superseded one, three certifiers
 * approved (one of them gpg's, issuer in the unhashed area), one not;
 * gpg, given the certifiers, calls every kept certification good. */
static void
test_approved_sq(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;
	struct gview v;

	pol_init(&pol);
	pol.set.now = 0;	/* sq's keys are dated now */
	pol.set.third_party = POLICY_TP_APPROVED;
	CHECK(fixture("policy/sq-attested.asc", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(r.verdict, POLICY_KEPT);
	CHECK_INT(r.dropped[POLICY_R_THIRD_PARTY], 1);
	CHECK_INT(r.dropped[POLICY_R_SUPERSEDED], 1);
	CHECK_INT(count(&r.kept, PGP_TAG_SIGNATURE, SIG_CERT_GENERIC), 3);
	CHECK_INT(count(&r.kept, PGP_TAG_SIGNATURE, SIG_ATTESTATION), 1);
	CHECK(gpg_view(&r.kept, "policy/sq-certifiers.asc", &r, &v) == 0);
	CHECK_INT(v.bad, 0);
	CHECK_INT(v.uids, 1);
	CHECK_INT(v.subs, 3);
	/* The self-signatures (direct-key, certification, 3 bindings) and
	 * the three approved certifications. */
	CHECK_MSG(v.good >= 8, "gpg calls %d good", v.good);
	policy_result_free(&r);
	/* sq sets no no-modify flag: owner keeps all four. */
	pol.set.third_party = POLICY_TP_OWNER;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(count(&r.kept, PGP_TAG_SIGNATURE, SIG_CERT_GENERIC), 4);
	policy_result_free(&r);

	CHECK(fixture("policy/sq-nomodify.asc", &k) == 0);
	for (int m = POLICY_TP_NONE; m <= POLICY_TP_ALL; m++) {
		static const size_t want[] = { 0, 4, 4, 10 };

		pol.set.third_party = (enum policy_third_party)m;
		JUDGE(&pol, &k, NULL, &r);
		CHECK_MSG(count(&r.kept, PGP_TAG_SIGNATURE, SIG_CERT_GENERIC) ==
			  want[m], "mode %s: %s", policy_third_party_name(
				  (enum policy_third_party)m), logline(&r));
		policy_result_free(&r);
	}
	buf_free(&k);
}

/* --- bindings --------------------------------------------------------------- */

/* A user ID whose self-signature does not verify goes, the valid one
 * stays; gpg sees one user ID and no bad signature. */
static void
test_forged_uid(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;
	struct gview v;

	pol_init(&pol);
	CHECK(shape("forged-uid", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:3,unbound:1,bad_sig:1");
	CHECK(memmem(r.kept.data, r.kept.len, "Someone Else", 12) == NULL);
	CHECK(gpg_view(&r.kept, NULL, &r, &v) == 0);
	CHECK_INT(v.uids, 1);
	CHECK_INT(v.good, 1);
	policy_result_free(&r);
	buf_free(&k);
}

/* Subkeys: an encryption subkey and a signing one with its
 * back-signature stay; a signing subkey without one, or with a broken
 * one, goes. */
static void
test_subkeys(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;
	struct gview v;

	pol_init(&pol);
	CHECK(shape("subkeys", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:7,unbound:2,bad_sig:2");
	CHECK_INT(count(&r.kept, PGP_TAG_PUBLIC_SUBKEY, -1), 2);
	CHECK(gpg_view(&r.kept, NULL, &r, &v) == 0);
	CHECK_INT(v.subs, 2);
	CHECK_INT(v.bad, 0);
	policy_result_free(&r);
	buf_free(&k);
}

/* Third-party signatures are not verified (the bridge does not hold the
 * certifiers): broken ones pass by count; a broken key revocation
 * claiming to be the owner's does not. */
static void
test_broken(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;

	pol_init(&pol);
	CHECK(shape("broken", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:6,bad_sig:1");
	CHECK_INT(r.hard_revoked, 0);
	policy_result_free(&r);
	buf_free(&k);
}

/* More than a day ahead: dropped; once that day has come, the newer
 * self-signature supersedes the older. */
static void
test_future(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;

	pol_init(&pol);
	pol.set.now = T0;
	CHECK(shape("future", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:3,future:2");
	policy_result_free(&r);
	pol.set.now = T0 + 86400 - 1;	/* 2 days ahead is 1 day + 1 s */
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:3,future:2");
	policy_result_free(&r);
	pol.set.now = T0 + 86400;	/* exactly a day ahead: not more */
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:4,superseded:1");
	policy_result_free(&r);
	buf_free(&k);
}

/* --- sizes ------------------------------------------------------------------ */

static void
test_sizes(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;

	pol_init(&pol);
	CHECK(shape("big-uid", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:3,uid_size:2");
	policy_result_free(&r);
	pol.set.max_uid_size = 2048;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:5");
	policy_result_free(&r);

	pol_init(&pol);
	CHECK(shape("photo", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:3,user_attribute:2");
	policy_result_free(&r);
	pol.set.keep_user_attributes = 1;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:5");
	policy_result_free(&r);

	/* Every signature over max_sig_size: nothing valid is left. */
	pol_init(&pol);
	pol.set.max_sig_size = 64;
	CHECK(shape("flood-open", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(r.verdict, POLICY_EMPTY);
	CHECK_STR(logline(&r), "kept:0,unbound:2,sig_size:301");
	CHECK_INT(r.kept.len, 0);
	policy_result_free(&r);
	buf_free(&k);
}

/* max_key_size applies after trimming: a flood to far over the cap is
 * trimmed and kept (it cannot freeze the key); only a key still too
 * large once trimmed is refused. */
static void
test_key_size(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;

	pol_init(&pol);
	CHECK(shape("flood-5000", &k) == 0);
	pol.set.max_key_size = 32 * 1024;
	CHECK(k.len > 10 * pol.set.max_key_size);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(r.verdict, POLICY_KEPT);
	CHECK_STR(logline(&r), "kept:103,cap:4900");
	policy_result_free(&r);
	pol.set.third_party = POLICY_TP_ALL;
	pol.set.max_certs_per_uid = 1000;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(r.verdict, POLICY_TOO_LARGE);
	CHECK_INT(r.kept.len, 0);
	CHECK(r.kept_size > 32 * 1024);
	CHECK(strstr(r.why, "max_key_size") != NULL);
	policy_result_free(&r);
	buf_free(&k);
}

/* --- revocations ---------------------------------------------------------- */

/* HIP-5: no reason, 0 and 2 are hard (the key keeps its primary key,
 * revocation and subkey; no user ID, no certification); 1, 3 and 32 are
 * soft and change nothing.  gpg shows the hard-revoked key revoked,
 * with no user ID. */
static void
test_revocations(void)
{
	static const struct {
		const char *name;
		int hard;
	} cases[] = {
		{ "revoked-none", 1 }, { "revoked-0", 1 }, { "revoked-2", 1 },
		{ "revoked-1", 0 }, { "revoked-3", 0 }, { "revoked-32", 0 },
	};
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;
	struct gview v;

	pol_init(&pol);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(shape(cases[i].name, &k) == 0);
		JUDGE(&pol, &k, NULL, &r);
		CHECK_INT(r.verdict, POLICY_KEPT);
		CHECK_MSG(r.hard_revoked == cases[i].hard, "%s", cases[i].name);
		CHECK_STR(logline(&r), cases[i].hard ? "kept:4,hard_revoked:3" :
			  "kept:7");
		if (cases[i].hard) {
			CHECK_INT(count(&r.kept, PGP_TAG_USER_ID, -1), 0);
			CHECK(gpg_view(&r.kept, NULL, &r, &v) == 0);
			CHECK_INT(v.revoked, 1);
			CHECK_INT(v.uids, 0);
			CHECK_INT(v.subs, 1);
		}
		policy_result_free(&r);
	}
	/* The gnupg: exception: self-signed user IDs stay, never the
	 * certifications; gpg then takes the key as new and revoked. */
	pol.set.keep_uids_when_revoked = 1;
	CHECK(shape("revoked-none", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:6,hard_revoked:1");
	CHECK(gpg_view(&r.kept, NULL, &r, &v) == 0);
	CHECK_INT(v.revoked, 1);
	CHECK_INT(v.uids, 1);
	policy_result_free(&r);
	buf_free(&k);
}

/* --- the blocklist --------------------------------------------------------- */

struct block_one {
	unsigned char fpr[PGP_FPR_MAX];
	size_t len;
	int asked;
};

static int
block_fn(void *ctx, const unsigned char *fpr, size_t len)
{
	struct block_one *b = ctx;

	b->asked++;
	return len == b->len && memcmp(fpr, b->fpr, len) == 0;
}

/* subkey_fpr - the fingerprint of the n-th subkey of b. */
static int
subkey_fpr(const struct buf *b, int n, struct block_one *bl)
{
	size_t off = 0;
	struct pgp_packet p;
	int ver;

	while (pgp_packet_next(b->data, b->len, &off, &p, NULL, 0) == 1)
		if (p.tag == PGP_TAG_PUBLIC_SUBKEY && n-- == 0)
			return pgp_key_fingerprint(p.body, p.blen, &ver, bl->fpr,
						   &bl->len);
	return -1;
}

static void
test_blocklist(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;
	struct block_one bl;

	pol_init(&pol);
	pol.blocked = block_fn;
	pol.blocked_ctx = &bl;
	/* A blocked key with a revocation: only that passes. */
	CHECK(shape("revoked-1", &k) == 0);
	memset(&bl, 0, sizeof bl);
	CHECK(pgp_key_fingerprint(k.data + 2, k.data[1], &(int){ 0 }, bl.fpr,
				  &bl.len) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(r.verdict, POLICY_BLOCKED);
	CHECK_STR(logline(&r), "kept:2,blocked:5");
	CHECK_INT(count(&r.kept, PGP_TAG_SIGNATURE, SIG_KEY_REVOCATION), 1);
	policy_result_free(&r);
	/* Without one: nothing. */
	CHECK(shape("flood-open", &k) == 0);
	CHECK(pgp_key_fingerprint(k.data + 2, k.data[1], &(int){ 0 }, bl.fpr,
				  &bl.len) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(r.verdict, POLICY_BLOCKED);
	CHECK_INT(r.kept.len, 0);
	CHECK_STR(logline(&r), "kept:0,blocked:303");
	policy_result_free(&r);
	/* A bound subkey blocks the key; an unbound one (anyone can append
	 * one) does not. */
	CHECK(shape("subkeys", &k) == 0);
	CHECK(subkey_fpr(&k, 1, &bl) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(r.verdict, POLICY_BLOCKED);
	CHECK(strstr(r.why, "subkey") != NULL);
	policy_result_free(&r);
	CHECK(subkey_fpr(&k, 2, &bl) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(r.verdict, POLICY_KEPT);
	policy_result_free(&r);
	buf_free(&k);
}

/* --- framing ---------------------------------------------------------------- */

/* Secret material never passes; repeated packets count once; a
 * signature where it does not belong goes; trust packets go. */
static void
test_framing(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT, sec = BUF_INIT, x = BUF_INIT, cb = BUF_INIT;
	size_t off = 0, n = 0;
	struct pgp_packet p, cert = { 0 };
	char path[800];
	char *d;
	size_t len;

	pol_init(&pol);
	/* A secret key: refused whole. */
	snprintf(path, sizeof path, "%s/secret.gpg", unit_tmpdir());
	CHECK(unit_pgpgen("secret --seed s --binary", path) == 0);
	d = unit_read_file(path, &len);
	CHECK(d != NULL);
	buf_append(&sec, d, len);
	free(d);
	JUDGE(&pol, &sec, NULL, &r);
	CHECK_INT(r.verdict, POLICY_EMPTY);
	CHECK_STR(logline(&r), "kept:0,secret:3");
	policy_result_free(&r);

	/* A secret subkey (tag 7) among the subkeys: it goes with its
	 * binding. */
	CHECK(shape("subkeys", &k) == 0);
	while (pgp_packet_next(k.data, k.len, &off, &p, NULL, 0) == 1) {
		if (p.tag == PGP_TAG_PUBLIC_SUBKEY && n++ == 0)
			k.data[p.hdr - k.data] = 0xC0 | PGP_TAG_SECRET_SUBKEY;
	}
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:5,secret:2,unbound:2,bad_sig:2");
	policy_result_free(&r);

	/* Duplicates: a certification twice, the user ID twice (its second
	 * copy's signatures join the first). */
	CHECK(shape("flood-open", &k) == 0);
	off = 0;
	n = 0;
	buf_reset(&x);
	while (pgp_packet_next(k.data, k.len, &off, &p, NULL, 0) == 1) {
		buf_append(&x, p.hdr, p.hlen + p.blen);
		if (p.tag == PGP_TAG_SIGNATURE && n++ == 5) {
			/* A copy: k is reloaded below. */
			buf_append(&cb, p.hdr, p.hlen + p.blen);
			buf_append(&x, p.hdr, p.hlen + p.blen);
		}
	}
	cert.hdr = cb.data;
	cert.hlen = 0;
	cert.blen = cb.len;
	JUDGE(&pol, &x, NULL, &r);
	CHECK_STR(logline(&r), "kept:103,cap:200,duplicate:1");
	policy_result_free(&r);
	/* The user ID again at the end, with one more copy of the cert and
	 * a trust packet. */
	off = 0;
	CHECK(pgp_packet_next(k.data, k.len, &off, &p, NULL, 0) == 1);
	CHECK(pgp_packet_next(k.data, k.len, &off, &p, NULL, 0) == 1);
	buf_append(&x, p.hdr, p.hlen + p.blen);
	buf_append(&x, cert.hdr, cert.hlen + cert.blen);
	buf_append(&x, "\xcc\x02\x00\x00", 4);
	JUDGE(&pol, &x, NULL, &r);
	CHECK_STR(logline(&r), "kept:103,cap:200,duplicate:3,packet_type:1");
	CHECK_INT(count(&r.kept, PGP_TAG_USER_ID, -1), 1);
	policy_result_free(&r);

	/* A certification after a subkey is misplaced. */
	CHECK(shape("subkeys", &k) == 0);
	buf_reset(&x);
	buf_append(&x, k.data, k.len);
	buf_append(&x, cert.hdr, cert.hlen + cert.blen);
	JUDGE(&pol, &x, NULL, &r);
	CHECK_INT(r.dropped[POLICY_R_MISPLACED], 1);
	policy_result_free(&r);

	/* Not one key: an error, not a verdict. */
	buf_reset(&x);
	buf_append(&x, k.data, k.len);
	buf_append(&x, k.data, k.len);
	{
		struct pb_err err;

		CHECK(policy_judge(&pol, x.data, x.len, NULL, 0, &r, &err) != 0);
		policy_result_free(&r);
		CHECK(policy_judge(&pol, cert.hdr, cert.hlen + cert.blen, NULL,
				   0, &r, &err) != 0);
		policy_result_free(&r);
		CHECK(policy_judge(&pol, k.data, k.len - 1, NULL, 0, &r,
				   &err) != 0);
		policy_result_free(&r);
	}
	buf_free(&k);
	buf_free(&x);
	buf_free(&sec);
	buf_free(&cb);
}

/* --- deltas ----------------------------------------------------------------- */

/* split_at - b's first n packets into head, the others into tail. */
static void
split_at(const struct buf *b, size_t n, struct buf *head, struct buf *tail)
{
	size_t off = 0, i = 0;
	struct pgp_packet p;

	buf_reset(head);
	buf_reset(tail);
	while (pgp_packet_next(b->data, b->len, &off, &p, NULL, 0) == 1)
		buf_append(i++ < n ? head : tail, p.hdr, p.hlen + p.blen);
}

/* A PKS delta: the primary key, the user ID and new certifications, as
 * onak and pksd send it.  Alone it binds nothing (needs_stored); against
 * the stored key it is judged as part of the merged key, and only its
 * own packets that the merged key keeps go out. */
static void
test_delta(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT, stored = BUF_INIT, certs = BUF_INIT,
		delta = BUF_INIT, head = BUF_INIT;
	struct pb_err err;

	pol_init(&pol);
	CHECK(shape("flood-nomodify", &k) == 0);
	split_at(&k, 3, &stored, &certs);	/* primary, uid, self-cert */
	split_at(&k, 2, &head, &delta);
	buf_reset(&delta);
	buf_append(&delta, head.data, head.len);
	buf_append(&delta, certs.data, certs.len);
	JUDGE(&pol, &delta, NULL, &r);
	CHECK_INT(r.verdict, POLICY_EMPTY);
	CHECK_INT(r.needs_stored, 1);
	policy_result_free(&r);
	/* The stored self-signature sets no-modify: nothing passes. */
	JUDGE(&pol, &delta, &stored, &r);
	CHECK_INT(r.verdict, POLICY_EMPTY);
	CHECK_INT(r.needs_stored, 0);
	CHECK_STR(logline(&r), "kept:0,stored:2,third_party:300");
	policy_result_free(&r);

	/* An open key: the delta's newest 100 go, with the primary key and
	 * the user ID they hang under. */
	CHECK(shape("flood-open", &k) == 0);
	split_at(&k, 3, &stored, &certs);
	split_at(&k, 2, &head, &delta);
	buf_reset(&delta);
	buf_append(&delta, head.data, head.len);
	buf_append(&delta, certs.data, certs.len);
	JUDGE(&pol, &delta, &stored, &r);
	CHECK_INT(r.verdict, POLICY_KEPT);
	CHECK_STR(logline(&r), "kept:102,cap:200");
	CHECK_INT(count(&r.kept, PGP_TAG_SIGNATURE, SIG_CERT_POSITIVE), 0);
	policy_result_free(&r);
	/* The stored key already holds the newest 100: they keep their
	 * places, the delta's older ones are over the cap. */
	{
		struct buf newest = BUF_INIT, older = BUF_INIT, st2 = BUF_INIT;

		split_at(&certs, 200, &older, &newest);
		buf_append(&st2, stored.data, stored.len);
		buf_append(&st2, newest.data, newest.len);
		buf_reset(&delta);
		buf_append(&delta, head.data, head.len);
		buf_append(&delta, older.data, older.len);
		JUDGE(&pol, &delta, &st2, &r);
		CHECK_INT(r.verdict, POLICY_EMPTY);
		CHECK_STR(logline(&r), "kept:0,stored:2,cap:200");
		policy_result_free(&r);
		/* A delta repeating what is stored: nothing new. */
		JUDGE(&pol, &k, &st2, &r);
		CHECK_INT(r.verdict, POLICY_EMPTY);
		CHECK_STR(logline(&r), "kept:0,stored:103,cap:200");
		policy_result_free(&r);
		buf_free(&newest);
		buf_free(&older);
		buf_free(&st2);
	}
	/* A delta adding a self-signed user ID: it goes, without the
	 * stored one. */
	{
		struct buf other = BUF_INIT, uidpart = BUF_INIT;

		CHECK(shape("forged-uid", &other) == 0);
		/* forged-uid: primary, uid, self-cert, forged uid, bad sig */
		split_at(&other, 3, &stored, &uidpart);
		split_at(&other, 1, &head, &uidpart);	/* uid, cert, ... */
		buf_reset(&delta);
		split_at(&other, 1, &head, &certs);
		buf_append(&delta, head.data, head.len);	/* primary */
		split_at(&other, 3, &certs, &uidpart);	/* forged uid, sig */
		buf_append(&delta, uidpart.data, uidpart.len);
		JUDGE(&pol, &delta, &stored, &r);
		CHECK_INT(r.verdict, POLICY_EMPTY);
		CHECK_STR(logline(&r), "kept:0,stored:1,unbound:1,bad_sig:1");
		policy_result_free(&r);
		/* The stored key without its user ID; the delta brings it. */
		split_at(&other, 1, &stored, &uidpart);
		split_at(&other, 3, &delta, &uidpart);
		JUDGE(&pol, &delta, &stored, &r);
		CHECK_INT(r.verdict, POLICY_KEPT);
		CHECK_STR(logline(&r), "kept:3");
		policy_result_free(&r);
		buf_free(&other);
		buf_free(&uidpart);
	}
	/* Another key is not the stored one. */
	CHECK(shape("photo", &stored) == 0);
	CHECK(policy_judge(&pol, delta.data, delta.len, stored.data,
			   stored.len, &r, &err) != 0);
	CHECK(strstr(err.msg, "not the same") != NULL);
	policy_result_free(&r);
	buf_free(&k);
	buf_free(&stored);
	buf_free(&certs);
	buf_free(&delta);
	buf_free(&head);
}

/* --- what cannot be judged -------------------------------------------------- */

/* A primary key of an algorithm this code does not verify: only the
 * limits that need no cryptography. */
static void
test_unjudged(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;
	size_t off = 0;
	struct pgp_packet p;

	pol_init(&pol);
	CHECK(shape("flood-open", &k) == 0);
	CHECK(pgp_packet_next(k.data, k.len, &off, &p, NULL, 0) == 1);
	k.data[p.hlen + 5] = 99;	/* the algorithm octet */
	pol.set.max_certs_per_uid = 10;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_INT(r.verdict, POLICY_UNJUDGED);
	CHECK(strstr(r.why, "not judged") != NULL);
	/* The fingerprint changed, so the self-signature is someone else's
	 * now: 301 signatures by others, the newest 10 stay. */
	CHECK_STR(logline(&r), "kept:12,cap:291");
	policy_result_free(&r);
	pol.set.third_party = POLICY_TP_NONE;
	JUDGE(&pol, &k, NULL, &r);
	CHECK_STR(logline(&r), "kept:2,third_party:301");
	policy_result_free(&r);
	buf_free(&k);
}

/* --- cost -------------------------------------------------------------------- */

/* A flood of forged self-signatures cannot cost more than the budget:
 * 5000 user IDs, each with a self-signature that does not verify. */
static void
test_budget(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT;
	double t0, c0;

	pol_init(&pol);
	CHECK(shape("forged-flood", &k) == 0);
	t0 = unit_ms();
	c0 = cpu_ms();
	JUDGE(&pol, &k, NULL, &r);
	printf("# policy: 5000 user IDs with forged self-signatures: %u "
	       "verified, %zu over budget, %.0f ms CPU (%.0f ms wall)\n",
	       r.verified, r.dropped[POLICY_R_OVER_BUDGET], cpu_ms() - c0,
	       unit_ms() - t0);
	CHECK_INT(r.verdict, POLICY_KEPT);
	CHECK(r.dropped[POLICY_R_OVER_BUDGET] > 0);
	CHECK(r.dropped[POLICY_R_BAD_SIG] > 0);
	CHECK(r.verified * 110 <= POLICY_VERIFY_BUDGET_US + 110);
	/* The valid user ID comes first and is kept. */
	CHECK_INT(count(&r.kept, PGP_TAG_USER_ID, -1), 1);
	policy_result_free(&r);
	buf_free(&k);
}

/* A signature cache: a second look at the same key verifies nothing. */
struct memo {
	unsigned char ids[64][POLICY_SIGID_LEN];
	size_t n;
};

static int
memo_known(void *ctx, const unsigned char id[POLICY_SIGID_LEN])
{
	struct memo *m = ctx;

	for (size_t i = 0; i < m->n; i++)
		if (memcmp(m->ids[i], id, POLICY_SIGID_LEN) == 0)
			return 1;
	return 0;
}

static void
memo_remember(void *ctx, const unsigned char id[POLICY_SIGID_LEN])
{
	struct memo *m = ctx;

	if (m->n < 64)
		memcpy(m->ids[m->n++], id, POLICY_SIGID_LEN);
}

static void
test_sigcache(void)
{
	struct policy pol;
	struct policy_result r, r2;
	struct buf k = BUF_INIT;
	struct memo m;
	struct policy_sigcache cache = { memo_known, memo_remember, &m };

	memset(&m, 0, sizeof m);
	pol_init(&pol);
	pol.cache = &cache;
	CHECK(shape("subkeys", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	CHECK(r.verified >= 5);
	CHECK_INT(r.cache_hits, 0);
	CHECK_INT(m.n, 3);	/* the good ones: certification, 2 bindings */
	JUDGE(&pol, &k, NULL, &r2);
	CHECK_INT(r2.cache_hits, 3);
	/* The bad ones are checked again: only good results are kept. */
	CHECK_INT(r2.verified, r.verified - 3 - 1);
	CHECK_INT(r2.kept.len, r.kept.len);
	CHECK(memcmp(r.kept.data, r2.kept.data, r.kept.len) == 0);
	policy_result_free(&r);
	policy_result_free(&r2);
	buf_free(&k);
}

/* --- output ---------------------------------------------------------------- */

static void
test_json(void)
{
	struct policy pol;
	struct policy_result r;
	struct buf k = BUF_INIT, j = BUF_INIT;

	pol_init(&pol);
	CHECK(shape("revoked-none", &k) == 0);
	JUDGE(&pol, &k, NULL, &r);
	policy_result_json(&r, &j);
	CHECK_STR(buf_str(&j), "{\"verdict\":\"kept\",\"kept\":4,\"stored\":0,"
		  "\"dropped\":{\"hard_revoked\":3},\"hard_revoked\":true,"
		  "\"why\":null}");
	policy_result_free(&r);
	for (int i = 0; i < POLICY_NREASONS; i++)
		CHECK(strcmp(policy_reason_name((enum policy_reason)i), "?") != 0);
	buf_free(&k);
	buf_free(&j);
}

/* --- the real world ------------------------------------------------------- */

/* Debian's keyring: every key kept, nothing dropped that a key of its
 * own made valid (no bad_sig, no unbound); what goes is third-party
 * certifications on no-modify keys, superseded self-signatures, photo
 * IDs, and the two signatures gpg also reports misplaced. */
static void
test_debian_keyring(void)
{
	struct policy pol;
	struct pgp_keylist l;
	unsigned char *d;
	size_t len, dropped[POLICY_NREASONS] = { 0 }, kept = 0;
	unsigned verified = 0;
	double t0, t;

	if (access(DEBIAN_KEYRING, R_OK) != 0) {
		printf("# skip: %s missing\n", DEBIAN_KEYRING);
		return;
	}
	d = (unsigned char *)unit_read_file(DEBIAN_KEYRING, &len);
	CHECK(d != NULL);
	memset(&l, 0, sizeof l);
	pgp_split_keys(d, len, &(struct pgp_limits){ 16 << 20, 100000 }, &l);
	pol_init(&pol);
	pol.set.now = 0;
	t0 = cpu_ms();
	for (size_t i = 0; i < l.nkeys; i++) {
		struct policy_result r;
		struct pb_err err;

		CHECK_OK(policy_judge(&pol, l.keys[i].data, l.keys[i].len, NULL,
				      0, &r, &err), &err);
		CHECK_MSG(r.verdict == POLICY_KEPT, "%s: %s", l.keys[i].fpr_hex,
			  policy_verdict_name(r.verdict));
		CHECK_MSG(r.dropped[POLICY_R_BAD_SIG] == 0 &&
			  r.dropped[POLICY_R_UNBOUND] == 0, "%s: %s",
			  l.keys[i].fpr_hex, logline(&r));
		for (int k = 0; k < POLICY_NREASONS; k++)
			dropped[k] += r.dropped[k];
		kept += r.kept_packets;
		verified += r.verified;
		policy_result_free(&r);
	}
	t = cpu_ms() - t0;
	printf("# policy: debian keyring: %zu keys in %.0f ms CPU (%.3f ms/key), "
	       "%u verifications, kept %zu packets, third_party %zu, "
	       "superseded %zu\n", l.nkeys, t, t / (double)l.nkeys, verified,
	       kept, dropped[POLICY_R_THIRD_PARTY], dropped[POLICY_R_SUPERSEDED]);
	CHECK(l.nkeys > 800);
	CHECK_INT(dropped[POLICY_R_MISPLACED], 2);
	pgp_keylist_free(&l);
	free(d);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "owner", test_owner },
		{ "modes", test_modes },
		{ "approved (pgpgen)", test_approved_pgpgen },
		{ "approved (sq)", test_approved_sq },
		{ "forged user ID", test_forged_uid },
		{ "subkeys", test_subkeys },
		{ "broken signatures", test_broken },
		{ "future", test_future },
		{ "sizes", test_sizes },
		{ "max_key_size", test_key_size },
		{ "revocations", test_revocations },
		{ "blocklist", test_blocklist },
		{ "framing", test_framing },
		{ "delta", test_delta },
		{ "unjudged", test_unjudged },
		{ "budget", test_budget },
		{ "sigcache", test_sigcache },
		{ "json and log", test_json },
		{ "debian keyring", test_debian_keyring },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "policy", tests);
}
