/*
 * mailsync.c - the PKS peers file (see mailsync.h).
 */
#include "transport/mailsync.h"
#include "config/config.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAILSYNC_MAX (1u << 20)	/* a peers file, not a mailing list */

static void
clear(struct mailsync *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		free(ms->peers[i]);
	free(ms->peers);
	ms->peers = NULL;
	ms->n = 0;
}

int
mailsync_has(const struct mailsync *ms, const char *addr)
{
	for (size_t i = 0; i < ms->n; i++)
		if (strcasecmp(ms->peers[i], addr) == 0)
			return 1;
	return 0;
}

void
mailsync_parse(struct mailsync *ms, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	clear(ms);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		char *line = xstrndup(p, (size_t)(eol - p)), *hash, *addr;

		p = nl ? nl + 1 : end;
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		/* config_extract_addr trims, takes "Name <a@b>" or a@b, and
		 * refuses anything without an '@' or with blanks inside. */
		addr = strchr(line, '@') ? config_extract_addr(line) : NULL;
		if (addr && !mailsync_has(ms, addr)) {
			ms->peers = xreallocarray(ms->peers, ms->n + 1,
						  sizeof *ms->peers);
			ms->peers[ms->n++] = addr;
		} else {
			free(addr);
		}
		free(line);
	}
}

int
mailsync_load(struct mailsync *ms, const char *path, struct pb_err *err)
{
	struct stat st;
	char *text;
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			clear(ms);
			ms->loaded = 1;
			memset(&ms->mtime, 0, sizeof ms->mtime);
			ms->ino = 0;
			return 0;
		}
		return pb_err_set(err, PB_ECONFIG, "mailsync_file %s: %s", path,
				  strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pb_err_set(err, PB_ECONFIG, "mailsync_file %s: not a "
				  "regular file", path);
	}
	if (ms->loaded && st.st_dev == ms->dev && st.st_ino == ms->ino &&
	    st.st_size == ms->size && st.st_mtim.tv_sec == ms->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == ms->mtime.tv_nsec) {
		close(fd);
		return 0;
	}
	if (st.st_size > MAILSYNC_MAX) {
		close(fd);
		return pb_err_set(err, PB_ECONFIG, "mailsync_file %s: too large",
				  path);
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size &&
	       (n = read(fd, text + got, (size_t)st.st_size - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(text);
			close(fd);
			return pb_err_set(err, PB_ECONFIG, "mailsync_file %s: %s",
					  path, strerror(errno));
		}
		got += (size_t)n;
	}
	close(fd);
	mailsync_parse(ms, text, got);
	free(text);
	ms->loaded = 1;
	ms->dev = st.st_dev;
	ms->ino = st.st_ino;
	ms->size = st.st_size;
	ms->mtime = st.st_mtim;
	return 0;
}

void
mailsync_free(struct mailsync *ms)
{
	clear(ms);
	memset(ms, 0, sizeof *ms);
}
