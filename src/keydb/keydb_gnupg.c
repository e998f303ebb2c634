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

/* run_child - fork the importer, collect its report within timeout_ms.
 * Returns 0 with the report text in out, or -1 (timeout, fork failure,
 * child died). */
static int
run_child(struct gnupg_db *g, const struct pgp_key *keys, size_t n,
	  int timeout_ms, struct buf *out, struct pb_err *err)
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
		child_import(g->home, g->file_mode, keys, n, fds[1]);
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
		if (out->len + (size_t)r > REPORT_MAX) {
			pb_err_set(err, PB_ETEMP, "gpg import report too long");
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
				  "gpg import into %s did not finish in %d ms "
				  "(keyring locked?)", g->home, timeout_ms);
	if (ret == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return pb_err_set(err, PB_ETEMP, "gpg import child died (status %d)",
				  status);
	return ret;
}

static int
gnupg_put(struct keydb *db, const char *qid, const struct pgp_key *keys,
	  size_t n, int timeout_ms, struct pb_err *err)
{
	struct gnupg_db *g = db->priv;
	struct import_report ir = { 0 };
	struct buf out = BUF_INIT, missing = BUF_INIT;
	size_t nmissing = 0;
	int ret = -1;

	if (n == 0)
		return 0;
	if (prepare_home(g, err) != 0)
		return -1;
	if (run_child(g, keys, n, timeout_ms, &out, err) != 0)
		goto out;
	buf_putc(&out, '\0');	/* parse_report wants a string even if empty */
	parse_report((char *)out.data, &ir);
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
			   "%d without valid user ID, %d v3, %d not imported",
			   nmissing, n, g->home, buf_str(&missing),
			   nmissing > 3 ? ", ..." : "", ir.no_user_id,
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
	g->db.put = gnupg_put;
	g->db.close = gnupg_close;
	g->db.priv = g;
	*db_r = &g->db;
	return 0;
}
