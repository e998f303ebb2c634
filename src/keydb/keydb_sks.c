/*
 * keydb_sks.c - the sks:BASEDIR key database: drop the keys into SKS's
 * inbound spool BASEDIR/messages, as sks_add_mail does, but durably.
 *
 * What SKS does with the spool (mailsync.ml, SKS 1.1.6): every 10 s the db
 * server lists messages/, takes each "*.ready" file, reads all of it (no
 * size limit), decodes the FIRST public key armor block in it (a second
 * block is ignored, but one block may hold many keys), merges the keys
 * with newkey=false so they are not mailsynced back out, and deletes the
 * file; a file it cannot decode moves to failed_messages/.  So each put()
 * writes exactly one file holding one armor block with all the keys.
 *
 * Write order (after OpenSMTPD's queue_fs.c): O_EXCL temp file whose name
 * does not end in ".ready" (SKS ignores it), write, fsync, close, link to
 * "pksbridge-QID-N.ready" (link fails instead of replacing a file of that
 * name, unlike rename), unlink the temp name, fsync the directory.  Any
 * failure removes the temp file and is PB_ETEMP.
 *
 * We never create messages/: SKS ignores a missing spool directory
 * silently, so creating one under a mistyped BASEDIR would swallow every
 * key.  A missing directory is PB_ETEMP with a message saying where we
 * looked, and nothing is lost.
 *
 * A large file is fine for SKS, but it answers no HKP request while it
 * merges one (about 400 keys/s); batches are the queue runner's business.
 *
 * Lookups go to that SKS's HKP port, through the hkp:// backend.  Where
 * it listens is in its sksconf (hkp_address, hkp_port), and where that
 * file is depends on how SKS was laid out: BASEDIR/sksconf (upstream
 * SKS keeps everything in its base directory); else, when BASEDIR is
 * PREFIX/var/spool/sks (Debian's sks, and its -basedir layout, which
 * joins every path to the base), PREFIX/etc/sks/sksconf; else, or when
 * the file names no address, SKS's own defaults, 127.0.0.1 and 11371.
 * The first address of hkp_address is used; a wildcard one (0.0.0.0,
 * ::) means the loopback address.  The file is read at the first lookup,
 * so a running SKS's changes are seen by the next process.
 */
#include "keydb/keydb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "openpgp/armor.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#define MAX_SEQ 10000	/* pksbridge-QID-N.ready names tried per put */
#define SKS_HKP_DEFAULT_ADDR "127.0.0.1"
#define SKS_HKP_DEFAULT_PORT 11371
#define DEBIAN_SPOOL "/var/spool/sks"
#define SKSCONF_MAX (256u << 10)

struct sks_db {
	struct keydb db;
	char *basedir;
	char *msgdir;
	struct keydb *hkp;	/* its HKP interface, from the first lookup */
};

/* safe_qid - the queue id as a file name component: SKS lists the
 * directory and we build paths, so only [A-Za-z0-9._-], no leading dot,
 * at most 64 characters.  Caller frees. */
static char *
safe_qid(const char *qid)
{
	size_t len = qid ? strnlen(qid, 64) : 0;
	char *s;

	if (len == 0)
		return xstrdup("noqid");
	s = xstrndup(qid, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      (c == '.' && i > 0)))
			s[i] = '_';
	}
	return s;
}

static int
write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* publish - give the complete temp file its ".ready" name without ever
 * replacing another file. */
static int
publish(const char *msgdir, const char *tmp, const char *qid, char **name_r,
	struct pb_err *err)
{
	for (unsigned seq = 1; seq <= MAX_SEQ; seq++) {
		char *final = xasprintf("%s/pksbridge-%s-%u.ready", msgdir, qid, seq);

		if (link(tmp, final) == 0) {
			*name_r = final;
			return 0;
		}
		if (errno == EEXIST) {
			free(final);
			continue;
		}
		if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP ||
		    errno == EMLINK) {
			/* A file system without hard links: rename, after
			 * checking that the name is free (best effort). */
			struct stat st;

			if (lstat(final, &st) == 0) {
				free(final);
				continue;
			}
			if (rename(tmp, final) == 0) {
				*name_r = final;
				return 0;
			}
		}
		pb_err_set(err, PB_ETEMP, "naming %s: %s", final, strerror(errno));
		free(final);
		return -1;
	}
	return pb_err_set(err, PB_ETEMP, "%s: no free pksbridge-%s-N.ready name",
			  msgdir, qid);
}

/* Streaming armor straight into the file: a 16 MB mail's keys are never
 * concatenated or held as text in memory. */
static int
out_fd(void *ctx, const char *text, size_t len)
{
	return write_all(*(int *)ctx, (const unsigned char *)text, len);
}

static int
sks_put(struct keydb *db, const char *qid, const struct pgp_key *keys,
	size_t n, int timeout_ms, struct pb_err *err)
{
	struct sks_db *s = db->priv;
	struct buf text = BUF_INIT;
	struct armor_writer w;
	char *q = NULL, *tmp = NULL, *name = NULL;
	struct stat st;
	int fd = -1, dfd = -1, ret = -1;

	(void)timeout_ms;	/* local file writes only */
	if (n == 0)
		return 0;
	if (stat(s->msgdir, &st) != 0)
		return pb_err_set(err, PB_ETEMP, "SKS spool %s: %s (is %s SKS's "
				  "spool directory?)", s->msgdir, strerror(errno),
				  s->basedir);
	if (!S_ISDIR(st.st_mode))
		return pb_err_set(err, PB_ETEMP, "SKS spool %s is not a directory",
				  s->msgdir);

	q = safe_qid(qid);
	/* SKS skips everything before the BEGIN line: a note for whoever
	 * finds the file in failed_messages/. */
	buf_printf(&text, "X-Pksbridge-Queue-Id: %s\nX-Pksbridge-Keys: %zu\n\n",
		   q, n);

	tmp = xasprintf("%s/.pksbridge-%s-%ld.tmp", s->msgdir, q, (long)getpid());
	for (int attempt = 0; attempt < 2; attempt++) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			  0644);
		if (fd >= 0 || errno != EEXIST)
			break;
		/* Left by a crashed process that had our pid: ours now. */
		unlink(tmp);
	}
	if (fd < 0) {
		pb_err_set(err, PB_ETEMP, "creating %s: %s", tmp, strerror(errno));
		goto fail_nofile;
	}
	/* SKS may run as another user than the MTA's pipe user, and
	 * spool_open() narrowed our umask for the Berkeley DB files: set
	 * the mode SKS's own sks_add_mail leaves (0644) explicitly. */
	if (fchmod(fd, 0644) != 0) {
		pb_err_set(err, PB_ETEMP, "chmod %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (write_all(fd, text.data, text.len) != 0) {
		pb_err_set(err, PB_ETEMP, "writing %s: %s", tmp, strerror(errno));
		goto fail;
	}
	/* The armor after the note: the writer flushes as it goes. */
	armor_writer_begin(&w, out_fd, &fd);
	for (size_t i = 0; i < n; i++)
		armor_writer_add(&w, keys[i].data, keys[i].len);
	if (armor_writer_end(&w) != 0) {
		pb_err_set(err, PB_ETEMP, "writing %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (fsync(fd) != 0) {
		pb_err_set(err, PB_ETEMP, "fsync %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		pb_err_set(err, PB_ETEMP, "closing %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (publish(s->msgdir, tmp, q, &name, err) != 0)
		goto fail;
	unlink(tmp);	/* gone already if publish had to rename */
	dfd = open(s->msgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		/* The .ready file exists and SKS may take it; a retry only
		 * merges the same keys again. */
		pb_err_set(err, PB_ETEMP, "fsync %s: %s", s->msgdir, strerror(errno));
		goto out;
	}
	log_info(qid, "keydb=sks:%s, keys=%zu, file=%s", s->basedir, n,
		 strrchr(name, '/') + 1);
	ret = 0;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
fail_nofile:
out:
	if (dfd >= 0)
		close(dfd);
	free(name);
	free(tmp);
	free(q);
	buf_free(&text);
	return ret;
}

/* sksconf_value - the value of key in the sksconf text (a "#" anywhere
 * starts a comment, as SKS reads it), trimmed, into out; 0 if found. */
static int
sksconf_value(const char *text, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n'), *v, *end;
		size_t n;

		if (!eol)
			eol = p + strlen(p);
		end = memchr(p, '#', (size_t)(eol - p));
		if (!end)
			end = eol;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(end - p) > klen && strncmp(p, key, klen) == 0) {
			v = p + klen;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			if (v < end && *v == ':') {
				v++;
				while (v < end && (*v == ' ' || *v == '\t'))
					v++;
				while (end > v && (end[-1] == ' ' || end[-1] == '\t' ||
						   end[-1] == '\r'))
					end--;
				n = (size_t)(end - v);
				if (n > 0 && n < outlen) {
					memcpy(out, v, n);
					out[n] = '\0';
					return 0;
				}
			}
		}
		p = *eol ? eol + 1 : eol;
	}
	return -1;
}

/* read_small - the whole file at path (at most SKSCONF_MAX bytes) as a
 * string, or NULL. */
static char *
read_small(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text;
	size_t n;

	if (!f)
		return NULL;
	text = xmalloc(SKSCONF_MAX + 1);
	n = fread(text, 1, SKSCONF_MAX, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

/* hkp_url - "hkp://ADDR:PORT" of this SKS (see the top of the file);
 * *from_r says which file it came from (or "defaults").  Caller frees. */
static char *
hkp_url(const struct sks_db *s, char *from, size_t fromlen)
{
	char addr[256] = SKS_HKP_DEFAULT_ADDR, port[16], *text = NULL;
	char path[4096];
	size_t bl = strlen(s->basedir), dl = strlen(DEBIAN_SPOOL);
	unsigned long p = SKS_HKP_DEFAULT_PORT;
	char *end;

	snprintf(path, sizeof path, "%s/sksconf", s->basedir);
	text = read_small(path);
	if (!text && bl >= dl && strcmp(s->basedir + bl - dl, DEBIAN_SPOOL) == 0) {
		snprintf(path, sizeof path, "%.*s/etc/sks/sksconf",
			 (int)(bl - dl), s->basedir);
		text = read_small(path);
	}
	snprintf(from, fromlen, "%s", text ? path : "SKS's defaults");
	if (text) {
		char a[256];

		if (sksconf_value(text, "hkp_address", a, sizeof a) == 0) {
			size_t n = strcspn(a, " \t,");

			a[n] = '\0';
			if (strcmp(a, "0.0.0.0") == 0)
				snprintf(addr, sizeof addr, "127.0.0.1");
			else if (strcmp(a, "::") == 0)
				snprintf(addr, sizeof addr, "::1");
			else
				snprintf(addr, sizeof addr, "%s", a);
		}
		if (sksconf_value(text, "hkp_port", port, sizeof port) == 0) {
			unsigned long v = strtoul(port, &end, 10);

			if (*end == '\0' && v > 0 && v <= 65535)
				p = v;
		}
		free(text);
	}
	return strchr(addr, ':') ? xasprintf("hkp://[%s]:%lu", addr, p)
				 : xasprintf("hkp://%s:%lu", addr, p);
}

/* hkp_ready - the HKP interface of this SKS, made at first use. */
static int
hkp_ready(struct sks_db *s, struct pb_err *err)
{
	char from[4200];

	if (!s->hkp) {
		char *url = hkp_url(s, from, sizeof from);

		if (keydb_hkp_init(url, &s->hkp, err) != 0) {
			pb_err_prefix(err, "SKS's HKP address %s (from %s): ", url,
				      from);
			free(url);
			return -1;
		}
		free(url);
	}
	return 0;
}

static int
sks_lookup(struct keydb *db, const struct keydb_query *q,
	   struct keydb_answer *a, int timeout_ms, struct pb_err *err)
{
	struct sks_db *s = db->priv;

	memset(a, 0, sizeof *a);
	if (hkp_ready(s, err) != 0)
		return -1;
	return s->hkp->lookup(s->hkp, q, a, timeout_ms, err);
}

static int
sks_prepare(struct keydb *db, struct pb_err *err)
{
	struct sks_db *s = db->priv;

	if (hkp_ready(s, err) != 0)
		return -1;
	return s->hkp->prepare(s->hkp, err);
}

static void
sks_close(struct keydb *db)
{
	struct sks_db *s;

	if (!db)
		return;
	s = db->priv;
	if (s->hkp)
		s->hkp->close(s->hkp);
	free((char *)db->name);
	free(s->basedir);
	free(s->msgdir);
	free(s);
}

int
keydb_sks_init(const char *basedir, struct keydb **db_r, struct pb_err *err)
{
	struct sks_db *s;
	size_t len;

	*db_r = NULL;
	if (basedir == NULL || basedir[0] == '\0')
		return pb_err_set(err, PB_ECONFIG, "sks: no directory");
	s = xcalloc(1, sizeof *s);
	s->basedir = xstrdup(basedir);
	len = strlen(s->basedir);
	while (len > 1 && s->basedir[len - 1] == '/')
		s->basedir[--len] = '\0';
	s->msgdir = xasprintf("%s/messages", s->basedir);
	s->db.name = xasprintf("sks:%s", s->basedir);
	/* SKS merges what its messages/ spool holds (so a delta too) about
	 * ten seconds later, and tells nobody what it refused. */
	s->db.does = KEYDB_MERGES;
	s->db.put = sks_put;
	s->db.lookup = sks_lookup;
	s->db.prepare = sks_prepare;
	s->db.close = sks_close;
	s->db.priv = s;
	*db_r = &s->db;
	return 0;
}
