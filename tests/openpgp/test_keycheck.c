/*
 * test_keycheck.c - key validation with the real gpg: fixture and Debian
 * keys accepted, broken keys rejected with a reason and without taking
 * the good keys of their batch down, repeated fingerprints judged one by
 * one, a broken home reported as PB_ETEMP, no gpg-agent left behind, and
 * a checker running as nobody without HOME.
 */
#include "lib/unit.h"
#include "openpgp/armor.h"
#include "openpgp/keycheck.h"
#include "openpgp/pgp.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct pgp_limits limits = { 4u << 20, 100000 };

/* load_bin - the first max keys of a binary keyring. */
static int
load_bin(const char *path, size_t max, struct pgp_keylist *list)
{
	size_t len;
	char *data = unit_read_file(path, &len);
	struct pgp_limits lim = limits;

	if (!data)
		return -1;
	lim.max_keys = max;
	pgp_split_keys((unsigned char *)data, len, &lim, list);
	free(data);
	return list->nkeys > 0 ? 0 : -1;
}

/* packet_at - offset and body of the nth packet with this tag in a key;
 * the fixtures use short headers, so only those are handled. */
static int
packet_at(const unsigned char *d, size_t len, int tag, int nth,
	  size_t *body_r, size_t *blen_r)
{
	size_t off = 0;

	while (off + 2 <= len) {
		unsigned ctb = d[off];
		size_t hlen, plen;
		int t;

		if (ctb & 0x40) {
			t = ctb & 0x3f;
			if (d[off + 1] < 192) {
				hlen = 2;
				plen = d[off + 1];
			} else if (d[off + 1] < 224 && off + 3 <= len) {
				hlen = 3;
				plen = ((size_t)(d[off + 1] - 192) << 8) + d[off + 2] + 192;
			} else {
				return -1;
			}
		} else {
			t = (ctb >> 2) & 0xf;
			if ((ctb & 3) == 0) {
				hlen = 2;
				plen = d[off + 1];
			} else if ((ctb & 3) == 1 && off + 3 <= len) {
				hlen = 3;
				plen = (size_t)d[off + 1] << 8 | d[off + 2];
			} else {
				return -1;
			}
		}
		if (off + hlen + plen > len)
			return -1;
		if (t == tag && nth-- == 0) {
			*body_r = off + hlen;
			*blen_r = plen;
			return 0;
		}
		off += hlen + plen;
	}
	return -1;
}

/* mutant - a copy of src with data[0..len) replaced, re-parsed so that
 * its fingerprint is what our framing computes for the new bytes. */
static int
mutant(const unsigned char *data, size_t len, struct pgp_key *out)
{
	struct pb_err err;

	memset(out, 0, sizeof *out);
	return pgp_parse_key_blob(data, len, out, &err);
}

static char *
home_path(const char *name)
{
	char *p = malloc(strlen(unit_tmpdir()) + strlen(name) + 2);

	sprintf(p, "%s/%s", unit_tmpdir(), name);
	return p;
}

static void
test_fixtures_accepted(void)
{
	struct pgp_keylist list = { 0 };
	struct keycheck *kc = NULL;
	struct pb_err err;
	unsigned char acc[16];
	const char *why[16];
	const char *files[] = { "keys/alice.asc", "keys/bob.asc", "keys/carol.asc",
				"keys/carol-signed.asc", "keys/dave.asc",
				"keys/erin-revoked.asc" };
	char *home = home_path("kc-fixtures");
	struct stat st;

	for (size_t i = 0; i < sizeof files / sizeof *files; i++)
		CHECK_MSG(unit_load_keys(files[i], &list) == 0, "loading %s", files[i]);
	CHECK_INT(list.nkeys, 6);
	CHECK_OK(keycheck_open(home, &kc, &err), &err);
	CHECK(stat(home, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK_OK(keycheck_keys(kc, list.keys, list.nkeys, acc, why, &err), &err);
	for (size_t i = 0; i < list.nkeys; i++)
		CHECK_MSG(acc[i] == 1 && why[i] == NULL, "key %zu (%s): %s", i,
			  list.keys[i].fpr_hex, why[i] ? why[i] : "-");
	/* carol and carol-signed share a fingerprint: judged in two runs. */
	CHECK_STR(list.keys[2].fpr_hex, list.keys[3].fpr_hex);
	/* Revoked keys are a keyserver's daily bread. */
	CHECK_STR(list.keys[5].fpr_hex, "C7BCF106FC0A9E678D980041ECF15A4680969277");
	keycheck_close(kc);
	pgp_keylist_free(&list);
	free(home);
}

/* The broken keys: built from alice by changing bytes. */
struct broken {
	struct pgp_key badsig;		/* self-signature fails */
	struct pgp_key badmat;		/* garbage in the public key point */
	struct pgp_key badalgo;		/* unknown algorithm: listed invalid */
	struct pgp_key badoid;		/* curve OID length past the packet:
					 * gpg gives up on the whole input */
	struct pgp_key nouid;		/* primary key packet alone */
	struct pgp_key v3;		/* a PGP 2 key, built by hand: our
					 * framing already refuses v3, so this
					 * is keycheck's own line of defence */
};

static int
make_broken(const struct pgp_key *alice, struct broken *b)
{
	unsigned char *d = malloc(alice->len);
	size_t body, blen;
	int ret = -1;
	/* v3 RSA: version 3, created, validity 0, algo 1, n (512 bits), e. */
	unsigned char v3[3 + 1 + 4 + 2 + 1 + 2 + 64 + 2 + 1 + 2 + 6];
	size_t o = 0;

	memcpy(d, alice->data, alice->len);
	if (packet_at(d, alice->len, PGP_TAG_SIGNATURE, 0, &body, &blen) != 0)
		goto out;
	d[body + blen - 1] ^= 0x01;
	if (mutant(d, alice->len, &b->badsig) != 0)
		goto out;

	memcpy(d, alice->data, alice->len);
	if (packet_at(d, alice->len, PGP_TAG_PUBLIC_KEY, 0, &body, &blen) != 0)
		goto out;
	d[body + 5] = 99;	/* v4: version, 4 bytes time, algorithm */
	if (mutant(d, alice->len, &b->badalgo) != 0)
		goto out;
	d[body + 5] = alice->data[body + 5];
	d[body + blen - 8] ^= 0xff;	/* inside the EdDSA point */
	if (mutant(d, alice->len, &b->badmat) != 0)
		goto out;
	d[body + blen - 8] = alice->data[body + blen - 8];
	d[body + 6] = 99;	/* ed25519: OID length, then the OID */
	if (mutant(d, alice->len, &b->badoid) != 0)
		goto out;

	if (mutant(alice->data, body + blen, &b->nouid) != 0)
		goto out;

	v3[o++] = 0x99;		/* old format, tag 6, two length bytes */
	v3[o++] = 0;
	v3[o++] = 0;
	v3[o++] = 3;
	v3[o++] = 0x40; v3[o++] = 0; v3[o++] = 0; v3[o++] = 0;
	v3[o++] = 0; v3[o++] = 0;
	v3[o++] = 1;
	v3[o++] = 0x02; v3[o++] = 0x00;	/* 512 bits */
	for (int i = 0; i < 64; i++)
		v3[o++] = (unsigned char)(i == 0 ? 0xC5 : (i * 37 + 11) | (i == 63));
	v3[o++] = 0x00; v3[o++] = 0x05;	/* e = 17 */
	v3[o++] = 17;
	v3[2] = (unsigned char)(o - 3);
	v3[o++] = 0xB4;		/* old format user ID */
	v3[o++] = 4;
	memcpy(v3 + o, "pgp2", 4);
	o += 4;
	memset(&b->v3, 0, sizeof b->v3);
	b->v3.data = malloc(o);
	memcpy(b->v3.data, v3, o);
	b->v3.len = o;
	b->v3.version = 3;
	b->v3.fpr_len = 16;
	strcpy(b->v3.fpr_hex, "00112233445566778899AABBCCDDEEFF");
	ret = 0;
out:
	free(d);
	return ret;
}

static void
free_broken(struct broken *b)
{
	pgp_key_free_contents(&b->badsig);
	pgp_key_free_contents(&b->badmat);
	pgp_key_free_contents(&b->badalgo);
	pgp_key_free_contents(&b->badoid);
	pgp_key_free_contents(&b->nouid);
	free(b->v3.data);
}

static void
test_broken_keys_rejected(void)
{
	struct pgp_keylist list = { 0 };
	struct broken b = { 0 };
	struct keycheck *kc = NULL;
	struct pb_err err;
	struct pgp_key set[9];
	unsigned char acc[9];
	const char *why[9];
	char *home = home_path("kc-broken");

	CHECK(unit_load_keys("keys/alice.asc", &list) == 0);
	CHECK(unit_load_keys("keys/bob.asc", &list) == 0);
	CHECK(unit_load_keys("keys/dave.asc", &list) == 0);
	CHECK_MSG(make_broken(&list.keys[0], &b) == 0, "building broken keys");
	CHECK_INT(b.v3.version, 3);
	CHECK_OK(keycheck_open(home, &kc, &err), &err);

	/* Alone, each with its reason. */
	struct { struct pgp_key *k; const char *word; } one[] = {
		{ &b.badsig, "self-signature" },
		{ &b.badmat, "self-signature" },
		{ &b.badalgo, "self-signature" },
		{ &b.badoid, "cannot parse" },
		{ &b.nouid, "self-signature" },
		{ &b.v3, "v3" },
	};
	for (size_t i = 0; i < sizeof one / sizeof *one; i++) {
		acc[0] = 7;
		CHECK_OK(keycheck_keys(kc, one[i].k, 1, acc, why, &err), &err);
		CHECK_MSG(acc[0] == 0, "broken key %zu accepted", i);
		CHECK_MSG(why[0] && strstr(why[0], one[i].word), "key %zu: reason %s",
			  i, why[0] ? why[0] : "(null)");
	}

	/* In a batch: gpg gives up on the whole input at badoid, yet
	 * every good key around it gets through. */
	set[0] = list.keys[0];		/* alice */
	set[1] = b.badoid;
	set[2] = list.keys[1];		/* bob */
	set[3] = b.v3;
	set[4] = b.nouid;		/* same fingerprint as alice */
	set[5] = list.keys[2];		/* dave */
	set[6] = b.badsig;		/* alice's again */
	set[7] = b.badalgo;
	CHECK_OK(keycheck_keys(kc, set, 8, acc, why, &err), &err);
	CHECK_INT(acc[0], 1);
	CHECK_INT(acc[1], 0);
	CHECK(why[1] && strstr(why[1], "cannot parse"));
	CHECK_INT(acc[2], 1);
	CHECK_INT(acc[3], 0);
	CHECK(why[3] && strstr(why[3], "v3"));
	/* A good copy of alice in the same run must not vouch for these. */
	CHECK_INT(acc[4], 0);
	CHECK_INT(acc[5], 1);
	CHECK_INT(acc[6], 0);
	CHECK(why[6] && strstr(why[6], "self-signature"));
	CHECK_INT(acc[7], 0);
	for (size_t i = 0; i < 8; i++)
		CHECK(acc[i] ? why[i] == NULL : why[i] != NULL);

	/* reasons may be NULL. */
	CHECK_OK(keycheck_keys(kc, set, 2, acc, NULL, &err), &err);
	CHECK(acc[0] == 1 && acc[1] == 0);
	CHECK_OK(keycheck_keys(kc, set, 0, acc, why, &err), &err);

	keycheck_close(kc);
	free_broken(&b);
	pgp_keylist_free(&list);
	free(home);
}

/* A PKS delta: onak and pksd send a peer only what a merge added, here
 * carol's primary key and user ID with alice's new certification but
 * without carol's self-signature.  GnuPG cannot vouch for it on its own,
 * so keycheck rejects it, with a reason keycheck_unbound() recognises
 * (deliver.c then hands it to a key database that merges packets); the
 * reasons of keys GnuPG cannot parse, and v3 keys, are not "unbound". */
static void
test_pks_delta(void)
{
	struct pgp_keylist list = { 0 };
	struct broken b = { 0 };
	struct keycheck *kc = NULL;
	struct pgp_key delta = { 0 }, set[3];
	struct pb_err err;
	unsigned char acc[3], *d = NULL;
	const char *why[3];
	char *home = home_path("kc-delta");
	size_t uid_body, uid_len, self_body, self_len, end, len = 0;

	CHECK(unit_load_keys("keys/carol-signed.asc", &list) == 0);
	CHECK(unit_load_keys("keys/alice.asc", &list) == 0);
	CHECK_INT(list.nkeys, 2);
	CHECK_MSG(make_broken(&list.keys[1], &b) == 0, "building broken keys");
	const struct pgp_key *cs = &list.keys[0];
	CHECK(packet_at(cs->data, cs->len, PGP_TAG_USER_ID, 0, &uid_body, &uid_len) == 0);
	/* The first signature is carol's self-signature, the second
	 * alice's certification (gpg --list-packets). */
	CHECK(packet_at(cs->data, cs->len, PGP_TAG_SIGNATURE, 0, &self_body,
			&self_len) == 0);
	end = uid_body + uid_len;
	d = malloc(cs->len);
	memcpy(d, cs->data, end);
	len = end;
	memcpy(d + len, cs->data + self_body + self_len,
	       cs->len - (self_body + self_len));
	len += cs->len - (self_body + self_len);
	CHECK(len < cs->len);
	CHECK(mutant(d, len, &delta) == 0);
	CHECK_STR(delta.fpr_hex, cs->fpr_hex);
	CHECK_INT(delta.npackets, 3);

	CHECK_OK(keycheck_open(home, &kc, &err), &err);
	set[0] = delta;
	set[1] = b.badoid;
	set[2] = b.v3;
	CHECK_OK(keycheck_keys(kc, set, 3, acc, why, &err), &err);
	CHECK_INT(acc[0], 0);
	CHECK_MSG(keycheck_unbound(why[0]), "delta: %s", why[0] ? why[0] : "(null)");
	CHECK_INT(acc[1], 0);
	CHECK_MSG(!keycheck_unbound(why[1]), "badoid: %s", why[1] ? why[1] : "(null)");
	CHECK_INT(acc[2], 0);
	CHECK_MSG(!keycheck_unbound(why[2]), "v3: %s", why[2] ? why[2] : "(null)");
	CHECK(!keycheck_unbound(NULL));

	keycheck_close(kc);
	pgp_key_free_contents(&delta);
	free(d);
	free_broken(&b);
	pgp_keylist_free(&list);
	free(home);
}

/* v6 keys (RFC 9580) are framed by us but beyond GnuPG 2.2: rejected
 * with a reason that says so, without sinking an older key beside them. */
static void
test_v6_key(void)
{
	struct pgp_keylist list = { 0 };
	struct keycheck *kc = NULL;
	struct pb_err err;
	unsigned char acc[2];
	const char *why[2];
	char *home = home_path("kc-v6");

	CHECK(unit_load_keys("pgp/rfc9580-v6.asc", &list) == 0);
	CHECK(unit_load_keys("keys/bob.asc", &list) == 0);
	CHECK_INT(list.nkeys, 2);
	CHECK_INT(list.keys[0].version, 6);
	CHECK_OK(keycheck_open(home, &kc, &err), &err);
	CHECK_OK(keycheck_keys(kc, list.keys, 2, acc, why, &err), &err);
	CHECK_INT(acc[1], 1);
	if (acc[0] == 0)
		CHECK_MSG(why[0] && strstr(why[0], "version"), "%s", why[0]);
	else
		printf("# keycheck: this GnuPG accepts v6 keys\n");
	keycheck_close(kc);
	pgp_keylist_free(&list);
	free(home);
}

static void
test_debian_batch(void)
{
	struct pgp_keylist list = { 0 };
	struct keycheck *kc = NULL;
	struct pb_err err;
	unsigned char *acc;
	const char **why;
	char *home = home_path("kc-debian");
	struct timespec t0, t1;
	size_t nacc = 0;

	CHECK_MSG(load_bin("/usr/share/keyrings/debian-keyring.gpg", 50, &list) == 0,
		  "debian-keyring not readable (package debian-keyring)");
	CHECK_INT(list.nkeys, 50);
	acc = calloc(list.nkeys, 1);
	why = calloc(list.nkeys, sizeof *why);
	CHECK_OK(keycheck_open(home, &kc, &err), &err);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_OK(keycheck_keys(kc, list.keys, list.nkeys, acc, why, &err), &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (size_t i = 0; i < list.nkeys; i++) {
		CHECK_MSG(acc[i], "Debian key %s: %s", list.keys[i].fpr_hex, why[i]);
		nacc++;
	}
	printf("# keycheck: %zu Debian keys in one call: %.0f ms\n", nacc,
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	/* The home is left as keycheck_open made it: nothing imported. */
	char *kbx = malloc(strlen(home) + 20);
	struct stat st;

	sprintf(kbx, "%s/pubring.kbx", home);
	CHECK(stat(kbx, &st) == 0 && st.st_size == 0);
	free(kbx);
	keycheck_close(kc);
	free(acc);
	free(why);
	pgp_keylist_free(&list);
	free(home);
}

static void
test_unusable_home(void)
{
	struct keycheck *kc = (struct keycheck *)1;
	struct pb_err err;
	char *file = home_path("kc-a-file");
	char *below = home_path("kc-a-file/home");
	FILE *f = fopen(file, "w");

	CHECK(f != NULL);
	fclose(f);
	CHECK(keycheck_open(file, &kc, &err) == -1);
	CHECK_INT(err.status, PB_ETEMP);
	CHECK(kc == NULL);
	CHECK(strstr(err.msg, "not a directory") != NULL);
	CHECK(keycheck_open(below, &kc, &err) == -1);
	CHECK_INT(err.status, PB_ETEMP);
	CHECK(strstr(err.msg, below) != NULL);
	CHECK(keycheck_open("/nonexistent-pb/home", &kc, &err) == -1);
	CHECK_INT(err.status, PB_ETEMP);
	free(file);
	free(below);
}

static void
test_no_agent_left(void)
{
	struct pgp_keylist list = { 0 };
	struct keycheck *kc = NULL;
	struct pb_err err;
	unsigned char acc[4];
	char *home = home_path("kc-agent");

	CHECK(unit_load_keys("keys/alice.asc", &list) == 0);
	CHECK(unit_load_keys("keys/bob.asc", &list) == 0);
	CHECK_OK(keycheck_open(home, &kc, &err), &err);
	for (int i = 0; i < 3; i++)
		CHECK_OK(keycheck_keys(kc, list.keys, list.nkeys, acc, NULL, &err),
			 &err);
	keycheck_close(kc);
	/* gpg-agent, dirmngr and keyboxd would show our home in argv. */
	CHECK_INT(unit_count_procs("gpg-agent", home), 0);
	CHECK_INT(unit_count_procs("dirmngr", home), 0);
	CHECK_INT(unit_count_procs(NULL, home), 0);
	pgp_keylist_free(&list);
	free(home);
}

/* as_nobody - run the check in a child that is nobody (when we are root)
 * with an empty environment; returns the child's exit code: 0 when alice
 * was accepted, 10+status of a failed open, 30+status of a failed check,
 * 50 when the key was rejected. */
static int
as_nobody(const char *home, const struct pgp_keylist *list)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct keycheck *kc;
		struct pb_err err;
		unsigned char acc[4];

		if (geteuid() == 0) {
			struct passwd *pw = getpwnam("nobody");

			if (!pw || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
			    setuid(pw->pw_uid) != 0)
				_exit(90);
		}
		clearenv();
		setenv("PATH", "/usr/bin:/bin", 1);
		if (keycheck_open(home, &kc, &err) != 0) {
			fprintf(stderr, "# nobody: %s\n", err.msg);
			_exit(10 + (int)err.status);
		}
		if (keycheck_keys(kc, list->keys, list->nkeys, acc, NULL, &err) != 0) {
			fprintf(stderr, "# nobody: %s\n", err.msg);
			_exit(30 + (int)err.status);
		}
		keycheck_close(kc);
		_exit(acc[0] ? 0 : 50);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void
test_unprivileged_without_home(void)
{
	struct pgp_keylist list = { 0 };
	char base[] = "/tmp/pbkc-nobody.XXXXXX";
	char home[64], shared[64];
	struct passwd *pw = getpwnam("nobody");
	struct keycheck *kc = NULL;
	struct pb_err err;
	int rc;

	CHECK(unit_load_keys("keys/alice.asc", &list) == 0);
	/* The unit tmpdir is 0700: nobody needs a directory it can reach. */
	CHECK(mkdtemp(base) != NULL);
	CHECK(chmod(base, 0755) == 0);
	snprintf(home, sizeof home, "%s/own", base);
	snprintf(shared, sizeof shared, "%s/shared", base);
	if (geteuid() == 0) {
		CHECK(pw != NULL);
		CHECK(chown(base, pw->pw_uid, pw->pw_gid) == 0);
	}
	/* A home nobody creates itself. */
	rc = as_nobody(home, &list);
	CHECK_INT(rc, 0);
	CHECK_INT(unit_count_procs(NULL, home), 0);

	/* A home prepared by someone else and only readable to nobody:
	 * checking must not need to write it. */
	if (geteuid() == 0) {
		CHECK(chown(base, 0, 0) == 0);
		CHECK_OK(keycheck_open(shared, &kc, &err), &err);
		keycheck_close(kc);
		CHECK(chmod(shared, 0755) == 0);
		char conf[96];

		snprintf(conf, sizeof conf, "%s/gpg.conf", shared);
		CHECK(chmod(conf, 0644) == 0);
		snprintf(conf, sizeof conf, "%s/pubring.kbx", shared);
		CHECK(chmod(conf, 0644) == 0);
		snprintf(conf, sizeof conf, "%s/trustdb.gpg", shared);
		CHECK(chmod(conf, 0644) == 0);
		rc = as_nobody(shared, &list);
		CHECK_INT(rc, 0);
	}
	pid_t rm = fork();
	if (rm == 0) {
		execl("/bin/rm", "rm", "-rf", base, (char *)NULL);
		_exit(127);
	}
	waitpid(rm, NULL, 0);
	pgp_keylist_free(&list);
}

/* A home below a group-writable (setgid) spool is group-shared, files
 * included, whatever the umask; below a private one it stays private. */
static void
test_shared_home(void)
{
	struct keycheck *kc = NULL;
	struct pb_err err;
	char *spool = home_path("kc-spool");
	char *home = home_path("kc-spool/keycheck");
	char *priv = home_path("kc-private");
	char path[600];
	struct stat st;
	mode_t old = umask(022);
	int fm = -1;

	CHECK(mkdir(spool, 0700) == 0 && chmod(spool, 02770) == 0);
	CHECK_OK(keycheck_open(home, &kc, &err), &err);
	keycheck_close(kc);
	umask(old);
	CHECK(stat(home, &st) == 0);
	CHECK_INT(st.st_mode & 07777, 02770);
	snprintf(path, sizeof path, "%s/gpg.conf", home);
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0660);
	snprintf(path, sizeof path, "%s/pubring.kbx", home);
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0660);
	snprintf(path, sizeof path, "%s/trustdb.gpg", home);
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0660);

	CHECK_OK(keycheck_mkhome(priv, &fm, &err), &err);
	CHECK_INT(fm, 0600);
	CHECK(stat(priv, &st) == 0);
	CHECK_INT(st.st_mode & 07777, 0700);
	free(spool);
	free(home);
	free(priv);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "fixture keys accepted", test_fixtures_accepted },
		{ "broken keys rejected, good ones kept", test_broken_keys_rejected },
		{ "a PKS delta's reason is unbound", test_pks_delta },
		{ "v6 key beyond GnuPG 2.2", test_v6_key },
		{ "50 Debian keys in one call", test_debian_batch },
		{ "unusable home is PB_ETEMP", test_unusable_home },
		{ "no gpg-agent left running", test_no_agent_left },
		{ "as nobody without HOME", test_unprivileged_without_home },
		{ "group-shared home below a shared spool", test_shared_home },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "keycheck", tests);
}
