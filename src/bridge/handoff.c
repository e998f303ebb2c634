/*
 * handoff.c - who delivers right after a commit (see handoff.h).
 */
#include "bridge/delivery.h"
#include "bridge/handoff.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAKE_FIFO "wakeup"
#define INLINE_LOCK "inline.lock"
/* The inline attempt is bounded well inside the filter's own watchdog. */
#define INLINE_TIMEOUT_MS 10000

static void
spool_file(const struct spool *sp, const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", spool_dir(sp), name);
}

/* runner_fd - the FIFO's write end if a runner has it open, else -1. */
static int
runner_fd(const struct spool *sp)
{
	char path[4096];

	spool_file(sp, WAKE_FIFO, path, sizeof path);
	/* ENXIO: no reader, so no runner. */
	return open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
}

/* nudge - one byte to the runner: 1 if it will hear it. */
static int
nudge(int fd)
{
	/* EAGAIN: the FIFO is full of wakeups already, so the runner has
	 * plenty to wake up for. */
	if (write(fd, "w", 1) < 0 && errno != EAGAIN) {
		log_debug(NULL, "wakeup write: %s", strerror(errno));
		return 0;
	}
	return 1;
}

/* inline_slot - an flock on inline.lock, never waited for: the fd that
 * holds it, or -1 if another filter has it. */
static int
inline_slot(const struct spool *sp)
{
	char path[4096];
	int fd;

	spool_file(sp, INLINE_LOCK, path, sizeof path);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, (mode_t)spool_file_mode(sp));
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void
handoff_begin(struct handoff *h, const struct spool *sp)
{
	h->runner_fd = runner_fd(sp);
	h->slot_fd = h->runner_fd >= 0 ? -1 : inline_slot(sp);
}

int
handoff_lease_secs(const struct handoff *h)
{
	return h->slot_fd >= 0 ?
		delivery_lease_secs(DELIVERY_KEYDB, INLINE_TIMEOUT_MS) : 0;
}

void
handoff_cancel(struct handoff *h)
{
	if (h->runner_fd >= 0)
		close(h->runner_fd);
	if (h->slot_fd >= 0)
		close(h->slot_fd);
	h->runner_fd = h->slot_fd = -1;
}

/* deliver_inline - the one attempt a filter makes when no runner
 * listens, at entry id of kind.  With the slot the entry is leased to us
 * already; without it the attempt claims it like any other process
 * would.  A runner started meanwhile retries what is not done sooner. */
static void
deliver_inline(struct deliverer *d, struct spool *sp, enum delivery_kind kind,
	       const char *id)
{
	enum q_state st;
	struct pb_err err;

	if (delivery_run(d, kind, &id, 1, INLINE_TIMEOUT_MS, &st, &err) != 0) {
		log_warning(id, "inline %s: %s", kind == DELIVERY_REPLY ? "reply" :
			    "delivery", err.msg);
		st = QS_DEFERRED;
	}
	if (st != QS_DONE)
		handoff_wake(sp);
}

void
handoff_after_commit(struct handoff *h, struct spool *sp,
		     const struct config *cfg, const char *inbound_id,
		     const char *reply_id, int outbound)
{
	/* One wakeup covers the inbound entry and the outbound ones. */
	int heard = h->runner_fd >= 0 && (inbound_id || reply_id || outbound) &&
		    nudge(h->runner_fd);

	if (h->runner_fd >= 0) {
		close(h->runner_fd);
		h->runner_fd = -1;
	}
	/* Without a runner nobody else would deliver: then deliver anyway,
	 * the keys first (an ADD's reply waits for them). */
	if ((inbound_id || reply_id) && !heard) {
		struct deliverer *d = deliverer_open(sp, cfg);

		if (inbound_id)
			deliver_inline(d, sp, DELIVERY_KEYDB, inbound_id);
		if (reply_id)
			deliver_inline(d, sp, DELIVERY_REPLY, reply_id);
		deliverer_close(d);
	}
	if (outbound && !heard)
		handoff_wake(sp);
	handoff_cancel(h);
}

int
handoff_wake(const struct spool *sp)
{
	int fd = runner_fd(sp), heard;

	if (fd < 0)
		return 0;
	heard = nudge(fd);
	close(fd);
	return heard;
}

int
handoff_listen(const struct spool *sp, struct pb_err *err)
{
	char path[4096];
	struct stat st;
	int fd;

	spool_file(sp, WAKE_FIFO, path, sizeof path);
	if (mkfifo(path, (mode_t)spool_file_mode(sp)) != 0 && errno != EEXIST)
		return pb_err_set(err, PB_EIO, "mkfifo %s: %s", path,
				  strerror(errno));
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return pb_err_set(err, PB_EIO, "open %s: %s", path,
				  strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
		close(fd);
		return pb_err_set(err, PB_EIO, "%s: not a FIFO", path);
	}
	return fd;
}
