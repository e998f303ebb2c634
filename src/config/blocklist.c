/*
 * blocklist.c - blocklist_file read into a sorted array of fingerprints
 * (see blocklist.h).
 */
#include "config/blocklist.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static int
entry_cmp(const void *a, const void *b)
{
	const struct blocklist_entry *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->fpr, y->fpr, x->len);
}

/* sort_unique - sort, and drop repeated fingerprints. */
static void
sort_unique(struct blocklist *bl)
{
	size_t w = 0;

	if (bl->n == 0)
		return;		/* qsort's base may not be NULL, even for 0 */
	qsort(bl->e, bl->n, sizeof *bl->e, entry_cmp);
	for (size_t i = 0; i < bl->n; i++)
		if (w == 0 || entry_cmp(&bl->e[w - 1], &bl->e[i]) != 0)
			bl->e[w++] = bl->e[i];
	bl->n = w;
}

void
blocklist_add(struct blocklist *bl, const unsigned char *fpr, size_t fpr_len)
{
	struct blocklist_entry *e;

	if (fpr_len != 20 && fpr_len != 32)
		return;
	bl->e = xreallocarray(bl->e, bl->n + 1, sizeof *bl->e);
	e = &bl->e[bl->n++];
	memset(e, 0, sizeof *e);
	e->len = (unsigned char)fpr_len;
	memcpy(e->fpr, fpr, fpr_len);
}

void
blocklist_sort(struct blocklist *bl)
{
	sort_unique(bl);
}

int
blocklist_parse(const char *name, const char *text, size_t len,
		struct blocklist *bl, struct pb_err *err)
{
	const char *p = text, *end = text + len;
	size_t cap = bl->n, lineno = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		char line[256];
		size_t n = (size_t)(eol - p), fl;
		unsigned char fpr[PGP_FPR_MAX];
		char *s, *e;

		lineno++;
		p = nl ? nl + 1 : end;
		/* A fingerprint line is short; a longer one can only be a
		 * comment, or wrong. */
		if (n >= sizeof line) {
			const char *q = eol - n;

			while (q < eol && (*q == ' ' || *q == '\t'))
				q++;
			if (q < eol && *q == '#')
				continue;
			return pb_err_set(err, PB_ECONFIG, "%s, line %zu: line too "
					  "long for a fingerprint", name, lineno);
		}
		memcpy(line, eol - n, n);
		line[n] = '\0';
		if (memchr(line, '\0', n) != NULL)
			return pb_err_set(err, PB_ECONFIG, "%s, line %zu: NUL byte",
					  name, lineno);
		for (s = line; *s; s++) {
			if (*s == '#' && (s == line || s[-1] == ' ' ||
					  s[-1] == '\t')) {
				*s = '\0';
				break;
			}
		}
		for (s = line; *s == ' ' || *s == '\t' || *s == '\r'; s++)
			;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			*--e = '\0';
		if (*s == '\0')
			continue;
		if (pgp_fpr_from_hex(s, fpr, &fl) != 0 || (fl != 20 && fl != 32))
			return pb_err_set(err, PB_ECONFIG, "%s, line %zu: \"%.70s\" "
					  "is not a fingerprint (40 or 64 hex "
					  "digits; key IDs collide, so they are "
					  "not accepted)", name, lineno, s);
		if (bl->n == cap) {
			cap = cap ? 2 * cap : 64;
			bl->e = xreallocarray(bl->e, cap, sizeof *bl->e);
		}
		memset(&bl->e[bl->n], 0, sizeof bl->e[bl->n]);
		bl->e[bl->n].len = (unsigned char)fl;
		memcpy(bl->e[bl->n].fpr, fpr, fl);
		bl->n++;
	}
	sort_unique(bl);
	return 0;
}

int
blocklist_load(const char *path, struct blocklist *bl, struct pb_err *err)
{
	struct stat st;
	char *text;
	size_t got = 0;
	int fd, r;

	memset(bl, 0, sizeof *bl);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pb_err_set(err, PB_ECONFIG, "blocklist_file %s: cannot "
				  "open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > BLOCKLIST_MAX_FILE) {
		close(fd);
		return pb_err_set(err, PB_ECONFIG, "blocklist_file %s: not a "
				  "regular file of at most %u bytes", path,
				  BLOCKLIST_MAX_FILE);
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;

			close(fd);
			free(text);
			return pb_err_set(err, PB_ECONFIG, "blocklist_file %s: "
					  "read error: %s", path,
					  n < 0 ? strerror(e) : "short read");
		}
		got += (size_t)n;
	}
	close(fd);
	r = blocklist_parse(path, text, got, bl, err);
	free(text);
	if (r != 0)
		blocklist_free(bl);
	return r;
}

int
blocklist_contains(const struct blocklist *bl, const unsigned char *fpr,
		   size_t fpr_len)
{
	struct blocklist_entry key;

	if (bl->n == 0 || fpr_len > PGP_FPR_MAX)
		return 0;
	memset(&key, 0, sizeof key);
	key.len = (unsigned char)fpr_len;
	memcpy(key.fpr, fpr, fpr_len);
	return bsearch(&key, bl->e, bl->n, sizeof *bl->e, entry_cmp) != NULL;
}

int
blocklist_policy_fn(void *ctx, const unsigned char *fpr, size_t fpr_len)
{
	return blocklist_contains(ctx, fpr, fpr_len);
}

void
blocklist_free(struct blocklist *bl)
{
	free(bl->e);
	memset(bl, 0, sizeof *bl);
}
