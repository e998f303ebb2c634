/*
 * keycheck.c - does GnuPG accept these keys?  (see keycheck.h)
 *
 * We ask gpg through GPGME's gpgme_op_keylist_from_data_start, which runs
 * "gpg --import-options import-show --dry-run --import" on the keys and
 * lists what gpg would import, without storing anything.  Measured with
 * bench/keycheck_bench.c on Debian's keyring (905 keys, 31 KiB each on
 * average; GnuPG 2.2.40, GPGME 1.18, 2 shared cores): 8-10 ms per one-key
 * call, 3.3 ms per key in 50-key batches, against 15-16 and 8.3 ms for
 * importing into a scratch keyring and listing it back.  So: one
 * from-data call per batch, and one GPGME context per checker (a new one
 * costs another 3 ms: it runs "gpg --version").
 *
 * What gpg does with bad keys decides the rest:
 *  - A key without a valid self-signature, or without any user ID that
 *    has one, is listed but flagged invalid or without user IDs; a real
 *    import would skip it ("no user ID").  We reject it.  Revoked and
 *    expired keys are listed as such and accepted: a keyserver carries
 *    them.
 *  - A packet gpg cannot parse (unknown algorithm, ...) makes gpg abandon
 *    the whole input, keys before it included, and list nothing.  v3
 *    (PGP 2) keys are skipped silently.  So a key that was not listed is
 *    only known to be bad when it was checked alone: unlisted keys of a
 *    batch are checked again, by halves when nothing at all was listed.
 *  - When gpg itself fails (home unusable, killed), GPGME still reports a
 *    clean end of listing.  Only gpg's IMPORT_RES status line, which it
 *    prints after reading its input, tells the two apart; without it the
 *    whole check fails with PB_ETEMP instead of rejecting good keys.
 *
 * The scratch home gets a gpg.conf with no-autostart (gpg may otherwise
 * start a gpg-agent that outlives us) and no-auto-check-trustdb, an empty
 * pubring.kbx and a trustdb, all at keycheck_open; after that gpg only
 * reads it, so checkers running as other users can share it read-only.
 */
#include "openpgp/keycheck.h"

#include <errno.h>
#include <fcntl.h>
#include <gpgme.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Reasons handed to callers (static, short). */
#define R_INVALID	"no valid self-signature (GnuPG)"
#define R_NOUID		"no user ID with a valid self-signature (GnuPG)"
#define R_V3		"v3 (PGP 2) key, which GnuPG refuses"
#define R_NEWVER	"key version this GnuPG cannot parse"
#define R_UNPARSED	"GnuPG cannot parse the key"
#define R_FPR		"GnuPG computed a different fingerprint"
#define R_FAILED	"GnuPG failed on the key"

#define GPG_CONF \
	"# Written by pksbridge (keycheck): a scratch home for checking keys.\n" \
	"# Never start gpg-agent/dirmngr on our behalf; keep the trustdb as is.\n" \
	"no-autostart\n" \
	"no-auto-check-trustdb\n"

struct keycheck {
	gpgme_ctx_t ctx;
	char *home;
	/* What gpg's status lines said during the current call. */
	int saw_import_res;
	unsigned long res_count;	/* keys gpg read */
	unsigned long res_skipped_v3;
	char gpg_error[160];		/* first ERROR/FAILURE line */
};

/* What one gpg run said about one key of the batch. */
enum verdict {
	V_UNLISTED = 0,
	V_ACCEPT,
	V_REJECT,
};

struct run {
	const size_t *idx;	/* indexes into the caller's keys */
	size_t n;
	enum verdict *v;	/* n verdicts */
	const char **why;	/* n reasons for V_REJECT */
	size_t nlisted;		/* keys gpg listed at all */
	int list_error;		/* GPGME failed mid-listing */
	const char *other_fpr;	/* a listed fingerprint none of ours had */
};

static gpgme_error_t
status_cb(void *hook, const char *keyword, const char *args)
{
	struct keycheck *kc = hook;

	if (strcmp(keyword, "IMPORT_RES") == 0) {
		/* "count no_user_id imported ... skipped_v3_keys": fields 1
		 * and 15 (GnuPG's doc/DETAILS). */
		unsigned long f[15] = { 0 };
		const char *p = args;
		char *end;

		for (int i = 0; i < 15 && *p; i++) {
			f[i] = strtoul(p, &end, 10);
			if (end == p)
				break;
			p = end;
		}
		kc->saw_import_res = 1;
		kc->res_count = f[0];
		kc->res_skipped_v3 = f[14];
	} else if ((strcmp(keyword, "ERROR") == 0 ||
		    strcmp(keyword, "FAILURE") == 0) && kc->gpg_error[0] == '\0') {
		snprintf(kc->gpg_error, sizeof kc->gpg_error, "%s %s", keyword,
			 args);
	}
	return 0;
}

int
keycheck_mkhome(const char *home, int *file_mode_r, struct pb_err *err)
{
	char *parent = xstrdup(home);
	char *slash = strrchr(parent, '/');
	mode_t mode = 0700;
	struct stat st;

	if (slash)
		*(slash == parent ? slash + 1 : slash) = '\0';
	if (stat(slash ? parent : ".", &st) == 0 && (st.st_mode & S_IWGRP))
		mode = 0770 | (st.st_mode & S_ISGID);
	free(parent);
	*file_mode_r = (mode & S_IWGRP) ? 0660 : 0600;
	/* The mode comes from mkdir under a umask that keeps the group
	 * bits, and the setgid bit from the parent (Linux gives a new
	 * directory its setgid parent's bit): never chmod with S_ISGID,
	 * which the shipped unit's RestrictSUIDSGID=yes refuses (EPERM;
	 * found running the runner under systemd). */
	mode_t old_umask = umask((mode & S_IWGRP) ? 007 : 077);
	int made = mkdir(home, mode & 0777) == 0;
	int mk_errno = errno;

	umask(old_umask);
	if (!made && mk_errno != EEXIST)
		return pb_err_set(err, PB_ETEMP, "creating GnuPG home %s: %s",
				  home, strerror(mk_errno));
	if (stat(home, &st) != 0)
		return pb_err_set(err, PB_ETEMP, "GnuPG home %s: %s", home,
				  strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return pb_err_set(err, PB_ETEMP, "GnuPG home %s is not a directory",
				  home);
	return 0;
}

/* create_file - open path O_CREAT|O_EXCL with exactly mode (the umask
 * must not narrow a group-shared home's 0660); -1 with errno as open's. */
static int
create_file(const char *path, int mode, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, mode);

	if (fd >= 0 && fchmod(fd, (mode_t)mode) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* write_conf - make home/gpg.conf hold exactly GPG_CONF, replacing it
 * atomically if it differs (an old pksbridge, an operator's edit). */
static int
write_conf(const char *home, int file_mode, struct pb_err *err)
{
	char *path = xasprintf("%s/gpg.conf", home);
	char *tmp = xasprintf("%s/.gpg.conf.%ld", home, (long)getpid());
	char old[512];
	size_t want = strlen(GPG_CONF);
	ssize_t got = -1;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		got = read(fd, old, sizeof old);
		close(fd);
	}
	if (got == (ssize_t)want && memcmp(old, GPG_CONF, want) == 0) {
		ret = 0;
		goto out;
	}
	fd = create_file(tmp, file_mode, O_TRUNC);
	if (fd < 0) {
		pb_err_set(err, PB_ETEMP, "creating %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write(fd, GPG_CONF, want) != (ssize_t)want || close(fd) != 0) {
		pb_err_set(err, PB_ETEMP, "writing %s: %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		pb_err_set(err, PB_ETEMP, "renaming %s: %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	free(path);
	free(tmp);
	return ret;
}

/* prepare_home - directory, gpg.conf and an empty keybox.  An empty
 * pubring.kbx keeps --dry-run from writing: "no-keyring" would avoid it
 * too, but then gpg reports ERROR keydb_search for every certification
 * it cannot check, and GPGME turns that into a failed listing. */
static int
prepare_home(const char *home, int *file_mode_r, struct pb_err *err)
{
	char *kbx;
	int fd, file_mode;

	if (keycheck_mkhome(home, &file_mode, err) != 0)
		return -1;
	if (write_conf(home, file_mode, err) != 0)
		return -1;
	kbx = xasprintf("%s/pubring.kbx", home);
	fd = create_file(kbx, file_mode, O_EXCL);
	if (fd < 0 && errno != EEXIST) {
		pb_err_set(err, PB_ETEMP, "creating %s: %s", kbx, strerror(errno));
		free(kbx);
		return -1;
	}
	if (fd >= 0)
		close(fd);
	free(kbx);
	*file_mode_r = file_mode;
	return 0;
}

static ssize_t
reader_read(void *handle, void *buffer, size_t size)
{
	struct keycheck_reader *rd = handle;
	size_t done = 0;

	while (done < size && rd->i < rd->n) {
		const struct pgp_key *k = &rd->keys[rd->idx ? rd->idx[rd->i] : rd->i];
		size_t left = k->len - rd->off;
		size_t take = left < size - done ? left : size - done;

		memcpy((char *)buffer + done, k->data + rd->off, take);
		done += take;
		rd->off += take;
		if (rd->off == k->len) {
			rd->i++;
			rd->off = 0;
		}
	}
	return (ssize_t)done;
}

static off_t
reader_seek(void *handle, off_t offset, int whence)
{
	struct keycheck_reader *rd = handle;

	/* Only rewinding is ever asked for. */
	if (offset != 0 || whence != SEEK_SET) {
		errno = EINVAL;
		return -1;
	}
	rd->i = 0;
	rd->off = 0;
	return 0;
}

gpgme_error_t
keycheck_data_new(gpgme_data_t *dh, struct keycheck_reader *rd,
		  const struct pgp_key *keys, const size_t *idx, size_t n)
{
	static struct gpgme_data_cbs cbs = {
		reader_read, NULL, reader_seek, NULL,
	};

	rd->keys = keys;
	rd->idx = idx;
	rd->n = n;
	rd->i = 0;
	rd->off = 0;
	return gpgme_data_new_from_cbs(dh, &cbs, rd);
}

/* gpg_run - one from-data listing of the keys in r->idx; fills r.
 * Returns -1 only when gpg could not be run or did not get to read its
 * input. */
static int
gpg_run(struct keycheck *kc, const struct pgp_key *keys, struct run *r,
	struct pb_err *err)
{
	struct keycheck_reader rd;
	gpgme_data_t dh = NULL;
	gpgme_key_t key;
	gpgme_error_t ge;
	int ret = -1;

	for (size_t i = 0; i < r->n; i++) {
		r->v[i] = V_UNLISTED;
		r->why[i] = NULL;
	}
	r->nlisted = 0;
	r->list_error = 0;
	r->other_fpr = NULL;
	kc->saw_import_res = 0;
	kc->res_count = kc->res_skipped_v3 = 0;
	kc->gpg_error[0] = '\0';

	ge = keycheck_data_new(&dh, &rd, keys, r->idx, r->n);
	if (ge) {
		pb_err_set(err, PB_EOS, "gpgme_data_new_from_cbs: %s",
			   gpgme_strerror(ge));
		goto out;
	}
	ge = gpgme_op_keylist_from_data_start(kc->ctx, dh, 0);
	if (ge) {
		pb_err_set(err, gpg_err_code(ge) == GPG_ERR_NOT_SUPPORTED ?
			   PB_EUNAVAIL : PB_ETEMP,
			   "running gpg to check keys: %s", gpgme_strerror(ge));
		goto out;
	}
	while (!(ge = gpgme_op_keylist_next(kc->ctx, &key))) {
		const char *fpr = key->subkeys ? key->subkeys->fpr : NULL;
		size_t j;

		r->nlisted++;
		for (j = 0; fpr && j < r->n; j++)
			if (strcasecmp(keys[r->idx[j]].fpr_hex, fpr) == 0)
				break;
		if (fpr && j < r->n) {
			if (key->invalid) {
				r->v[j] = V_REJECT;
				r->why[j] = R_INVALID;
			} else if (key->uids == NULL) {
				r->v[j] = V_REJECT;
				r->why[j] = R_NOUID;
			} else {
				r->v[j] = V_ACCEPT;
			}
		} else {
			r->other_fpr = R_FPR;
		}
		gpgme_key_unref(key);
	}
	if (gpg_err_code(ge) != GPG_ERR_EOF) {
		/* Possibly provoked by the input itself (GPGME could not parse
		 * gpg's listing of it): decided by rechecking smaller sets. */
		r->list_error = 1;
		gpgme_op_keylist_end(kc->ctx);
	}
	if (!kc->saw_import_res) {
		pb_err_set(err, PB_ETEMP, "gpg (home %s) did not check the keys: %s",
			   kc->home, kc->gpg_error[0] ? kc->gpg_error :
			   r->list_error ? gpgme_strerror(ge) : "no import result");
		goto out;
	}
	ret = 0;
out:
	if (dh)
		gpgme_data_release(dh);
	return ret;
}

/* reject_alone - the verdict for a key that gpg did not list when given
 * nothing else. */
static const char *
reject_alone(const struct keycheck *kc, const struct pgp_key *key,
	     const struct run *r)
{
	if (key->version <= 3 || kc->res_skipped_v3 > 0)
		return R_V3;
	if (key->version >= 5)
		return R_NEWVER;
	if (r->other_fpr)
		return R_FPR;
	if (r->list_error)
		return R_FAILED;
	return R_UNPARSED;
}

/* check_set - decide every key of idx[0..n), whose fingerprints are all
 * different.  A key listed by gpg gets its final verdict from that
 * listing: what gpg says about one key does not depend on the others.
 * Unlisted keys are checked again: as a smaller set when gpg listed
 * something (it got through the input), else by halves, so that one key
 * that makes gpg give up costs O(log n) extra runs, not n. */
static int
check_set(struct keycheck *kc, const struct pgp_key *keys, const size_t *idx,
	  size_t n, unsigned char *accepted, const char **reasons,
	  struct pb_err *err)
{
	struct run r;
	size_t *left = NULL, nleft = 0;
	int ret = -1;

	if (n == 0)
		return 0;
	r.idx = idx;
	r.n = n;
	r.v = xcalloc(n, sizeof *r.v);
	r.why = xcalloc(n, sizeof *r.why);
	if (gpg_run(kc, keys, &r, err) != 0)
		goto out;

	left = xcalloc(n, sizeof *left);
	for (size_t i = 0; i < n; i++) {
		switch (r.v[i]) {
		case V_ACCEPT:
			accepted[idx[i]] = 1;
			break;
		case V_REJECT:
			accepted[idx[i]] = 0;
			if (reasons)
				reasons[idx[i]] = r.why[i];
			break;
		case V_UNLISTED:
			left[nleft++] = idx[i];
			break;
		}
	}
	if (nleft == 0) {
		ret = 0;
	} else if (n == 1) {
		accepted[idx[0]] = 0;
		if (reasons)
			reasons[idx[0]] = reject_alone(kc, &keys[idx[0]], &r);
		ret = 0;
	} else if (nleft < n && !r.list_error) {
		ret = check_set(kc, keys, left, nleft, accepted, reasons, err);
	} else {
		size_t half = nleft / 2;

		ret = check_set(kc, keys, left, half, accepted, reasons, err);
		if (ret == 0)
			ret = check_set(kc, keys, left + half, nleft - half,
					accepted, reasons, err);
	}
out:
	free(left);
	free(r.v);
	free(r.why);
	return ret;
}

int
keycheck_keys(struct keycheck *kc, const struct pgp_key *keys, size_t n,
	      unsigned char *accepted, const char **reasons, struct pb_err *err)
{
	size_t *round, nround;
	unsigned char *done;
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		accepted[i] = 0;
		if (reasons)
			reasons[i] = NULL;
	}
	if (n == 0)
		return 0;
	/* gpg lists each copy of a repeated key, and a good copy would vouch
	 * for a bad one in the same run: check repeated fingerprints in
	 * separate rounds.  Repeats are rare, so the quadratic scan over one
	 * mail's keys (max_keys_per_message) is cheap. */
	round = xcalloc(n, sizeof *round);
	done = xcalloc(n, 1);
	for (size_t remaining = n; remaining > 0 && ret == 0;) {
		nround = 0;
		for (size_t i = 0; i < n; i++) {
			int dup = 0;

			if (done[i])
				continue;
			for (size_t j = 0; j < nround && !dup; j++)
				dup = strcmp(keys[round[j]].fpr_hex,
					     keys[i].fpr_hex) == 0;
			if (!dup)
				round[nround++] = i;
		}
		ret = check_set(kc, keys, round, nround, accepted, reasons, err);
		for (size_t j = 0; j < nround; j++)
			done[round[j]] = 1;
		remaining -= nround;
	}
	free(round);
	free(done);
	if (ret != 0) {
		for (size_t i = 0; i < n; i++) {
			accepted[i] = 0;
			if (reasons)
				reasons[i] = NULL;
		}
	}
	return ret;
}

int
keycheck_gpgme_init(struct pb_err *err)
{
	/* The flag must be set before the first gpgme_check_version();
	 * setting it again later is refused and harmless. */
	gpgme_set_global_flag("disable-gpgconf", "1");
	if (gpgme_check_version("1.14.0") == NULL)
		return pb_err_set(err, PB_EUNAVAIL, "GPGME is older than 1.14.0");
	return 0;
}

/* keycheck_engine - GPGME present, gpg found and new enough for
 * keylist-from-data (GnuPG 2.1.14). */
static int
keycheck_engine(struct pb_err *err)
{
	gpgme_engine_info_t info;
	gpgme_error_t ge;

	if (keycheck_gpgme_init(err) != 0)
		return -1;
	ge = gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP);
	if (ge)
		return pb_err_set(err, PB_EUNAVAIL, "gpg is not usable: %s",
				  gpgme_strerror(ge));
	ge = gpgme_get_engine_info(&info);
	if (ge)
		return pb_err_set(err, PB_EUNAVAIL, "gpgme_get_engine_info: %s",
				  gpgme_strerror(ge));
	for (; info; info = info->next) {
		unsigned a = 0, b = 0, c = 0;

		if (info->protocol != GPGME_PROTOCOL_OpenPGP)
			continue;
		if (!info->version ||
		    sscanf(info->version, "%u.%u.%u", &a, &b, &c) < 2)
			return pb_err_set(err, PB_EUNAVAIL, "gpg version unknown");
		if (a < 2 || (a == 2 && (b < 1 || (b == 1 && c < 14))))
			return pb_err_set(err, PB_EUNAVAIL,
					  "gpg %s is too old (need 2.1.14)",
					  info->version);
		return 0;
	}
	return pb_err_set(err, PB_EUNAVAIL, "GPGME knows no OpenPGP engine");
}

int
keycheck_open(const char *scratch_home, struct keycheck **kc_r,
	      struct pb_err *err)
{
	struct keycheck *kc;
	gpgme_error_t ge;
	char *trustdb;
	struct stat st;
	int file_mode;

	*kc_r = NULL;
	if (keycheck_engine(err) != 0)
		return -1;
	if (prepare_home(scratch_home, &file_mode, err) != 0)
		return -1;
	kc = xcalloc(1, sizeof *kc);
	kc->home = xstrdup(scratch_home);
	if ((ge = gpgme_new(&kc->ctx)) != 0) {
		pb_err_set(err, PB_EOS, "gpgme_new: %s", gpgme_strerror(ge));
		goto fail;
	}
	/* Per-context engine info: the home is ours, and GPGME's process-wide
	 * default stays untouched.  Setting it runs "gpg --version", which is
	 * why the context lives as long as the checker. */
	ge = gpgme_ctx_set_engine_info(kc->ctx, GPGME_PROTOCOL_OpenPGP, NULL,
				       kc->home);
	if (ge) {
		pb_err_set(err, PB_EUNAVAIL, "gpgme_ctx_set_engine_info: %s",
			   gpgme_strerror(ge));
		goto fail;
	}
	gpgme_set_protocol(kc->ctx, GPGME_PROTOCOL_OpenPGP);
	gpgme_set_offline(kc->ctx, 1);
	gpgme_set_keylist_mode(kc->ctx, GPGME_KEYLIST_MODE_LOCAL);
	/* full-status hands us IMPORT_RES and ERROR, which GPGME would
	 * otherwise swallow during a listing. */
	ge = gpgme_set_ctx_flag(kc->ctx, "full-status", "1");
	if (ge) {
		pb_err_set(err, PB_EUNAVAIL, "GPGME lacks full-status: %s",
			   gpgme_strerror(ge));
		goto fail;
	}
	gpgme_set_status_cb(kc->ctx, status_cb, kc);

	/* A listing needs a trustdb, and gpg creates it on first use: have a
	 * listing of the (empty) keyring do that now, so that later checks
	 * only read the home.  (An empty dry-run import does not.) */
	trustdb = xasprintf("%s/trustdb.gpg", kc->home);
	if (stat(trustdb, &st) != 0) {
		gpgme_key_t key;

		ge = gpgme_op_keylist_start(kc->ctx, NULL, 0);
		while (!ge && !(ge = gpgme_op_keylist_next(kc->ctx, &key)))
			gpgme_key_unref(key);
		gpgme_op_keylist_end(kc->ctx);
		if (stat(trustdb, &st) != 0) {
			pb_err_set(err, PB_ETEMP, "gpg did not create %s: %s",
				   trustdb, gpg_err_code(ge) == GPG_ERR_EOF ?
				   strerror(errno) : gpgme_strerror(ge));
			free(trustdb);
			goto fail;
		}
		/* gpg creates it 0600 whatever the umask; in a shared home
		 * the other users' checks must be able to read it. */
		if ((st.st_mode & 0777) != (mode_t)file_mode &&
		    chmod(trustdb, (mode_t)file_mode) != 0)
			log_warning(NULL, "chmod %s: %s", trustdb, strerror(errno));
	}
	free(trustdb);
	*kc_r = kc;
	return 0;
fail:
	keycheck_close(kc);
	return -1;
}

void
keycheck_close(struct keycheck *kc)
{
	if (!kc)
		return;
	if (kc->ctx)
		gpgme_release(kc->ctx);
	free(kc->home);
	free(kc);
}

int
keycheck_unbound(const char *reason)
{
	return reason != NULL && (strcmp(reason, R_INVALID) == 0 ||
				  strcmp(reason, R_NOUID) == 0);
}
