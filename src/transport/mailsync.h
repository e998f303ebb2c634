/*
 * mailsync.h - the PKS peers, from a file in SKS's mailsync format: one
 * email address per line, '#' starts a comment, blank lines ignored, a
 * line without '@' ignored.  The file is re-read when it changes, so an
 * operator can edit it under a running runner.
 */
#ifndef PB_MAILSYNC_H
#define PB_MAILSYNC_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "util/err.h"

struct mailsync {
	char **peers;		/* bare addresses, lower-cased, no duplicates */
	size_t n;
	int loaded;
	dev_t dev;		/* what was read, to notice a change */
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* mailsync_load - read path unless it is unchanged since the last load.
 * A missing file means no peers (SKS ships an empty one); an unreadable
 * one is PB_ECONFIG.  ms starts zeroed; release with mailsync_free. */
int mailsync_load(struct mailsync *ms, const char *path, struct pb_err *err);

/* mailsync_parse - replace the peers with those in text (for tests). */
void mailsync_parse(struct mailsync *ms, const char *text, size_t len);

/* mailsync_has - is addr (any case) one of the peers? */
int mailsync_has(const struct mailsync *ms, const char *addr);

void mailsync_free(struct mailsync *ms);

#endif
