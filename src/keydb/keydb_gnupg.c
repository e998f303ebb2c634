/*
 * keydb_gnupg.c - the gnupg:DIR key database: GPGME imports the keys into
 * the GnuPG home DIR (created if missing, see keycheck_mkhome).
 *
 * The import runs in a child process of its own process group.  gpg waits
 * without limit for a keyring lock held by another process, and GPGME has
 * no timeout: gpgme_cancel() only closes its pipes and leaves that gpg
 * waiting (GPGME double-forks it, so it is not even our child).  Killing
 * the child's process group when timeout_ms runs out takes gpg with it.
 * The child reports the import result over a pipe, one line per fact.
 *
 * gpg.conf: when DIR has none, we write one with no-autostart (an import
 * asks gpg-agent whether the new key has a secret part, and gpg would
 * start an agent that outlives us) and no-auto-check-trustdb (trust is
 * meaningless in a keyserver's keyring, and a check after every import
 * grows with the keyring).  An existing gpg.conf is the operator's: we
 * only warn if it lacks no-autostart.
 *
 * Trust is meaningless here, and with gpg's default trust model an import
 * also writes the trustdb, which gpg creates 0600: in a group-shared spool
 * (the MTA's pipe user, the runner and operators, see spool.h) the next
 * user's gpg then dies on it.  So every import runs with trust-model
 * always, which never touches a trustdb, and a new home is group-shared
 * when its parent directory is (keycheck_mkhome).
 *
 * Imports are serialised with flock() on DIR/pksbridge.lock, taken in the
 * child (so the timeout kill releases it): GnuPG 2.2 races on its own
 * keybox lock when several gpg processes import at once ("lockfile
 * disappeared", "no writable keyring found"; 3 of 40 concurrent imports
 * failed in a test), and MTAs run our filter concurrently.
 *
 * Every key must come back from gpg as imported (new or unchanged).  A
 * key gpg refuses for its own content (no valid user ID, v3) is PB_EPERM;
 * anything else (write errors, gpg dying, the lock) is PB_ETEMP, since an
 * import of the same keys can be repeated safely.
 *
 * Lookups (the mail commands) list keys with GPGME in a child of the same
 * kind, for the same reason: a keyring locked by an import must cost the
 * timeout, not a hung reply worker.  gpg's search modes are chosen by a
 * pattern's first character ("=" exact, "<" address, "@" part of one,
 * "#" and "&" internal ids, "+" words), and an empty pattern lists every
 * key: a text search is therefore always given as "*" and the text
 * (gpg's explicit substring mode, in which nothing after the "*" is
 * special), so that a user's leading "=" or "<" can choose nothing and
 * no search lists the whole keyring.  The keys are exported (mode 0:
 * third-party certifications included, as a keyserver gives them) only
 * when there are no more than the query's max.
 */
#include "keydb/keydb.h"
#include "openpgp/keycheck.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <gpgme.h>
#include <poll.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#define GPG_CONF \
	"# Written by pksbridge for the gnupg: key database (see pksbridge(8)).\n" \
	"# Never start gpg-agent/dirmngr for imports; no trustdb check after\n" \
	"# each import.\n" \
	"no-autostart\n" \
	"no-auto-check-trustdb\n" \
	"trust-model always\n"

/* Bound on what the child may report (one line per key plus a few). */
#define REPORT_MAX (1u << 20)
/* A lookup's report: the listing and the exported keys. */
#define LOOKUP_REPORT_MAX (20u << 20)

struct gnupg_db {
	struct keydb db;
	char *home;
	int file_mode;		/* for files we create in home */
	int warned_conf;
};

/* conf_has_no_autostart - does an existing gpg.conf say no-autostart? */
static int
conf_has_no_autostart(FILE *f)
{
	char line[512];

	while (fgets(line, sizeof line, f)) {
		const char *p = line;

		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "no-autostart", 12) == 0 &&
		    (p[12] == '\0' || p[12] == '\n' || p[12] == '\r' ||
		     p[12] == ' ' || p[12] == '\t'))
			return 1;
	}
	return 0;
}

static int
prepare_home(struct gnupg_db *g, struct pb_err *err)
{
	char *conf;
	int fd, ret = -1, file_mode;
	FILE *f;

	if (keycheck_mkhome(g->home, &file_mode, err) != 0)
		return -1;
	g->file_mode = file_mode;
	conf = xasprintf("%s/gpg.conf", g->home);
	fd = open(conf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file_mode);
	if (fd >= 0) {
		size_t len = strlen(GPG_CONF);

		/* fchmod: the umask must not narrow a shared home's 0660. */
		if (fchmod(fd, (mode_t)file_mode) != 0 ||
		    write(fd, GPG_CONF, len) != (ssize_t)len) {
			pb_err_set(err, PB_ETEMP, "writing %s: %s", conf,
				   strerror(errno));
			close(fd);
			unlink(conf);
			goto out;
		}
		if (close(fd) != 0) {
			pb_err_set(err, PB_ETEMP, "writing %s: %s", conf,
				   strerror(errno));
			unlink(conf);
			goto out;
		}
	} else if (errno != EEXIST) {
		pb_err_set(err, PB_ETEMP, "creating %s: %s", conf, strerror(errno));
		goto out;
	} else if (!g->warned_conf && (f = fopen(conf, "re")) != NULL) {
		if (!conf_has_no_autostart(f))
			log_warning(NULL, "%s has no \"no-autostart\" line: gpg "
				    "may start a gpg-agent for each import",
				    conf);
		fclose(f);
		g->warned_conf = 1;
	}
	ret = 0;
out:
	free(conf);
	return ret;
}

/* report - one line to the parent; a short write only loses facts, which
 * the parent then treats as a failure. */
static void
report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
report(int fd, const char *fmt, ...)
{
	char line[700];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof line)
		len = sizeof line - 1;
	for (int i = 0; i < len - 1; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	for (ssize_t off = 0, w; off < len; off += w) {
		w = write(fd, line + off, (size_t)(len - off));
		if (w <= 0 && errno != EINTR)
			return;
		if (w < 0)
			w = 0;
	}
}

/* lock_holder_alive - is the pid on GnuPG's dotlock file a live gpg?
 * gpg itself only asks kill(pid, 0), so the lock of a gpg killed with it
 * (our timeout's kill) outlives it whenever the pid is reused, and every
 * later gpg waits for it for ever: the keyring is wedged until that
 * unrelated process exits.  On Linux /proc names the holder; a holder
 * that is not gpg cannot be holding a keybox lock. */
static int
lock_holder_alive(const char *glock)
{
	char path[64], comm[32] = "";
	long pid = 0;
	FILE *f;
	int n;

	if ((f = fopen(glock, "re")) == NULL)
		return 0;
	n = fscanf(f, "%ld", &pid);
	fclose(f);
	if (n != 1 || pid <= 0 || pid > INT_MAX)
		return 0;
	if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
		return 0;
	snprintf(path, sizeof path, "/proc/%ld/comm", pid);
	if ((f = fopen(path, "re")) == NULL)
		return 1;	/* no /proc: trust kill() as gpg does */
	n = fgets(comm, sizeof comm, f) != NULL;
	fclose(f);
	return !n || strncmp(comm, "gpg", 3) == 0;
}

/* heal_keybox - put back the keybox a killed gpg left renamed away.
 *
 * GnuPG 2.2 replaces pubring.kbx with two renames (keybox-update.c,
 * rename_tmp_file: pubring.kbx to pubring.kbx~, then pubring.kbx.tmp to
 * pubring.kbx).  A gpg killed between them (our own timeout's kill, an
 * MTA's kill of its process group, the OOM killer) leaves no pubring.kbx,
 * and every later import then fails with "no writable keyring found"
 * while the whole keyring sits in pubring.kbx~: crash_ingest at full size
 * wedged 162 entries that way.  pubring.kbx~ is the last keyring gpg
 * finished; the interrupted import never reported success, so its entry
 * is retried and nothing acknowledged is lost by going back to it.
 *
 * Called with DIR/pksbridge.lock held, so none of our own gpg processes
 * is between the renames; a live gpg of someone else's would hold
 * GnuPG's own pubring.kbx.lock (its pid on the first line), and then we
 * leave it to finish.  Returns 2 if it put the keybox back, 1 if it only
 * removed a dead holder's lock, 0 if it did nothing. */
static int
heal_keybox(const char *home)
{
	char *kbx = xasprintf("%s/pubring.kbx", home);
	char *bak = xasprintf("%s/pubring.kbx~", home);
	char *glock = xasprintf("%s/pubring.kbx.lock", home);
	struct stat st;
	int healed = 0;

	if (lock_holder_alive(glock))
		goto out;
	/* A lock whose holder is dead or not gpg: gpg removes the first
	 * kind itself, and would wait for ever on the second. */
	if (unlink(glock) == 0)
		healed = 1;
	if (lstat(kbx, &st) == 0 || errno != ENOENT || lstat(bak, &st) != 0)
		goto out;
	if (rename(bak, kbx) == 0)
		healed = 2;
out:
	free(kbx);
	free(bak);
	free(glock);
	return healed;
}

/* child_import - runs in the child: import, report, exit.  Never
 * returns.  Lines: "E STATUS MESSAGE", "R considered imported unchanged
 * no_user_id not_imported skipped_v3", "I FPR GPGERR". */
static void __attribute__((noreturn))
child_import(const char *home, int file_mode, const struct pgp_key *keys,
	     size_t n, int fd)
{
	struct keycheck_reader rd;
	gpgme_ctx_t ctx;
	gpgme_data_t dh;
	gpgme_error_t ge;
	gpgme_import_result_t res;
	char *lock = xasprintf("%s/pksbridge.lock", home);
	int lfd;

	struct pb_err ierr;

	/* Held until we exit (see the top of this file); O_CLOEXEC keeps
	 * it from gpg, which must not outlive us holding it. */
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, file_mode);
	if (lfd < 0) {
		report(fd, "E %d opening %s: %s\n", PB_ETEMP, lock, strerror(errno));
		_exit(0);
	}
	(void)fchmod(lfd, (mode_t)file_mode);	/* fails unless ours: fine */
	while (flock(lfd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			report(fd, "E %d locking %s: %s\n", PB_ETEMP, lock,
			       strerror(errno));
			_exit(0);
		}
	}
	free(lock);
	switch (heal_keybox(home)) {
	case 2:
		report(fd, "W put back %s/pubring.kbx from pubring.kbx~, which a "
		       "killed gpg left renamed away\n", home);
		break;
	case 1:
		report(fd, "W removed %s/pubring.kbx.lock of a gpg that is no "
		       "longer running\n", home);
		break;
	}

	if (keycheck_gpgme_init(&ierr) != 0) {
		report(fd, "E %d %s\n", PB_EUNAVAIL, ierr.msg);
		_exit(0);
	}
	ge = gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP);
	if (ge) {
		report(fd, "E %d gpg is not usable: %s\n", PB_EUNAVAIL,
		       gpgme_strerror(ge));
		_exit(0);
	}
	if ((ge = gpgme_new(&ctx)) != 0 ||
	    (ge = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL,
					    home)) != 0) {
		report(fd, "E %d gpgme: %s\n", PB_ETEMP, gpgme_strerror(ge));
		_exit(0);
	}
	gpgme_set_offline(ctx, 1);
	/* Whatever gpg.conf says (see the top of this file).  A GPGME too
	 * old for the flag leaves it to our gpg.conf. */
	(void)gpgme_set_ctx_flag(ctx, "trust-model", "always");
	ge = keycheck_data_new(&dh, &rd, keys, NULL, n);
	if (ge) {
		report(fd, "E %d gpgme_data_new_from_cbs: %s\n", PB_EOS,
		       gpgme_strerror(ge));
		_exit(0);
	}
	ge = gpgme_op_import(ctx, dh);
	if (ge) {
		report(fd, "E %d gpg import into %s failed: %s\n", PB_ETEMP, home,
		       gpgme_strerror(ge));
		_exit(0);
	}
	res = gpgme_op_import_result(ctx);
	if (!res) {
		report(fd, "E %d gpg import into %s gave no result\n", PB_ETEMP,
		       home);
		_exit(0);
	}
	report(fd, "R %d %d %d %d %d %d\n", res->considered, res->imported,
	       res->unchanged, res->no_user_id, res->not_imported,
	       res->skipped_v3_keys);
	for (gpgme_import_status_t s = res->imports; s; s = s->next)
		if (s->fpr)
			report(fd, "I %s %u\n", s->fpr, (unsigned)s->result);
	gpgme_data_release(dh);
	gpgme_release(ctx);
	/* _exit: exit handlers (stdio buffers, the parent's atexit) belong
	 * to the parent and must not run here. */
	_exit(0);
}

struct import_report {
	int have_res;
	int considered, imported, unchanged, no_user_id, not_imported, skipped_v3;
	char **fprs;		/* fingerprints gpg imported (result 0) */
	unsigned *results;	/* GPGME error per fingerprint */
	size_t nfprs;
	int err_status;		/* from an "E" line, 0 if none */
	char err_msg[400];
	char warning[400];	/* from a "W" line, "" if none */
};

static void
parse_report(char *text, struct import_report *ir)
{
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == 'E' && line[1] == ' ' && ir->err_status == 0) {
			char *end;
			long st = strtol(line + 2, &end, 10);

			ir->err_status = st > 0 && st <= PB_EUNAVAIL ? (int)st : PB_ETEMP;
			snprintf(ir->err_msg, sizeof ir->err_msg, "%s",
				 *end == ' ' ? end + 1 : end);
		} else if (line[0] == 'W' && line[1] == ' ') {
			snprintf(ir->warning, sizeof ir->warning, "%s", line + 2);
		} else if (line[0] == 'R' && line[1] == ' ') {
			if (sscanf(line + 2, "%d %d %d %d %d %d", &ir->considered,
				   &ir->imported, &ir->unchanged, &ir->no_user_id,
				   &ir->not_imported, &ir->skipped_v3) == 6)
				ir->have_res = 1;
		} else if (line[0] == 'I' && line[1] == ' ') {
			char fpr[2 * PGP_FPR_MAX + 1];
			unsigned result;

			if (sscanf(line + 2, "%64s %u", fpr, &result) != 2)
				continue;
			ir->fprs = xreallocarray(ir->fprs, ir->nfprs + 1,
						 sizeof *ir->fprs);
			ir->results = xreallocarray(ir->results, ir->nfprs + 1,
						    sizeof *ir->results);
			ir->fprs[ir->nfprs] = xstrdup(fpr);
			ir->results[ir->nfprs] = result;
			ir->nfprs++;
		}
	}
}

static void
free_report(struct import_report *ir)
{
	for (size_t i = 0; i < ir->nfprs; i++)
		free(ir->fprs[i]);
	free(ir->fprs);
	free(ir->results);
}

/* What a child does: report to fd, then _exit. */
typedef void (*child_fn)(const struct gnupg_db *g, const void *arg, int fd)
	__attribute__((noreturn));

struct import_arg {
	const struct pgp_key *keys;
	size_t n;
};

static void __attribute__((noreturn))
import_child(const struct gnupg_db *g, const void *arg, int fd)
{
	const struct import_arg *a = arg;

	child_import(g->home, g->file_mode, a->keys, a->n, fd);
}

/* run_child - fork a child running fn, collect its report (at most max
 * bytes) within timeout_ms.  Returns 0 with the report in out, or -1
 * (timeout, fork failure, child died). */
static int
run_child(struct gnupg_db *g, child_fn fn, const void *arg, size_t max,
	  int timeout_ms, const char *what, struct buf *out, struct pb_err *err)
{
	int64_t deadline = timeout_ms > 0 ? clock_ms() + timeout_ms : INT64_MAX;
	int fds[2], status = 0, ret = -1, timed_out = 0;
	pid_t pid, w;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return pb_err_set(err, PB_EOS, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		pb_err_set(err, PB_EOS, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		/* Our own group, so that gpg, which GPGME detaches from us,
		 * is still ours to kill. */
		setpgid(0, 0);
		signal(SIGPIPE, SIG_IGN);
		close(fds[0]);
		fn(g, arg, fds[1]);
	}
	setpgid(pid, pid);	/* also here: whichever runs first wins */
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		int64_t left = deadline - clock_ms();
		char chunk[4096];
		ssize_t r;
		int pr;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		pr = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			pb_err_set(err, PB_EOS, "poll: %s", strerror(errno));
			break;
		}
		if (pr == 0)
			continue;
		r = read(fds[0], chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = 0;	/* EOF: the child is done */
			break;
		}
		if (out->len + (size_t)r > max) {
			pb_err_set(err, PB_ETEMP, "gpg %s report too long", what);
			break;
		}
		buf_append(out, chunk, (size_t)r);
	}
	close(fds[0]);
	if (ret != 0)
		kill(-pid, SIGKILL);
	/* After EOF the child is at _exit; after a kill it dies at once.
	 * (With SIGCHLD ignored there is nothing to wait for: ECHILD.) */
	do
		w = waitpid(pid, &status, 0);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		status = 0;
	if (timed_out)
		return pb_err_set(err, PB_ETEMP,
				  "gpg %s in %s did not finish in %d ms "
				  "(keyring locked?)", what, g->home, timeout_ms);
	if (ret == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return pb_err_set(err, PB_ETEMP, "gpg %s child died (status %d)",
				  what, status);
	return ret;
}

static int
gnupg_put(struct keydb *db, const char *qid, const struct pgp_key *keys,
	  size_t n, int timeout_ms, struct pb_err *err)
{
	struct gnupg_db *g = db->priv;
	struct import_report ir = { 0 };
	struct import_arg arg = { keys, n };
	struct buf out = BUF_INIT, missing = BUF_INIT;
	size_t nmissing = 0;
	int ret = -1;

	if (n == 0)
		return 0;
	if (prepare_home(g, err) != 0)
		return -1;
	if (run_child(g, import_child, &arg, REPORT_MAX, timeout_ms, "import",
		      &out, err) != 0)
		goto out;
	buf_putc(&out, '\0');	/* parse_report wants a string even if empty */
	parse_report((char *)out.data, &ir);
	if (ir.warning[0])
		log_warning(qid, "keydb=gnupg:%s: %s", g->home, ir.warning);
	if (ir.err_status) {
		pb_err_set(err, (enum pb_status)ir.err_status, "%s", ir.err_msg);
		goto out;
	}
	if (!ir.have_res) {
		pb_err_set(err, PB_ETEMP, "gpg import into %s: no result", g->home);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int ok = 0;

		for (size_t j = 0; j < ir.nfprs && !ok; j++)
			ok = ir.results[j] == 0 &&
			     strcasecmp(ir.fprs[j], keys[i].fpr_hex) == 0;
		if (!ok) {
			if (nmissing < 3)
				buf_printf(&missing, "%s%s", nmissing ? ", " : "",
					   keys[i].fpr_hex);
			nmissing++;
		}
	}
	if (nmissing) {
		/* Refused for its own content, this key will never import;
		 * anything else may be the keyring (disk full, permissions). */
		int perm = ir.no_user_id > 0 || ir.skipped_v3 > 0;

		pb_err_set(err, perm ? PB_EPERM : PB_ETEMP,
			   "gpg did not import %zu of %zu keys into %s (%s%s): "
			   "%d considered, %d new, %d unchanged, %d without "
			   "valid user ID, %d v3, %d not imported",
			   nmissing, n, g->home, buf_str(&missing),
			   nmissing > 3 ? ", ..." : "", ir.considered,
			   ir.imported, ir.unchanged, ir.no_user_id,
			   ir.skipped_v3, ir.not_imported);
		goto out;
	}
	log_info(qid, "keydb=gnupg:%s, keys=%zu, new=%d, unchanged=%d", g->home,
		 n, ir.imported, ir.unchanged);
	ret = 0;
out:
	free_report(&ir);
	buf_free(&out);
	buf_free(&missing);
	return ret;
}

/* ---- lookups ----------------------------------------------------------- */

/* openpgp_algo - GPGME's algorithm number as OpenPGP's (RFC 9580 9.1):
 * they are the same but for GPGME's own ECC numbers. */
static unsigned
openpgp_algo(gpgme_pubkey_algo_t a)
{
	switch (a) {
	case GPGME_PK_ECDSA: return 19;
	case GPGME_PK_ECDH: return 18;
	case GPGME_PK_EDDSA: return 22;
	default: return (unsigned)a < 256 ? (unsigned)a : 0;
	}
}

/* report_hex - s as hex, so that no byte of a user ID can end a line. */
static void
report_uid(int fd, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char line[2 * 1024 + 4];
	size_t n = strlen(s), o = 0;

	if (n > 1024)
		n = 1024;
	line[o++] = 'U';
	line[o++] = ' ';
	for (size_t i = 0; i < n; i++) {
		line[o++] = hex[(unsigned char)s[i] >> 4];
		line[o++] = hex[(unsigned char)s[i] & 15];
	}
	line[o++] = '\n';
	for (size_t off = 0; off < o;) {
		ssize_t w = write(fd, line + off, o - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

/* Most keys listed before giving up counting: far past any max_reply_keys
 * (at most 1000), and the bound on what a listing of "*" text costs. */
#define LIST_COUNT_MAX 100000

/* child_lookup - runs in the child: list, report, export, exit.  Lines:
 * "E STATUS MESSAGE"; "M FPR ALGO BITS CREATED EXPIRES FLAGS" per match
 * (up to q->max), each followed by its "U HEX" user IDs; "N COUNT" (with
 * "+" when counting stopped); then, for keys, "K LEN" and LEN bytes of
 * binary keys. */
static void __attribute__((noreturn))
lookup_child(const struct gnupg_db *g, const void *arg, int fd)
{
	const struct keydb_query *q = arg;
	gpgme_ctx_t ctx;
	gpgme_key_t key, *keep;
	gpgme_data_t dh;
	gpgme_error_t ge;
	struct pb_err ierr;
	char *pattern;
	size_t n = 0, nkeep = 0;

	if (keycheck_gpgme_init(&ierr) != 0) {
		report(fd, "E %d %s\n", PB_EUNAVAIL, ierr.msg);
		_exit(0);
	}
	if ((ge = gpgme_new(&ctx)) != 0 ||
	    (ge = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL,
					    g->home)) != 0) {
		report(fd, "E %d gpgme: %s\n", PB_ETEMP, gpgme_strerror(ge));
		_exit(0);
	}
	gpgme_set_offline(ctx, 1);
	gpgme_set_keylist_mode(ctx, GPGME_KEYLIST_MODE_LOCAL);
	pattern = q->kind == KEYDB_SEARCH_TEXT ? xasprintf("*%s", q->search)
					       : xstrdup(q->search);
	keep = xcalloc(q->max + 1, sizeof *keep);
	if ((ge = gpgme_op_keylist_start(ctx, pattern, 0)) != 0) {
		report(fd, "E %d gpg key listing in %s failed: %s\n", PB_ETEMP,
		       g->home, gpgme_strerror(ge));
		_exit(0);
	}
	while (n < LIST_COUNT_MAX && gpgme_op_keylist_next(ctx, &key) == 0) {
		n++;
		if (nkeep < q->max && key->subkeys && key->subkeys->fpr) {
			gpgme_subkey_t sk = key->subkeys;

			report(fd, "M %s %u %u %lld %lld %s%s%s\n", sk->fpr,
			       openpgp_algo(sk->pubkey_algo), sk->length,
			       (long long)sk->timestamp, (long long)sk->expires,
			       key->revoked ? "r" : "", key->expired ? "e" : "",
			       key->disabled ? "d" : "-");
			for (gpgme_user_id_t u = key->uids; u; u = u->next)
				if (u->uid)
					report_uid(fd, u->uid);
			keep[nkeep++] = key;
		} else {
			gpgme_key_unref(key);
		}
	}
	gpgme_op_keylist_end(ctx);
	report(fd, "N %zu%s\n", n, n == LIST_COUNT_MAX ? "+" : "");
	if (q->want == KEYDB_WANT_KEYS && n > 0 && n <= q->max) {
		size_t len;
		char *bytes;

		if ((ge = gpgme_data_new(&dh)) != 0 ||
		    (ge = gpgme_op_export_keys(ctx, keep, 0, dh)) != 0) {
			report(fd, "E %d gpg export from %s failed: %s\n", PB_ETEMP,
			       g->home, gpgme_strerror(ge));
			_exit(0);
		}
		bytes = gpgme_data_release_and_get_mem(dh, &len);
		report(fd, "K %zu\n", len);
		for (size_t off = 0; bytes && off < len;) {
			ssize_t w = write(fd, bytes + off, len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		gpgme_free(bytes);
	}
	/* Released although _exit follows: a memory checker watching the
	 * child then sees what it would see in a long-lived process. */
	for (size_t i = 0; i < nkeep; i++)
		gpgme_key_unref(keep[i]);
	free(keep);
	free(pattern);
	gpgme_release(ctx);
	_exit(0);
}

/* hex_uid - the user ID of a "U HEX" line, decoded, into a fresh string. */
static char *
hex_uid(const char *hex, size_t n)
{
	char *out = xmalloc(n / 2 + 1);
	size_t o = 0;

	for (size_t i = 0; i + 1 < n; i += 2) {
		int hi = hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'A' + 10;
		int lo = hex[i + 1] <= '9' ? hex[i + 1] - '0' : hex[i + 1] - 'A' + 10;

		if (hi < 0 || hi > 15 || lo < 0 || lo > 15)
			break;
		out[o++] = (char)(hi << 4 | lo);
	}
	out[o] = '\0';
	return out;
}

/* parse_lookup - the child's report into a; 0, or -1 with err for an
 * "E" line or a report that breaks off. */
static int
parse_lookup(const struct buf *rep, const struct keydb_query *q,
	     struct keydb_answer *a, struct pb_err *err)
{
	const char *p = rep->len ? (const char *)rep->data : "";
	const char *end = p + rep->len;
	struct keydb_match *cur = NULL;
	size_t listed = 0;
	int have_n = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (!nl)
			break;
		if (n > 2 && p[0] == 'E' && p[1] == ' ') {
			long st = strtol(p + 2, NULL, 10);
			const char *msg = memchr(p + 2, ' ', n - 2);

			return pb_err_set(err, st > 0 && st <= PB_EUNAVAIL ?
					  (enum pb_status)st : PB_ETEMP, "%.*s",
					  msg ? (int)(n - (size_t)(msg + 1 - p)) : 0,
					  msg ? msg + 1 : "");
		} else if (n > 2 && p[0] == 'M' && p[1] == ' ') {
			char fpr[2 * PGP_FPR_MAX + 1], flags[8] = "";
			unsigned algo = 0, bits = 0;
			long long created = 0, expires = 0;
			char line[256];

			snprintf(line, sizeof line, "%.*s", (int)n, p);
			if (sscanf(line + 2, "%64s %u %u %lld %lld %7s", fpr, &algo,
				   &bits, &created, &expires, flags) < 5)
				continue;
			cur = keydb_answer_add_match(a, fpr, q->max);
			listed++;
			if (cur) {
				cur->algo = algo;
				cur->bits = bits;
				cur->created = created;
				cur->expires = expires;
				cur->flags = (strchr(flags, 'r') ? KEYDB_REVOKED : 0) |
					     (strchr(flags, 'e') ? KEYDB_EXPIRED : 0) |
					     (strchr(flags, 'd') ? KEYDB_DISABLED : 0);
			}
		} else if (n > 2 && p[0] == 'U' && p[1] == ' ' && cur) {
			char *u = hex_uid(p + 2, n - 2);

			keydb_match_add_uid(cur, u, strlen(u));
			free(u);
		} else if (n > 2 && p[0] == 'N' && p[1] == ' ') {
			a->nmatched = (size_t)strtoull(p + 2, NULL, 10);
			if (p[n - 1] == '+') {
				a->too_many = 1;
				snprintf(a->why, sizeof a->why, "more than %zu keys "
					 "match", a->nmatched);
			}
			have_n = 1;
		} else if (n > 2 && p[0] == 'K' && p[1] == ' ') {
			size_t klen = (size_t)strtoull(p + 2, NULL, 10);
			const char *bytes = nl + 1;

			/* Never trust a length: it must be what arrived. */
			if (klen != (size_t)(end - bytes))
				return pb_err_set(err, PB_ETEMP, "gpg export report "
						  "broke off (%zu of %zu bytes)",
						  (size_t)(end - bytes), klen);
			keydb_answer_take_keys(a, q, (const unsigned char *)bytes,
					       klen);
			a->nmatched = listed;
			return 0;
		}
		p = nl + 1;
	}
	if (!have_n)
		return pb_err_set(err, PB_ETEMP, "gpg key listing report broke off");
	if (q->want == KEYDB_WANT_KEYS && a->nmatched > 0 && a->nmatched <= q->max)
		return pb_err_set(err, PB_ETEMP, "gpg exported no keys");
	return 0;
}

static int
gnupg_lookup(struct keydb *db, const struct keydb_query *q,
	     struct keydb_answer *a, int timeout_ms, struct pb_err *err)
{
	struct gnupg_db *g = db->priv;
	struct buf out = BUF_INIT;
	int ret = -1;

	memset(a, 0, sizeof *a);
	/* An empty pattern would list every key (see the top of the file). */
	if (q->search == NULL || q->search[0] == '\0')
		return pb_err_set(err, PB_EDATA, "empty search");
	if (prepare_home(g, err) != 0)
		return -1;
	if (run_child(g, lookup_child, q, LOOKUP_REPORT_MAX, timeout_ms,
		      "key listing", &out, err) != 0)
		goto out;
	ret = parse_lookup(&out, q, a, err);
out:
	buf_free(&out);
	return ret;
}

static void
gnupg_close(struct keydb *db)
{
	struct gnupg_db *g;

	if (!db)
		return;
	g = db->priv;
	free((char *)db->name);
	free(g->home);
	free(g);
}

int
keydb_gnupg_init(const char *home, struct keydb **db_r, struct pb_err *err)
{
	struct gnupg_db *g;

	*db_r = NULL;
	if (home == NULL || home[0] == '\0')
		return pb_err_set(err, PB_ECONFIG, "gnupg: no directory");
	g = xcalloc(1, sizeof *g);
	g->home = xstrdup(home);
	g->db.name = xasprintf("gnupg:%s", home);
	/* gpg drops user IDs and subkeys without a self-signature: no
	 * merging of deltas; it says when it refuses a key. */
	g->db.does = KEYDB_REPORTS_REFUSALS;
	g->db.put = gnupg_put;
	g->db.lookup = gnupg_lookup;
	g->db.close = gnupg_close;
	g->db.priv = g;
	*db_r = &g->db;
	return 0;
}
