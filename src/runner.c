/*
 * runner.c - the queue runner (see runner.h).
 */
#include "runner.h"
#include "deliver.h"
#include "sdnotify.h"
#include "dedup.h"
#include "log.h"
#include "queue.h"
#include "spool.h"
#include "xalloc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64			/* due entries looked at per pass */
#define DELIVER_BATCH_BYTES (8u << 20)	/* payload per delivery batch */
#define DELIVERY_TIMEOUT_MS 30000
#define MAX_SLEEP_SECS 60
#define CHECKPOINT_EVERY 60
#define EXPIRE_EVERY 3600

/* Set by signal handlers, read by the loop: the only way a handler can
 * talk to it.  Signals are blocked except inside ppoll(), so a signal
 * never slips in between checking these and going to sleep. */
static volatile sig_atomic_t stop_requested, reload_requested;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
on_hup(int sig)
{
	(void)sig;
	reload_requested = 1;
}

static void
drain_fd(int fd)
{
	char buf[512];

	while (read(fd, buf, sizeof buf) > 0)
		;
}

/* run_due - one pass over what is due; *progress set if anything was
 * actually attempted (entries leased elsewhere are skipped).  Inbound
 * entries are delivered in batches bounded by DELIVER_BATCH_BYTES. */
static int
run_due(struct spool *sp, struct deliverer *d, int64_t now, int *progress,
	int *more, struct pb_err *err)
{
	char (*ids)[QID_LEN + 1];
	const char **batch;
	enum deliver_outcome *outs;
	size_t n, nb = 0;
	uint64_t bytes = 0;

	*progress = 0;
	*more = 0;
	if (queue_due_ids(sp, NULL, now, BATCH, &ids, &n, err) != 0)
		return -1;
	*more = n == BATCH;
	batch = xcalloc(n + 1, sizeof *batch);
	outs = xcalloc(n + 1, sizeof *outs);
	for (size_t i = 0; i <= n && !stop_requested; i++) {
		struct q_entry e;
		struct pb_err derr;
		int flush = i == n;

		if (!flush) {
			if (queue_get(sp, NULL, ids[i], 0, &e, &derr) != 0)
				continue;
			if (e.dir == Q_INBOUND) {
				flush = nb > 0 && bytes + e.payload_len > DELIVER_BATCH_BYTES;
			}
		}
		if (flush && nb) {
			if (deliver_inbound_batch(d, batch, nb, 0, DELIVERY_TIMEOUT_MS,
						  outs, &derr) != 0)
				log_warning(NULL, "delivery of %zu entries from "
					    "%s on: %s", nb, batch[0], derr.msg);
			for (size_t k = 0; k < nb; k++)
				if (outs[k] != DELIVER_SKIPPED)
					*progress = 1;
			nb = 0;
			bytes = 0;
		}
		if (i == n)
			break;
		if (e.dir == Q_INBOUND) {
			batch[nb++] = ids[i];
			bytes += e.payload_len;
		}
		q_entry_free(&e);
	}
	free(batch);
	free(outs);
	free(ids);
	return 0;
}

static int
reload(struct config *cfg, const struct runner_opts *o)
{
	struct config fresh;
	struct pb_err err;

	if (cmd_load_config(o->ctx, &fresh, &err) != 0) {
		log_error(NULL, "reload failed, keeping the old configuration: %s",
			  err.msg);
		return -1;
	}
	if (strcmp(fresh.spool_dir, cfg->spool_dir) != 0) {
		log_error(NULL, "reload: spool_dir cannot change while running "
			  "(restart instead); keeping %s", cfg->spool_dir);
		free(fresh.spool_dir);
		fresh.spool_dir = xstrdup(cfg->spool_dir);
	}
	config_free(cfg);
	*cfg = fresh;
	log_set_dest(cfg->log_dest);
	log_info(NULL, "configuration reloaded from %s",
		 cfg->path ? cfg->path : "built-in defaults");
	return 0;
}

int
runner_run(struct config *cfg, const struct runner_opts *o, struct pb_err *err)
{
	struct spool *sp;
	struct deliverer *d;
	struct sigaction sa;
	sigset_t block, empty;
	int wake_fd = -1, rc = 0;
	int64_t last_checkpoint = 0, last_expire = 0;

	if (spool_open(cfg->spool_dir, &sp, err) != 0)
		return -1;
	if (!o->once && (wake_fd = spool_wake_fd(sp, err)) < 0) {
		spool_close(sp);
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigemptyset(&empty);

	d = deliver_open(sp, cfg);
	if (!o->once) {
		log_info(NULL, "runner started: spool=%s, keydb=%s", cfg->spool_dir,
			 cfg->keydb);
		/* systemd Type=notify: the spool is open and the FIFO listens,
		 * so whatever is queued from now on will be seen. */
		if (sd_notify_send("READY=1\nSTATUS=delivering") < 0)
			log_warning(NULL, "sd_notify: %s", strerror(errno));
	}
	while (!stop_requested) {
		int64_t now = spool_now(), next;
		int progress, more;
		struct timespec ts;
		struct pollfd pfd;

		if (reload_requested) {
			reload_requested = 0;
			if (reload(cfg, o) == 0) {
				deliver_close(d);
				d = deliver_open(sp, cfg);
			}
		}
		if (run_due(sp, d, now, &progress, &more, err) != 0) {
			log_error(NULL, "queue scan: %s", err->msg);
			if (o->once) {
				rc = -1;
				break;
			}
		}
		if (now - last_checkpoint >= CHECKPOINT_EVERY) {
			spool_checkpoint(sp, 0);
			last_checkpoint = now;
		}
		if (now - last_expire >= EXPIRE_EVERY) {
			size_t n = 0;
			struct pb_err xerr;

			if (dedup_expire(sp, now, cfg->dedup_ttl, &n, &xerr) != 0)
				log_warning(NULL, "dedup expiry: %s", xerr.msg);
			else if (n)
				log_info(NULL, "dedup: expired %zu records", n);
			last_expire = now;
		}
		if (more && progress)
			continue;
		if (o->once)
			break;

		/* Sleep until the next due entry, a wakeup, or a signal. */
		if (queue_next_due(sp, NULL, &next, err) != 0)
			next = 0;
		now = spool_now();
		if (next == 0 || next - now > MAX_SLEEP_SECS)
			ts.tv_sec = MAX_SLEEP_SECS;
		else if (next > now)
			ts.tv_sec = next - now;
		else
			ts.tv_sec = progress ? 0 : 1;	/* leased elsewhere */
		ts.tv_nsec = 0;
		pfd.fd = wake_fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (ppoll(&pfd, 1, &ts, &empty) > 0)
			drain_fd(wake_fd);
	}
	if (stop_requested) {
		log_info(NULL, "runner stopping on signal");
		sd_notify_send("STOPPING=1");
	}
	deliver_close(d);
	spool_checkpoint(sp, 1);
	if (wake_fd >= 0)
		close(wake_fd);
	spool_close(sp);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	return rc;
}
