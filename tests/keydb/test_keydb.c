/*
 * test_keydb.c - the key database backends against the real things (an
 * integration test: it starts a real SKS).  First one list of scenarios
 * (put, then held; unavailable; refused), run against every backend as
 * onak runs its t/all-*.t; then what only one backend does:
 *
 *  gnupg:  keys imported into a GnuPG home, checked with gpg's own
 *          --list-keys; a locked keyring times out as PB_ETEMP without
 *          leaving gpg behind; an unwritable home fails; nobody can use it
 *          without HOME.
 *  sks:    the spool file's name and content, durability details, a
 *          missing or unwritable messages/ directory, and a real SKS
 *          (tests/lib/sks.sh) picking the file up and serving the keys.
 *  hkp:    POST /pks/add to the same real SKS, which then serves the keys;
 *          SKS's "200 but Add failed" for keys it refuses; a dead port
 *          and a server that never answers (timeout); 4xx/5xx and batch
 *          splitting against a small fake HTTP responder written here.
 *          The fake is a mock, and it is needed: SKS never answers 4xx
 *          (garbage keytext gets a 500, a refused key a 200 with "Add
 *          failed" in the page) and cannot be made to hang on demand.
 */
#include "keydb/keydb.h"
#include "lib/unit.h"
#include "openpgp/armor.h"
#include "openpgp/pgp.h"
#include "util/clock.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>


/* The throwaway SKS shared by the sks: and hkp:// tests, started on
 * first use and stopped at the end of main(). */
static char sks_base[128];
static int sks_port;
static int sks_up;

/* ---- helpers ---- */

/* collect_blocks - append each public key block's bytes to a buf; a bad
 * block leaves a marker so comparisons fail. */
static int
collect_blocks(void *ctx, const struct armor_block *blk)
{
	struct buf *out = ctx;

	if (blk->ok && blk->kind == ARMOR_PUBLIC_KEY)
		buf_append(out, blk->data, blk->len);
	else
		buf_puts(out, "<BAD BLOCK>");
	return 0;
}

static int
count_blocks(void *ctx, const struct armor_block *blk)
{
	(void)blk;
	(*(int *)ctx)++;
	return 0;
}

/* run - fork+exec argv (no shell), stdout into out (if not NULL);
 * returns the exit status or -1. */
static int
run(char *const argv[], struct buf *out)
{
	int fds[2], status;
	pid_t pid;

	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		char chunk[4096];
		ssize_t r = read(fds[0], chunk, sizeof chunk);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out)
			buf_append(out, chunk, (size_t)r);
	}
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* sks_lib - call a function of tests/lib/sks.sh with fixed arguments. */
static int
sks_lib(const char *fn, const char *a1, const char *a2, const char *a3)
{
	static char lib[600];
	const char *top = getenv("TOP");
	char script[200];

	snprintf(lib, sizeof lib, "%s/tests/lib/sks.sh", top && *top ? top : ".");
	snprintf(script, sizeof script, ". \"$0\" && %s \"$@\"", fn);
	char *argv[] = { "/bin/sh", "-c", script, lib, (char *)a1, (char *)a2,
			 (char *)a3, NULL };
	if (!a2)
		argv[5] = NULL;
	else if (!a3)
		argv[6] = NULL;
	return run(argv, NULL);
}

/* free_port - a loopback port nothing listens on right now. */
static int
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int
ensure_sks(void)
{
	char port[16];

	if (sks_up)
		return 0;
	/* SKS takes PORT for HKP and PORT+1 for recon (unused by "sks db"). */
	for (int tries = 0; tries < 5; tries++) {
		sks_port = free_port();
		if (sks_port > 0 && sks_port < 65535)
			break;
	}
	snprintf(sks_base, sizeof sks_base, "%s/sks", unit_tmpdir());
	snprintf(port, sizeof port, "%d", sks_port);
	if (sks_lib("sks_start", sks_base, port, NULL) != 0)
		return -1;
	sks_up = 1;
	return 0;
}

static int
sks_has_key(const char *fpr, int timeout_s)
{
	char port[16], to[16];

	snprintf(port, sizeof port, "%d", sks_port);
	snprintf(to, sizeof to, "%d", timeout_s);
	return sks_lib("sks_wait_key", port, fpr, to) == 0;
}

/* as_nobody - run fn(arg) in a child that is nobody (when we are root),
 * with an empty environment; returns its exit code. */
static int
as_nobody(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (geteuid() == 0) {
			struct passwd *pw = getpwnam("nobody");

			if (!pw || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
			    setuid(pw->pw_uid) != 0)
				_exit(90);
		}
		clearenv();
		setenv("PATH", "/usr/bin:/bin", 1);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* nobody_dir - a fresh directory nobody can reach (the unit tmpdir is
 * 0700), owned by owner_nobody ? nobody : us. */
static int
nobody_dir(char *path, size_t size, int owner_nobody)
{
	struct passwd *pw = getpwnam("nobody");

	snprintf(path, size, "/tmp/pbkdb.XXXXXX");
	if (!mkdtemp(path) || chmod(path, 0755) != 0)
		return -1;
	if (owner_nobody && geteuid() == 0 &&
	    (!pw || chown(path, pw->pw_uid, pw->pw_gid) != 0))
		return -1;
	return 0;
}

static void
rm_rf(const char *path)
{
	char *argv[] = { "/bin/rm", "-rf", (char *)path, NULL };

	run(argv, NULL);
}

/* gpg_list - fingerprints of the primary keys in a GnuPG home, as gpg
 * itself lists them, "FPR\n" each. */
static int
gpg_list(const char *home, struct buf *fprs)
{
	struct buf out = BUF_INIT;
	char *argv[] = { "/usr/bin/gpg", "--homedir", (char *)home, "--batch",
			 "--no-autostart", "--with-colons", "--list-keys", NULL };
	int rc = run(argv, &out), want_fpr = 0;
	char *save = NULL;

	buf_reset(fprs);
	buf_putc(&out, '\0');
	for (char *l = strtok_r((char *)out.data, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "pub:", 4) == 0) {
			want_fpr = 1;
		} else if (strncmp(l, "fpr:", 4) == 0 && want_fpr) {
			/* fpr:::::::::FINGERPRINT: */
			char *p = l;

			for (int i = 0; i < 9 && p; i++)
				p = strchr(p + 1, ':');
			if (p) {
				buf_append(fprs, p + 1, strcspn(p + 1, ":"));
				buf_putc(fprs, '\n');
			}
			want_fpr = 0;
		}
	}
	buf_free(&out);
	return rc;
}

static int
has_line(const struct buf *b, const char *line)
{
	const char *s = buf_str(b);
	size_t n = strlen(line);

	for (const char *p = s; (p = strstr(p, line)); p++)
		if ((p == s || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

/* ---- a fake HTTP responder (mock, see the head comment) ---- */

struct fake {
	pid_t pid;
	int port;
	char dir[200];		/* body-N and head-N files, one per request */
};

static int
read_request(int c, struct buf *head, struct buf *body)
{
	char chunk[65536];
	size_t need = (size_t)-1, hend = 0;

	for (;;) {
		ssize_t r = read(c, chunk, sizeof chunk);

		if (r <= 0)
			return -1;
		buf_append(head, chunk, (size_t)r);
		char *e = strstr((char *)head->data, "\r\n\r\n");
		if (e) {
			hend = (size_t)(e - (char *)head->data) + 4;
			break;
		}
		if (head->len > 65536)
			return -1;
	}
	for (char *p = (char *)head->data; p < (char *)head->data + hend; p++)
		if (strncasecmp(p, "\nContent-Length:", 16) == 0)
			need = strtoul(p + 16, NULL, 10);
	if (need == (size_t)-1)
		return -1;
	buf_append(body, head->data + hend, head->len - hend);
	head->len = hend;
	head->data[hend] = '\0';
	while (body->len < need) {
		ssize_t r = read(c, chunk, sizeof chunk);

		if (r <= 0)
			return -1;
		buf_append(body, chunk, (size_t)r);
	}
	return 0;
}

static void
save(const char *dir, const char *what, int n, const struct buf *b)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s-%d", dir, what, n);
	if ((f = fopen(path, "w"))) {
		fwrite(b->data, 1, b->len, f);
		fclose(f);
	}
}

/* fake_start - answer every request with status and page (after reading
 * it), or never answer if status is 0. */
static int
fake_start(struct fake *f, const char *name, int status, const char *page)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(f->dir, sizeof f->dir, "%s/%s", unit_tmpdir(), name);
	if (mkdir(f->dir, 0700) != 0 && errno != EEXIST)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(ls, 16) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) != 0)
		return -1;
	f->port = ntohs(sa.sin_port);
	f->pid = fork();
	if (f->pid < 0)
		return -1;
	if (f->pid > 0) {
		close(ls);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!page)
		page = "<html><body><h1>fake</h1>says\r\nno</body></html>";
	for (int n = 1;; n++) {
		struct buf head = BUF_INIT, body = BUF_INIT;
		int c = accept(ls, NULL, NULL);
		char resp[600];

		if (c < 0)
			continue;
		if (read_request(c, &head, &body) == 0) {
			save(f->dir, "head", n, &head);
			save(f->dir, "body", n, &body);
			if (status == 0) {
				sleep(60);	/* the client must give up first */
				_exit(0);
			}
			int len = snprintf(resp, sizeof resp,
					   "HTTP/1.1 %d Fake\r\nContent-Type: text/html\r\n"
					   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
					   status, strlen(page), page);
			if (write(c, resp, (size_t)len) != len)
				_exit(1);
		}
		close(c);
		buf_free(&head);
		buf_free(&body);
	}
}

static void
fake_stop(struct fake *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
		f->pid = 0;
	}
}

/* fake_requests - how many requests the fake has saved. */
static int
fake_requests(const struct fake *f)
{
	char path[300];
	int n = 0;

	for (;; n++) {
		snprintf(path, sizeof path, "%s/body-%d", f->dir, n + 1);
		if (access(path, F_OK) != 0)
			return n;
	}
}

static char *
fake_file(const struct fake *f, const char *what, int n, size_t *len)
{
	char path[300];

	snprintf(path, sizeof path, "%s/%s-%d", f->dir, what, n);
	return unit_read_file(path, len);
}

/* pct_decode - undo keytext's percent-encoding in place; -1 if a byte
 * other than a letter or digit appears unencoded. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
pct_decode(char *s, size_t len, size_t *out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			if (i + 2 >= len || hexval(s[i + 1]) < 0 ||
			    hexval(s[i + 2]) < 0)
				return -1;
			s[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9')) {
			s[o++] = c;
		} else {
			return -1;
		}
	}
	*out_len = o;
	return 0;
}

/* ---- keydb_open ---- */

/* What each backend says it does: which merge packets into the key
 * they hold (so that a PKS delta is worth handing them), and which
 * report refusals (sks: only queues the keys for SKS to merge later). */
static void
test_does(void)
{
	static const struct {
		const char *spec;
		unsigned does;
	} cases[] = {
		{ "sks:/var/spool/sks", KEYDB_MERGES },
		{ "hkp://127.0.0.1:11371", KEYDB_MERGES | KEYDB_REPORTS_REFUSALS },
		{ "http://127.0.0.1:8080/sks", KEYDB_MERGES | KEYDB_REPORTS_REFUSALS },
		{ "gnupg:/var/lib/x", KEYDB_REPORTS_REFUSALS },
	};
	struct pb_err err;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct keydb *db;

		CHECK_OK(keydb_open(cases[i].spec, &db, &err), &err);
		CHECK_MSG(db->does == cases[i].does, "%s: does %u, want %u",
			  cases[i].spec, db->does, cases[i].does);
		db->close(db);
	}
}

static void
test_open_dispatch(void)
{
	static const struct {
		const char *spec;
		int ok;
		const char *name;
	} cases[] = {
		{ "gnupg:/var/lib/x", 1, "gnupg:/var/lib/x" },
		{ "sks:/var/spool/sks", 1, "sks:/var/spool/sks" },
		{ "sks:/var/spool/sks/", 1, "sks:/var/spool/sks" },
		{ "hkp://127.0.0.1:11371", 1, "hkp://127.0.0.1:11371" },
		{ "hkp://keys.example.org", 1, "hkp://keys.example.org" },
		{ "hkp://[::1]:11371/", 1, "hkp://[::1]:11371/" },
		{ "http://127.0.0.1:8080/sks", 1, "http://127.0.0.1:8080/sks" },
		{ "", 0, NULL },
		{ "gnupg:", 0, NULL },
		{ "gnupg:relative/dir", 0, NULL },
		{ "sks:", 0, NULL },
		{ "hkp://", 0, NULL },
		{ "hkp://host:0", 0, NULL },
		{ "hkp://host:99999", 0, NULL },
		{ "hkp://host:12x", 0, NULL },
		{ "hkp://ho st:1", 0, NULL },
		{ "hkp://[::1:1", 0, NULL },
		{ "hkp://host/a b", 0, NULL },
		{ "hkps://host", 0, NULL },
		{ "ldap://host", 0, NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct keydb *db = (struct keydb *)1;
		struct pb_err err;
		int rc = keydb_open(cases[i].spec, &db, &err);

		if (cases[i].ok) {
			CHECK_MSG(rc == 0, "%s: %s", cases[i].spec, err.msg);
			CHECK_STR(db->name, cases[i].name);
			CHECK(db->put != NULL && db->close != NULL);
			db->close(db);
		} else {
			CHECK_MSG(rc == -1, "%s accepted", cases[i].spec);
			CHECK_INT(err.status, PB_ECONFIG);
			CHECK(db == NULL);
		}
	}
}

/* ---- helpers for the sks: backend ---- */

/* spool_files - names in dir, sorted by nothing, "name\n" each. */
static int
spool_files(const char *dir, struct buf *names)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	buf_reset(names);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		buf_printf(names, "%s\n", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/*
 * ---- the scenarios every backend runs ----
 *
 * As onak runs its t/all-*.t against each of its backends: one list of
 * scenarios, each run against gnupg:, sks: and hkp://, each time checked
 * with the real database (gpg's own listing, SKS serving the key).  A
 * backend says how to set up a database of its kind and how to ask it;
 * what only one backend does has a test of its own further down.
 */
struct backend {
	const char *name;
	/* Fixture keys, all new to this backend's database: sks: and
	 * hkp:// share one SKS, so each has keys of its own. */
	const char *keys[3];
	/* fresh - the spec of a database ready to take keys; -1 if it
	 * cannot be set up (SKS did not start). */
	int (*fresh)(const char *tag, char *spec, size_t len);
	/* holds - the database serves (or lists) fpr within timeout_s. */
	int (*holds)(const char *spec, const char *fpr, int timeout_s);
	int timeout_s;		/* how long the database may take to show it */
	/* settled - after a put, nothing left half done (files, processes);
	 * NULL if there is nothing to look at. */
	int (*settled)(const char *spec, char *why, size_t len);
	/* unavailable - the spec of a database that cannot take keys now;
	 * says: a word the error must contain, so the operator knows why. */
	int (*unavailable)(const char *tag, char *spec, size_t len);
	const char *unavailable_says;
	/* refused - fills key with one this database refuses for its
	 * content, or is NULL: SKS merges its spool later and says nothing,
	 * so sks: cannot tell.  refused_says as above. */
	int (*refused)(struct pgp_key *key);
	const char *refused_says;
};

/* gnupg: a home that does not exist yet (the backend makes it). */
static int
gnupg_fresh(const char *tag, char *spec, size_t len)
{
	snprintf(spec, len, "gnupg:%s/gnupg-%s", unit_tmpdir(), tag);
	return 0;
}

static int
gnupg_holds(const char *spec, const char *fpr, int timeout_s)
{
	struct buf fprs = BUF_INIT;
	int held;

	(void)timeout_s;	/* an import is done when put() returns */
	held = gpg_list(spec + 6, &fprs) == 0 && has_line(&fprs, fpr);
	buf_free(&fprs);
	return held;
}

/* gnupg_settled - no gpg and no gpg-agent left running for the home. */
static int
gnupg_settled(const char *spec, char *why, size_t len)
{
	int n = unit_count_procs(NULL, spec + 6);

	snprintf(why, len, "%d processes still run for %s", n, spec + 6);
	return n == 0;
}

/* gnupg_unavailable - a home that cannot exist: its parent is a file. */
static int
gnupg_unavailable(const char *tag, char *spec, size_t len)
{
	char file[300];
	FILE *f;

	snprintf(file, sizeof file, "%s/a-file-%s", unit_tmpdir(), tag);
	if (!(f = fopen(file, "w")))
		return -1;
	fclose(f);
	snprintf(spec, len, "gnupg:%s/home", file);
	return 0;
}

/* gnupg_refused - dave's primary key packet alone: no user ID, which
 * keycheck keeps away, but the backend must still notice. */
static int
gnupg_refused(struct pgp_key *key)
{
	struct pgp_keylist list = { 0 };
	struct pb_err err;
	int r;

	if (unit_load_keys("keys/dave.asc", &list) != 0)
		return -1;
	r = pgp_parse_key_blob(list.keys[0].data, 2 + list.keys[0].data[1],
			       key, &err);
	pgp_keylist_free(&list);
	return r;
}

static int
sks_fresh(const char *tag, char *spec, size_t len)
{
	(void)tag;
	if (ensure_sks() != 0)
		return -1;
	snprintf(spec, len, "sks:%s/var/spool/sks", sks_base);
	return 0;
}

static int
hkp_fresh(const char *tag, char *spec, size_t len)
{
	(void)tag;
	if (ensure_sks() != 0)
		return -1;
	snprintf(spec, len, "hkp://127.0.0.1:%d", sks_port);
	return 0;
}

static int
sks_serves(const char *spec, const char *fpr, int timeout_s)
{
	(void)spec;
	return sks_has_key(fpr, timeout_s);
}

/* sks_settled - SKS took every spool file and failed none. */
static int
sks_settled(const char *spec, char *why, size_t len)
{
	struct buf names = BUF_INIT;
	char dir[300];
	int left, failed;

	snprintf(dir, sizeof dir, "%s/messages", spec + 4);
	left = spool_files(dir, &names);
	snprintf(dir, sizeof dir, "%s/failed_messages", spec + 4);
	failed = spool_files(dir, &names);
	buf_free(&names);
	snprintf(why, len, "%d files left in messages/, %d in failed_messages/",
		 left, failed);
	return left == 0 && failed == 0;
}

/* sks_unavailable - a BASEDIR with no messages/ (no SKS spools there). */
static int
sks_unavailable(const char *tag, char *spec, size_t len)
{
	char base[256];

	snprintf(base, sizeof base, "%s/no-sks-here-%s", unit_tmpdir(), tag);
	if (mkdir(base, 0755) != 0)
		return -1;
	snprintf(spec, len, "sks:%s", base);
	return 0;
}

/* hkp_unavailable - a port nothing listens on. */
static int
hkp_unavailable(const char *tag, char *spec, size_t len)
{
	(void)tag;
	snprintf(spec, len, "hkp://127.0.0.1:%d", free_port());
	return 0;
}

/* hkp_refused - alice's key claiming to be v3, which SKS calls
 * malformed (with HTTP 200 and "Add failed" in its page). */
static int
hkp_refused(struct pgp_key *key)
{
	struct pgp_keylist list = { 0 };

	if (unit_load_keys("keys/alice.asc", &list) != 0 ||
	    list.keys[0].data[0] != 0x98) {	/* old format, 1-byte length */
		pgp_keylist_free(&list);
		return -1;
	}
	memset(key, 0, sizeof *key);
	key->data = malloc(list.keys[0].len);
	memcpy(key->data, list.keys[0].data, list.keys[0].len);
	key->data[2] = 3;
	key->len = list.keys[0].len;
	memcpy(key->fpr_hex, list.keys[0].fpr_hex, sizeof key->fpr_hex);
	pgp_keylist_free(&list);
	return 0;
}

static const struct backend gnupg_backend = {
	"gnupg", { "keys/alice.asc", "keys/bob.asc", "keys/erin-revoked.asc" },
	gnupg_fresh, gnupg_holds, 0, gnupg_settled,
	gnupg_unavailable, "GnuPG home", gnupg_refused, NULL,
};
/* SKS scans messages/ every 10 s. */
static const struct backend sks_backend = {
	"sks", { "keys/alice.asc", "keys/bob.asc", NULL },
	sks_fresh, sks_serves, 30, sks_settled,
	sks_unavailable, "/messages", NULL, NULL,
};
/* /pks/add merges before it answers: served at once. */
static const struct backend hkp_backend = {
	"hkp", { "keys/carol-signed.asc", "keys/dave.asc", NULL },
	hkp_fresh, sks_serves, 3, NULL,
	hkp_unavailable, "127.0.0.1", hkp_refused, "Malformed",
};

/* scenario_put - keys go in and the real database then has them; the
 * same keys again, and no keys at all, are success too. */
static void
scenario_put(const struct backend *b)
{
	struct pgp_keylist list = { 0 };
	struct keydb *db;
	struct pb_err err;
	char spec[300], why[300];
	int64_t t0;

	for (size_t i = 0; i < 3 && b->keys[i]; i++)
		CHECK(unit_load_keys(b->keys[i], &list) == 0);
	CHECK_MSG(b->fresh("put", spec, sizeof spec) == 0,
		  "%s: no database to test (see output above)", b->name);
	for (size_t i = 0; i < list.nkeys; i++)
		CHECK_MSG(!b->holds(spec, list.keys[i].fpr_hex, 0),
			  "%s: has %s before the put", b->name, list.keys[i].fpr_hex);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	CHECK_OK(db->put(db, "Q1", list.keys, list.nkeys, 20000, &err), &err);
	t0 = clock_ms();
	for (size_t i = 0; i < list.nkeys; i++)
		CHECK_MSG(b->holds(spec, list.keys[i].fpr_hex, b->timeout_s),
			  "%s: %s not in the database after %d s", b->name,
			  list.keys[i].fpr_hex, b->timeout_s);
	printf("# %s: put to held: %lld ms\n", b->name,
	       (long long)(clock_ms() - t0));
	CHECK_MSG(!b->settled || b->settled(spec, why, sizeof why), "%s: %s",
		  b->name, why);
	CHECK_OK(db->put(db, "Q2", list.keys, list.nkeys, 20000, &err), &err);
	CHECK_OK(db->put(db, "Q3", list.keys, 0, 20000, &err), &err);
	db->close(db);
	pgp_keylist_free(&list);
}

/* scenario_unavailable - a database that cannot take keys now is a
 * temporary failure (the entry is retried), found out fast, and the
 * error says where. */
static void
scenario_unavailable(const struct backend *b)
{
	struct pgp_keylist list = { 0 };
	struct keydb *db;
	struct pb_err err;
	char spec[300];
	int64_t t0, dt;

	CHECK(unit_load_keys(b->keys[0], &list) == 0);
	CHECK(b->unavailable("down", spec, sizeof spec) == 0);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	t0 = clock_ms();
	/* "Fast" against a timeout of 90 s, with a hang's margin: failing
	 * by the timeout would take three times the bound. */
	CHECK(db->put(db, "Q16", list.keys, list.nkeys, 90000, &err) == -1);
	dt = clock_ms() - t0;
	CHECK_INT(err.status, PB_ETEMP);
	CHECK_MSG(dt < 30000, "%s: failing took %lld ms", b->name, (long long)dt);
	printf("# bench: test_keydb: %s down, put fails in: %lld ms (target <= 1000 ms)\n",
	       b->name, (long long)dt);
	CHECK_MSG(strstr(err.msg, b->unavailable_says) != NULL, "%s: %s",
		  b->name, err.msg);
	db->close(db);
	pgp_keylist_free(&list);
}

/* scenario_refused - a key the database refuses for its content is a
 * permanent failure, and the error says which key or why. */
static void
scenario_refused(const struct backend *b)
{
	struct pgp_keylist list = { 0 };
	struct pgp_key bad;
	struct keydb *db;
	struct pb_err err;
	char spec[300];

	CHECK(unit_load_keys(b->keys[1], &list) == 0);
	CHECK(b->refused(&bad) == 0);
	CHECK_MSG(b->fresh("refused", spec, sizeof spec) == 0,
		  "%s: no database to test (see output above)", b->name);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	struct pgp_key set[2] = { list.keys[0], bad };
	CHECK(db->put(db, "Q4", set, 2, 20000, &err) == -1);
	CHECK_INT(err.status, PB_EPERM);
	CHECK_MSG(strstr(err.msg, b->refused_says ? b->refused_says
						  : bad.fpr_hex) != NULL,
		  "%s: %s", b->name, err.msg);
	db->close(db);
	pgp_key_free_contents(&bad);
	pgp_keylist_free(&list);
}

/*
 * scenario_lookup - the searches of the mail commands, against a
 * database holding the two keys that share the short key ID F7923026
 * (tests/data/keys/collide.txt): a short ID gives both keys, a
 * fingerprint one, words of a user ID as the database matches them, a
 * count without keys over max, nothing for no match, and a 64-digit
 * fingerprint that SKS cannot search.  Then a database that is down.
 */
#define COLLIDE_C "BD5C2399CD95E4461856F0EF60B74832F7923026"
#define COLLIDE_D "C562077F5495A4F13AD187162C1B67B3F7923026"

static int
has_fpr(const struct keydb_answer *a, const char *fpr)
{
	for (size_t i = 0; i < a->keys.nkeys; i++)
		if (strcmp(a->keys.keys[i].fpr_hex, fpr) == 0)
			return 1;
	for (size_t i = 0; i < a->nmatches; i++)
		if (strcmp(a->matches[i].fpr, fpr) == 0)
			return 1;
	return 0;
}

static void
scenario_lookup(const struct backend *b)
{
	struct pgp_keylist list = { 0 };
	struct keydb_query q = { KEYDB_SEARCH_KEYID, "0xF7923026",
				 KEYDB_WANT_KEYS, 25, 1 << 20 };
	struct keydb_answer a;
	struct keydb *db;
	struct pb_err err;
	char spec[300];
	int64_t t0;

	CHECK(unit_load_keys("keys/collide-c.asc", &list) == 0);
	CHECK(unit_load_keys("keys/collide-d.asc", &list) == 0);
	CHECK_MSG(b->fresh("lookup", spec, sizeof spec) == 0,
		  "%s: no database to test (see output above)", b->name);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	CHECK(db->lookup != NULL);
	CHECK_OK(db->put(db, "L1", list.keys, list.nkeys, 20000, &err), &err);
	CHECK(b->holds(spec, COLLIDE_C, b->timeout_s));
	CHECK(b->holds(spec, COLLIDE_D, b->timeout_s));

	/* GET 0xF7923026: both keys, as gpg1's --recv-keys asks. */
	t0 = clock_ms();
	CHECK_OK(db->lookup(db, &q, &a, 10000, &err), &err);
	printf("# %s: lookup of a short key ID: %lld ms\n", b->name,
	       (long long)(clock_ms() - t0));
	CHECK_INT(a.nmatched, 2);
	CHECK_INT(a.keys.nkeys, 2);
	CHECK(has_fpr(&a, COLLIDE_C) && has_fpr(&a, COLLIDE_D));
	CHECK(!a.too_many && !a.unsupported);
	keydb_answer_free(&a);
	/* A fingerprint: one key. */
	q.kind = KEYDB_SEARCH_FPR;
	q.search = "0x" COLLIDE_C;
	CHECK_OK(db->lookup(db, &q, &a, 10000, &err), &err);
	CHECK_INT(a.keys.nkeys, 1);
	CHECK_STR(a.keys.keys[0].fpr_hex, COLLIDE_C);
	keydb_answer_free(&a);
	/* Over max: counted, no keys. */
	q.kind = KEYDB_SEARCH_KEYID;
	q.search = "0xF7923026";
	q.max = 1;
	CHECK_OK(db->lookup(db, &q, &a, 10000, &err), &err);
	CHECK_INT(a.nmatched, 2);
	CHECK_INT(a.keys.nkeys, 0);
	keydb_answer_free(&a);
	/* INDEX by a word of both user IDs: two listed, with user IDs. */
	q = (struct keydb_query){ KEYDB_SEARCH_TEXT, "collide", KEYDB_WANT_INDEX,
				  25, 1 << 20 };
	CHECK_OK(db->lookup(db, &q, &a, 10000, &err), &err);
	CHECK_INT(a.nmatched, 2);
	CHECK_INT(a.nmatches, 2);
	CHECK(has_fpr(&a, COLLIDE_C) && has_fpr(&a, COLLIDE_D));
	CHECK(a.matches[0].nuids >= 1 &&
	      strstr(a.matches[0].uids[0], "collide.test") != NULL);
	CHECK(a.matches[0].created > 1577836800);	/* 2020 */
	keydb_answer_free(&a);
	/* GET by address: one key. */
	q.search = "c-short@collide.test";
	q.want = KEYDB_WANT_KEYS;
	CHECK_OK(db->lookup(db, &q, &a, 10000, &err), &err);
	CHECK_INT(a.keys.nkeys, 1);
	CHECK_STR(a.keys.keys[0].fpr_hex, COLLIDE_C);
	keydb_answer_free(&a);
	/* No match is no error. */
	q = (struct keydb_query){ KEYDB_SEARCH_KEYID, "0xDEADBEEF",
				  KEYDB_WANT_KEYS, 25, 1 << 20 };
	CHECK_OK(db->lookup(db, &q, &a, 10000, &err), &err);
	CHECK_INT(a.nmatched, 0);
	CHECK(!a.too_many && !a.unsupported);
	keydb_answer_free(&a);
	/* 64 hex digits: SKS cannot search them (HTTP 500), GnuPG finds
	 * nothing. */
	q.kind = KEYDB_SEARCH_FPR;
	q.search = "0xABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB";
	CHECK_OK(db->lookup(db, &q, &a, 10000, &err), &err);
	CHECK_INT(a.nmatched, 0);
	CHECK_MSG(a.unsupported == (strcmp(b->name, "gnupg") != 0), "%s: %d %s",
		  b->name, a.unsupported, a.why);
	keydb_answer_free(&a);
	db->close(db);
	pgp_keylist_free(&list);

	/* Down: a temporary failure, found out fast. */
	CHECK(b->unavailable("lookup-down", spec, sizeof spec) == 0);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	q = (struct keydb_query){ KEYDB_SEARCH_KEYID, "0xF7923026",
				  KEYDB_WANT_KEYS, 25, 1 << 20 };
	t0 = clock_ms();
	/* As in scenario_unavailable: a timeout of 90 s, a bound of 30. */
	CHECK(db->lookup(db, &q, &a, 90000, &err) == -1);
	CHECK_INT(err.status, PB_ETEMP);
	CHECK_MSG(clock_ms() - t0 < 30000, "%s: failing took %lld ms", b->name,
		  (long long)(clock_ms() - t0));
	printf("# bench: test_keydb: %s down, lookup fails in: %lld ms (target <= 2000 ms)\n",
	       b->name, (long long)(clock_ms() - t0));
	keydb_answer_free(&a);
	db->close(db);
}

/* ON(scenario, backend) - the scenario run against that backend, as a
 * test of its own. */
#define ON(scenario, backend) \
	static void scenario##_##backend(void) { scenario(&backend##_backend); }
ON(scenario_put, gnupg)
ON(scenario_put, sks)
ON(scenario_put, hkp)
ON(scenario_unavailable, gnupg)
ON(scenario_unavailable, sks)
ON(scenario_unavailable, hkp)
ON(scenario_refused, gnupg)
ON(scenario_refused, hkp)
ON(scenario_lookup, gnupg)
ON(scenario_lookup, sks)
ON(scenario_lookup, hkp)

/* sks: where SKS listens, from BASEDIR/sksconf first: its first
 * hkp_address, a wildcard one taken as loopback, "#" comments. */
static void
test_sks_hkp_address(void)
{
	struct keydb_query q = { KEYDB_SEARCH_KEYID, "0xDEADBEEF",
				 KEYDB_WANT_KEYS, 25, 1 << 20 };
	struct keydb_answer a;
	struct keydb *db;
	struct pb_err err;
	char base[300], path[400], spec[320];
	FILE *f;

	CHECK(ensure_sks() == 0);
	snprintf(base, sizeof base, "%s/upstream-sks", unit_tmpdir());
	CHECK(mkdir(base, 0755) == 0);
	snprintf(path, sizeof path, "%s/sksconf", base);
	CHECK((f = fopen(path, "w")) != NULL);
	fprintf(f, "# upstream layout\nhkp_address: 0.0.0.0 ::1 # both\n"
		"  hkp_port :  %d\nrecon_port: 1\n", sks_port);
	fclose(f);
	snprintf(spec, sizeof spec, "sks:%s", base);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	/* Answered (no match) by the test's SKS: the address was found. */
	CHECK_OK(db->lookup(db, &q, &a, 5000, &err), &err);
	CHECK_INT(a.nmatched, 0);
	keydb_answer_free(&a);
	db->close(db);
	/* The port of a file naming another port is not ours: the same
	 * lookup fails, and says where the address came from. */
	CHECK((f = fopen(path, "w")) != NULL);
	fprintf(f, "hkp_port: %d\n", free_port());
	fclose(f);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	CHECK(db->lookup(db, &q, &a, 5000, &err) == -1);
	CHECK_INT(err.status, PB_ETEMP);
	keydb_answer_free(&a);
	db->close(db);
}

/* ---- gnupg: ---- */

/* The home as the backend makes it: nothing before the first put, then
 * 0700 with a gpg.conf that keeps gpg from starting agents. */
static void
test_gnupg_home(void)
{
	struct pgp_keylist list = { 0 };
	struct keydb *db;
	struct pb_err err;
	char spec[300], home[256], conf[300];
	struct stat st;
	size_t len;
	char *text;

	CHECK(unit_load_keys("keys/alice.asc", &list) == 0);
	snprintf(home, sizeof home, "%s/gnupg-home", unit_tmpdir());
	snprintf(spec, sizeof spec, "gnupg:%s", home);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	CHECK(stat(home, &st) != 0);		/* open touches nothing */
	CHECK_OK(db->put(db, "Q1", list.keys, list.nkeys, 20000, &err), &err);
	CHECK(stat(home, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK_INT(st.st_mode & 0777, 0700);
	snprintf(conf, sizeof conf, "%s/gpg.conf", home);
	text = unit_read_file(conf, &len);
	CHECK(text != NULL && strstr(text, "\nno-autostart\n") != NULL);
	free(text);
	CHECK_INT(unit_count_procs("gpg-agent", home), 0);
	db->close(db);
	pgp_keylist_free(&list);
}

static void
test_gnupg_locked_keyring(void)
{
	struct pgp_keylist list = { 0 };
	struct keydb *db;
	struct pb_err err;
	char spec[300], home[256], lock[300], host[256];
	pid_t holder;
	int64_t t0, dt;
	FILE *f;

	CHECK(unit_load_keys("keys/carol.asc", &list) == 0);
	snprintf(home, sizeof home, "%s/gnupg-locked", unit_tmpdir());
	snprintf(spec, sizeof spec, "gnupg:%s", home);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	/* A first import creates the keybox; then a gpg holds its lock:
	 * GnuPG's dotlock names a live pid on this host, here a child that
	 * calls itself gpg. */
	CHECK_OK(db->put(db, "Q5", list.keys, list.nkeys, 20000, &err), &err);
	snprintf(lock, sizeof lock, "%s/pubring.kbx.lock", home);
	CHECK(gethostname(host, sizeof host) == 0);
	if ((holder = fork()) == 0) {
		prctl(PR_SET_NAME, "gpg");
		pause();
		_exit(0);
	}
	CHECK(holder > 0);
	usleep(50000);		/* its name set before gpg looks */
	CHECK((f = fopen(lock, "w")) != NULL);
	fprintf(f, "%10ld\n%s\n", (long)holder, host);
	fclose(f);
	t0 = clock_ms();
	CHECK(db->put(db, "Q6", list.keys, list.nkeys, 1500, &err) == -1);
	dt = clock_ms() - t0;
	CHECK_INT(err.status, PB_ETEMP);
	CHECK_MSG(strstr(err.msg, "did not finish") != NULL, "%s", err.msg);
	CHECK_MSG(dt >= 1400 && dt < 30000, "took %lld ms", (long long)dt);
	printf("# bench: test_keydb: gnupg lock held, 1500 ms timeout: %lld ms (target <= 4000 ms)\n",
	       (long long)dt);
	/* The gpg waiting for the lock went with the child. */
	usleep(100000);
	CHECK_INT(unit_count_procs(NULL, home), 0);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	/* A lock whose pid is alive but not gpg (a gpg killed with it, its
	 * pid reused) would make gpg wait for ever: it is removed. */
	CHECK((f = fopen(lock, "w")) != NULL);
	fprintf(f, "%10ld\n%s\n", (long)getpid(), host);
	fclose(f);
	CHECK_OK(db->put(db, "Q7", list.keys, list.nkeys, 20000, &err), &err);
	CHECK(access(lock, F_OK) != 0);
	db->close(db);
	pgp_keylist_free(&list);
}

/* A gpg killed between GnuPG 2.2's two renames of the keybox (pubring.kbx
 * to pubring.kbx~, pubring.kbx.tmp to pubring.kbx) leaves no pubring.kbx,
 * and gpg alone then fails every import ("no writable keyring found").
 * The next put puts pubring.kbx~ back and imports; the keys the keybox
 * held are still there. */
static void
test_gnupg_keybox_renamed_away(void)
{
	struct pgp_keylist alice = { 0 }, bob = { 0 };
	struct keydb *db;
	struct pb_err err;
	char spec[300], home[256], kbx[300], bak[300], tmp[300];
	FILE *f;

	CHECK(unit_load_keys("keys/alice.asc", &alice) == 0);
	CHECK(unit_load_keys("keys/bob.asc", &bob) == 0);
	snprintf(home, sizeof home, "%s/gnupg-renamed", unit_tmpdir());
	snprintf(spec, sizeof spec, "gnupg:%s", home);
	snprintf(kbx, sizeof kbx, "%s/pubring.kbx", home);
	snprintf(bak, sizeof bak, "%s/pubring.kbx~", home);
	snprintf(tmp, sizeof tmp, "%s/pubring.kbx.tmp", home);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	CHECK_OK(db->put(db, "Q8", alice.keys, alice.nkeys, 20000, &err), &err);
	/* The state gpg leaves when killed between its renames. */
	CHECK(rename(kbx, bak) == 0);
	CHECK((f = fopen(tmp, "w")) != NULL);
	fputs("half a keybox", f);
	fclose(f);
	CHECK_OK(db->put(db, "Q9", bob.keys, bob.nkeys, 20000, &err), &err);
	CHECK(gnupg_holds(spec, alice.keys[0].fpr_hex, 0));
	CHECK(gnupg_holds(spec, bob.keys[0].fpr_hex, 0));
	db->close(db);
	pgp_keylist_free(&alice);
	pgp_keylist_free(&bob);
}

struct nobody_put {
	const char *spec;
	struct pgp_keylist *list;
};

/* In the child: 0 on success, 10+status on failure.  Frees the child's
 * copy of the key list, so that valgrind sees no leak in the child. */
static int
nobody_put(void *arg)
{
	struct nobody_put *np = arg;
	struct keydb *db;
	struct pb_err err;
	int rc = 0;

	if (keydb_open(np->spec, &db, &err) != 0) {
		rc = 9;
	} else {
		if (db->put(db, "QN", np->list->keys, np->list->nkeys, 20000,
			    &err) != 0) {
			fprintf(stderr, "# as nobody: %s\n", err.msg);
			rc = 10 + (int)err.status;
		}
		db->close(db);
	}
	pgp_keylist_free(np->list);
	return rc;
}

static void
test_gnupg_nobody(void)
{
	struct pgp_keylist list = { 0 };
	struct buf fprs = BUF_INIT;
	char base[64], spec[400], home[200];
	struct nobody_put np;

	CHECK(unit_load_keys("keys/dave.asc", &list) == 0);
	CHECK(nobody_dir(base, sizeof base, 1) == 0);
	/* nobody, no HOME: creates and fills its own home. */
	snprintf(home, sizeof home, "%s/own", base);
	snprintf(spec, sizeof spec, "gnupg:%s", home);
	np.spec = spec;
	np.list = &list;
	CHECK_INT(as_nobody(nobody_put, &np), 0);
	CHECK_INT(gpg_list(home, &fprs), 0);
	CHECK(has_line(&fprs, list.keys[0].fpr_hex));
	CHECK_INT(unit_count_procs(NULL, home), 0);

	if (geteuid() == 0) {
		/* A home nobody cannot write: an error, not a hang. */
		snprintf(home, sizeof home, "%s/rootonly", base);
		snprintf(spec, sizeof spec, "gnupg:%s", home);
		CHECK(mkdir(home, 0700) == 0);
		CHECK_INT(as_nobody(nobody_put, &np), 10 + PB_ETEMP);
	}
	rm_rf(base);
	buf_free(&fprs);
	pgp_keylist_free(&list);
}

/* ---- sks: ---- */

static void
test_sks_spool_file(void)
{
	struct pgp_keylist list = { 0 };
	struct keydb *db;
	struct pb_err err;
	struct buf names = BUF_INIT, bin = BUF_INIT, want = BUF_INIT;
	char base[256], msgs[300], spec[300], path[400];
	int nblocks = 0;
	size_t len;
	char *text;

	CHECK(unit_load_keys("keys/alice.asc", &list) == 0);
	CHECK(unit_load_keys("keys/bob.asc", &list) == 0);
	CHECK(unit_load_keys("keys/carol.asc", &list) == 0);
	snprintf(base, sizeof base, "%s/spool", unit_tmpdir());
	snprintf(msgs, sizeof msgs, "%s/messages", base);
	CHECK(mkdir(base, 0755) == 0 && mkdir(msgs, 0755) == 0);
	snprintf(spec, sizeof spec, "sks:%s", base);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	/* A queue id with characters a file name must not get. */
	CHECK_OK(db->put(db, "../Q 9", list.keys, list.nkeys, 1000, &err), &err);
	CHECK_INT(spool_files(msgs, &names), 1);
	CHECK_STR(buf_str(&names), "pksbridge-_._Q_9-1.ready\n");

	/* One armor block (SKS reads only the first) holding every key. */
	snprintf(path, sizeof path, "%s/pksbridge-_._Q_9-1.ready", msgs);
	text = unit_read_file(path, &len);
	CHECK(text != NULL);
	CHECK(strncmp(text, "X-Pksbridge-Queue-Id: _._Q_9\n", 29) == 0);
	armor_scan(text, len, 1u << 20, count_blocks, &nblocks);
	CHECK_INT(nblocks, 1);
	armor_scan(text, len, 1u << 20, collect_blocks, &bin);
	for (size_t i = 0; i < list.nkeys; i++)
		buf_append(&want, list.keys[i].data, list.keys[i].len);
	CHECK_INT(bin.len, want.len);
	CHECK(memcmp(bin.data, want.data, want.len) == 0);
	free(text);

	/* The same entry again gets the next free name, never replacing;
	 * and under the umask spool_open() sets (077) the file is still
	 * readable by SKS, which may run as another user. */
	mode_t old_mask = umask(077);
	int put_rc = db->put(db, "../Q 9", list.keys, 1, 1000, &err);
	struct stat st;

	umask(old_mask);
	CHECK_OK(put_rc, &err);
	CHECK_INT(spool_files(msgs, &names), 2);
	CHECK(strstr(buf_str(&names), "pksbridge-_._Q_9-2.ready\n") != NULL);
	snprintf(path, sizeof path, "%s/pksbridge-_._Q_9-2.ready", msgs);
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 07777, 0644);
	/* No temp file left, and a stale one of ours is taken over. */
	snprintf(path, sizeof path, "%s/.pksbridge-Q10-%ld.tmp", msgs, (long)getpid());
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("stale", f);
	fclose(f);
	CHECK_OK(db->put(db, "Q10", list.keys, 1, 1000, &err), &err);
	CHECK_INT(spool_files(msgs, &names), 3);
	CHECK(strstr(buf_str(&names), ".tmp") == NULL);
	db->close(db);
	buf_free(&names);
	buf_free(&bin);
	buf_free(&want);
	pgp_keylist_free(&list);
}

/* A missing messages/ is never created: SKS would never read a spool it
 * does not know. */
static void
test_sks_missing_spool_not_made(void)
{
	struct pgp_keylist list = { 0 };
	struct keydb *db;
	struct pb_err err;
	char spec[300], msgs[320];
	struct stat st;

	CHECK(unit_load_keys("keys/alice.asc", &list) == 0);
	CHECK(sks_unavailable("not-made", spec, sizeof spec) == 0);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	CHECK(db->put(db, "Q11", list.keys, 1, 1000, &err) == -1);
	snprintf(msgs, sizeof msgs, "%s/messages", spec + 4);
	CHECK(stat(msgs, &st) != 0);
	db->close(db);
	pgp_keylist_free(&list);
}

static void
test_sks_unwritable_spool(void)
{
	struct pgp_keylist list = { 0 };
	struct buf names = BUF_INIT;
	char base[64], msgs[100], spec[200];
	struct nobody_put np;

	/* Ours, so nobody cannot write it; without root, not even we can. */
	CHECK(nobody_dir(base, sizeof base, 0) == 0);
	CHECK(unit_load_keys("keys/alice.asc", &list) == 0);
	snprintf(msgs, sizeof msgs, "%s/messages", base);
	CHECK(mkdir(msgs, 0755) == 0);
	if (geteuid() != 0)
		CHECK(chmod(msgs, 0555) == 0);
	snprintf(spec, sizeof spec, "sks:%s", base);
	np.spec = spec;
	np.list = &list;
	CHECK_INT(as_nobody(nobody_put, &np), 10 + PB_ETEMP);
	CHECK_INT(spool_files(msgs, &names), 0);
	rm_rf(base);
	buf_free(&names);
	pgp_keylist_free(&list);
}

/* ---- hkp:// ---- */

/* SKS's generic refusal (HTTP 200, "Add failed" without a reason) may
 * be transient: a temporary failure. */
static void
test_hkp_generic_refusal(void)
{
	struct keydb *db;
	struct pb_err err;
	char spec[100];
	struct pgp_key junk = { 0 };

	CHECK_MSG(ensure_sks() == 0, "could not start SKS (see output above)");
	snprintf(spec, sizeof spec, "hkp://127.0.0.1:%d", sks_port);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	/* A packet it cannot parse. */
	junk.data = (unsigned char *)"\x99\x00\x03" "abc";
	junk.len = 6;
	strcpy(junk.fpr_hex, "00");
	CHECK(db->put(db, "Q15", &junk, 1, 10000, &err) == -1);
	CHECK_INT(err.status, PB_ETEMP);
	CHECK_MSG(strstr(err.msg, "HTTP 200 but keys refused") != NULL, "%s", err.msg);
	db->close(db);
}

static void
test_hkp_silent_server(void)
{
	struct pgp_keylist list = { 0 };
	struct keydb *db;
	struct pb_err err;
	struct fake f = { 0 };
	char spec[100];
	int64_t t0, dt;

	CHECK(unit_load_keys("keys/alice.asc", &list) == 0);
	/* Accepts, reads, never answers: the timeout holds. */
	CHECK(fake_start(&f, "fake-hang", 0, NULL) == 0);
	snprintf(spec, sizeof spec, "hkp://127.0.0.1:%d", f.port);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	t0 = clock_ms();
	CHECK(db->put(db, "Q17", list.keys, 1, 800, &err) == -1);
	dt = clock_ms() - t0;
	fake_stop(&f);
	CHECK_INT(err.status, PB_ETEMP);
	CHECK_MSG(dt >= 700 && dt < 30000, "timeout of 800 ms took %lld ms", (long long)dt);
	printf("# bench: test_keydb: hkp silent server, 800 ms timeout: %lld ms (target <= 2500 ms)\n",
	       (long long)dt);
	CHECK_MSG(strstr(err.msg, "imed out") != NULL, "%s", err.msg);
	db->close(db);
	pgp_keylist_free(&list);
}

static void
test_hkp_status_codes(void)
{
	/* SKS's pages for keys it refuses, from its dbserver.ml. */
#define ADDED "Key block added to key server database.\n  New public keys " \
	"added: <br>1 key(s) added successfully.<br></html></body>"
	static const struct {
		int code;
		const char *page;
		int ok;
		enum pb_status status;
		const char *says;
	} cases[] = {
		{ 200, NULL, 1, PB_OK, NULL },
		{ 202, NULL, 1, PB_OK, NULL },
		{ 400, NULL, 0, PB_EPERM, "fake says no" },
		{ 403, NULL, 0, PB_EPERM, "fake says no" },
		{ 413, NULL, 0, PB_EPERM, "fake says no" },
		{ 408, NULL, 0, PB_ETEMP, "fake says no" },
		{ 429, NULL, 0, PB_ETEMP, "fake says no" },
		{ 500, NULL, 0, PB_ETEMP, "fake says no" },
		{ 503, NULL, 0, PB_ETEMP, "fake says no" },
		{ 302, NULL, 0, PB_ETEMP, "fake says no" },
		{ 200, "<html><body>Add failed: identical key already exists in "
		  "database<br></html></body>", 1, PB_OK, NULL },
		{ 200, "<html><body>Add failed: Malformed Key --- unexpected packet "
		  "type and/or order of packets<br>" ADDED, 0, PB_EPERM,
		  "Add failed: Malformed Key" },
		{ 200, "<html><body>Add failed: This is a stand-alone revocation "
		  "certificate.</html></body>", 0, PB_EPERM, "stand-alone" },
		{ 200, "<html><body>Add failed<br>" ADDED, 0, PB_ETEMP,
		  "Add failed" },
	};
	struct pgp_keylist list = { 0 };

	CHECK(unit_load_keys("keys/alice.asc", &list) == 0);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct fake f = { 0 };
		struct keydb *db;
		struct pb_err err;
		char spec[100], name[32];
		size_t len;
		char *head;

		snprintf(name, sizeof name, "fake-%zu", i);
		CHECK(fake_start(&f, name, cases[i].code, cases[i].page) == 0);
		snprintf(spec, sizeof spec, "hkp://127.0.0.1:%d", f.port);
		CHECK_OK(keydb_open(spec, &db, &err), &err);
		int rc = db->put(db, "Q18", list.keys, 1, 5000, &err);
		fake_stop(&f);
		db->close(db);
		if (cases[i].ok) {
			CHECK_MSG(rc == 0, "HTTP %d: %s", cases[i].code, err.msg);
		} else {
			CHECK_MSG(rc == -1, "HTTP %d taken as success", cases[i].code);
			CHECK_MSG(err.status == cases[i].status, "HTTP %d: status %d: %s",
				  cases[i].code, err.status, err.msg);
			/* The server's page, tags stripped, for the log. */
			CHECK_MSG(strstr(err.msg, cases[i].says) != NULL, "%s", err.msg);
		}
		CHECK_INT(fake_requests(&f), 1);
		head = fake_file(&f, "head", 1, &len);
		CHECK(head != NULL);
		CHECK(strncmp(head, "POST /pks/add HTTP/1.1\r\n", 24) == 0);
		CHECK(strcasestr(head, "\nExpect:") == NULL);
		CHECK(strcasestr(head, "application/x-www-form-urlencoded") != NULL);
		free(head);
	}
	pgp_keylist_free(&list);
}

static void
test_hkp_body_and_batches(void)
{
	struct pgp_keylist list = { 0 };
	struct fake f = { 0 };
	struct keydb *db;
	struct pb_err err;
	struct buf got = BUF_INIT, want = BUF_INIT;
	char spec[100];
	size_t len, dlen, total_raw = 0;
	char *data;
	int n;

	/* Enough of Debian's keyring for several 4 MB bodies. */
	data = unit_read_file("/usr/share/keyrings/debian-keyring.gpg", &len);
	CHECK(data != NULL);
	struct pgp_limits lim = { 4u << 20, 400 };
	pgp_split_keys((unsigned char *)data, len, &lim, &list);
	free(data);
	CHECK_INT(list.nkeys, 400);
	for (size_t i = 0; i < list.nkeys; i++) {
		buf_append(&want, list.keys[i].data, list.keys[i].len);
		total_raw += list.keys[i].len;
	}
	CHECK(total_raw > 8u << 20);

	CHECK(fake_start(&f, "fake-batches", 200, NULL) == 0);
	snprintf(spec, sizeof spec, "hkp://127.0.0.1:%d/", f.port);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	CHECK_OK(db->put(db, "Q19", list.keys, list.nkeys, 60000, &err), &err);
	fake_stop(&f);
	db->close(db);

	n = fake_requests(&f);
	CHECK_MSG(n >= 3, "%d requests for %zu bytes", n, total_raw);
	for (int i = 1; i <= n; i++) {
		char *body = fake_file(&f, "body", i, &len);

		CHECK(body != NULL);
		CHECK_MSG(len <= 4u << 20, "body %d: %zu bytes", i, len);
		/* Not much under it either: batches are filled. */
		if (i < n)
			CHECK_MSG(len > 3u << 20, "body %d: only %zu bytes", i, len);
		CHECK(strncmp(body, "keytext=", 8) == 0);
		CHECK_MSG(pct_decode(body + 8, len - 8, &dlen) == 0,
			  "body %d: unencoded byte", i);
		body[8 + dlen] = '\0';
		int blocks = 0;
		armor_scan(body + 8, dlen, 16u << 20, count_blocks, &blocks);
		CHECK_INT(blocks, 1);
		armor_scan(body + 8, dlen, 16u << 20, collect_blocks, &got);
		free(body);
	}
	/* Every key once, in order. */
	CHECK_INT(got.len, want.len);
	CHECK(memcmp(got.data, want.data, want.len) == 0);
	buf_free(&got);
	buf_free(&want);
	pgp_keylist_free(&list);
}

static void
test_hkp_key_too_big(void)
{
	struct pgp_keylist list = { 0 };
	struct fake f = { 0 };
	struct keydb *db;
	struct pb_err err;
	struct pgp_key set[3], big = { 0 };
	struct buf got = BUF_INIT, want = BUF_INIT;
	char spec[100];
	size_t len, dlen;
	char *body;

	CHECK(unit_load_keys("keys/alice.asc", &list) == 0);
	CHECK(unit_load_keys("keys/bob.asc", &list) == 0);
	big.len = 3u << 20;	/* about 4.4 MB once armored and encoded */
	big.data = calloc(1, big.len);
	strcpy(big.fpr_hex, "B16B16B16B16B16B16B16B16B16B16B16B16B16B");
	set[0] = list.keys[0];
	set[1] = big;
	set[2] = list.keys[1];
	CHECK(fake_start(&f, "fake-big", 200, NULL) == 0);
	snprintf(spec, sizeof spec, "hkp://127.0.0.1:%d", f.port);
	CHECK_OK(keydb_open(spec, &db, &err), &err);
	CHECK(db->put(db, "Q20", set, 3, 20000, &err) == -1);
	fake_stop(&f);
	db->close(db);
	CHECK_INT(err.status, PB_EPERM);
	CHECK_MSG(strstr(err.msg, big.fpr_hex) != NULL, "%s", err.msg);
	/* The others still went out. */
	CHECK_INT(fake_requests(&f), 2);
	for (int i = 1; i <= 2; i++) {
		body = fake_file(&f, "body", i, &len);
		CHECK(body != NULL && pct_decode(body + 8, len - 8, &dlen) == 0);
		armor_scan(body + 8, dlen, 16u << 20, collect_blocks, &got);
		free(body);
	}
	buf_append(&want, list.keys[0].data, list.keys[0].len);
	buf_append(&want, list.keys[1].data, list.keys[1].len);
	CHECK_INT(got.len, want.len);
	CHECK(memcmp(got.data, want.data, want.len) == 0);
	free(big.data);
	buf_free(&got);
	buf_free(&want);
	pgp_keylist_free(&list);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "keydb_open dispatch and specs", test_open_dispatch },
		{ "what each backend does: merges, reports refusals", test_does },
		{ "put, then held [gnupg]", scenario_put_gnupg },
		{ "put, then held [sks]", scenario_put_sks },
		{ "put, then held [hkp]", scenario_put_hkp },
		{ "unavailable is PB_ETEMP [gnupg]", scenario_unavailable_gnupg },
		{ "unavailable is PB_ETEMP [sks]", scenario_unavailable_sks },
		{ "unavailable is PB_ETEMP [hkp]", scenario_unavailable_hkp },
		{ "refused key is PB_EPERM [gnupg]", scenario_refused_gnupg },
		{ "refused key is PB_EPERM [hkp]", scenario_refused_hkp },
		{ "lookups of the mail commands [gnupg]", scenario_lookup_gnupg },
		{ "lookups of the mail commands [hkp]", scenario_lookup_hkp },
		{ "lookups of the mail commands [sks]", scenario_lookup_sks },
		{ "sks: HKP address from BASEDIR/sksconf", test_sks_hkp_address },
		{ "gnupg: the home it makes", test_gnupg_home },
		{ "gnupg: locked keyring times out", test_gnupg_locked_keyring },
		{ "gnupg: a keybox a killed gpg renamed away is put back",
		  test_gnupg_keybox_renamed_away },
		{ "gnupg: as nobody; unwritable home", test_gnupg_nobody },
		{ "sks: one durable file, one armor block", test_sks_spool_file },
		{ "sks: a missing messages/ is not made", test_sks_missing_spool_not_made },
		{ "sks: unwritable messages/ is PB_ETEMP", test_sks_unwritable_spool },
		{ "hkp: SKS's generic refusal is PB_ETEMP", test_hkp_generic_refusal },
		{ "hkp: server silent", test_hkp_silent_server },
		{ "hkp: HTTP status mapping", test_hkp_status_codes },
		{ "hkp: encoding and 4 MB batches", test_hkp_body_and_batches },
		{ "hkp: key too big for one request", test_hkp_key_too_big },
		{ NULL, NULL },
	};
	int rc;

	/* SKS is started by a shell that exits at once: be the one its db
	 * process (and gpg, which GPGME detaches) reports to, so that they
	 * are reaped here instead of lingering as zombies of a PID 1 that
	 * may never reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	rc = unit_run(argc, argv, "keydb", tests);
	if (sks_up)
		sks_lib("sks_stop", sks_base, NULL, NULL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return rc;
}
