/*
 * runner.c - the queue runner (see runner.h).
 *
 * Inbound entries are delivered in-process, in batches.  Outbound
 * entries are delivered per peer, each peer in a child process of its
 * own (at most MAX_PEER_CHILDREN at once): SMTP to a dead or tarpitting
 * peer then only ever holds up that peer.  A child opens its own spool
 * handle (Berkeley DB handles do not survive fork), takes leases on the
 * entries it sends, and if it is killed mid-send the leases die with it
 * and the entries stay queued.  With --once everything runs in-process,
 * peer after peer.
 *
 * Replies to mail commands go out through one more child, the reply
 * worker: every reply goes to the same relay, so there is nothing per
 * requester to keep apart, and one worker keeps one key database handle
 * for all the replies due (it sends them one after the other, and the
 * ones that arrive meanwhile, then exits).  The runner loads what the
 * key database's lookups need (libcurl: about 15 ms here) once, before
 * any worker is forked, so that no worker pays for it.
 */
#include "bridge/runner.h"
#include "keydb/keydb.h"
#include "bridge/deliver.h"
#include "bridge/handoff.h"
#include "bridge/outdeliver.h"
#include "bridge/reply.h"
#include "spool/dedup.h"
#include "spool/queue.h"
#include "spool/replylimit.h"
#include "spool/spool.h"
#include "util/log.h"
#include "util/sdnotify.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256			/* due entries looked at per pass */
#define DELIVER_BATCH_BYTES (8u << 20)	/* payload per delivery batch */
#define DELIVERY_TIMEOUT_MS 30000
#define SMTP_TIMEOUT_S 60		/* per SMTP reply */
#define MAX_PEER_CHILDREN 8
#define MAX_SLEEP_SECS 60
#define CHECKPOINT_EVERY 60
#define EXPIRE_EVERY_MAX 3600
/* A sweep that failed (typically interrupted by a spool recovery after
 * another process died) is tried again this soon, not an interval later. */
#define EXPIRE_RETRY 10
/* Watchdogs.  A process SIGKILLed inside Berkeley DB can die holding one
 * of the environment's mutexes, and a process that then needs that mutex
 * waits for ever (Berkeley DB 5.3's pthread mutexes are not robust); the
 * next process to open the environment recovers it, but cannot wake the
 * waiter.  So no pass of the runner may take longer than
 * RUNNER_WATCHDOG_SECS: the longest legitimate step is one delivery
 * batch (a gpg run over 8 MB of keys and DELIVERY_TIMEOUT_MS for the key
 * database).  Past it the runner exits 75 and systemd (Restart=) starts
 * a fresh one.  A peer child lives at most PEER_CHILD_SECS: its entries'
 * leases die with it, and the next pass starts another. */
#define RUNNER_WATCHDOG_SECS 600
#define PEER_CHILD_SECS 3600

/* Set by signal handlers, read by the loop: the only way a handler can
 * talk to it.  Signals are blocked except inside ppoll(), so a signal
 * never slips in between checking these and going to sleep. */
static volatile sig_atomic_t stop_requested, reload_requested, child_exited;

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
on_chld(int sig)
{
	(void)sig;
	child_exited = 1;
}

/* on_watchdog - a pass took longer than RUNNER_WATCHDOG_SECS: blocked
 * inside Berkeley DB (see above).  Only async-signal-safe calls. */
static void
on_watchdog(int sig)
{
	static const char msg[] = "pksbridge/run: fatal: watchdog: a queue "
		"pass took longer than the watchdog allows (blocked in the "
		"spool?); exiting so that a fresh runner recovers it\n";
	ssize_t w;

	(void)sig;
	w = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)w;
	_exit(75);
}

/* runner_leave - for spool_set_leave: the spool needs recovery and the
 * runner stayed attached to it (blocked on a dead process's mutex, or
 * in a long delivery).  run --once exits 75; the daemon runs itself
 * again in this process (the same pid, which systemd watches and its
 * leases name), with every descriptor but 0-2 closed so that none of
 * its locks survives, and with no signal blocked (this runs on the
 * watcher thread, which blocks them all).  Only if exec fails, 75. */
static void
runner_leave(void *arg)
{
	const struct runner_opts *o = arg;
	static char buf[16384];
	char *argv[256];
	sigset_t none;
	ssize_t n = 0, r;
	int fd, argc = 0;

	if (o->once)
		_exit(75);
	if ((fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC)) >= 0) {
		while (n < (ssize_t)sizeof buf - 1 &&
		       (r = read(fd, buf + n, sizeof buf - 1 - (size_t)n)) > 0)
			n += r;
		close(fd);
	}
	buf[n] = '\0';
	for (ssize_t i = 0; i < n && argc < 255; i += (ssize_t)strlen(buf + i) + 1)
		argv[argc++] = buf + i;
	argv[argc] = NULL;
	if (argc == 0)
		_exit(75);
	log_warning(NULL, "runner: starting again, to let the spool be recovered");
	close_range(3, ~0U, 0);
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	execv("/proc/self/exe", argv);
	_exit(75);
}

static void
drain_fd(int fd)
{
	char buf[512];

	while (read(fd, buf, sizeof buf) > 0)
		;
}

struct peer_child {
	pid_t pid;
	char *peer;
};

struct runner {
	struct config *cfg;
	const struct runner_opts *o;
	struct spool *sp;
	struct deliverer *d;
	int wake_fd;
	struct peer_child kids[MAX_PEER_CHILDREN];
	size_t nkids;
	pid_t reply_pid;	/* the reply worker, or 0 */
	struct keydb *warm;	/* lookups' libraries loaded (never used) */
	/* Payload per delivery batch: DELIVER_BATCH_BYTES, halved after a
	 * batch of several entries was deferred (a key database too slow
	 * for that much within DELIVERY_TIMEOUT_MS would otherwise time
	 * out on the same batch for ever: seen with a GnuPG keyring and
	 * hundreds of large keys left over after crashes), doubled back
	 * after a batch that went through. */
	uint64_t batch_bytes;
};

/* warm_up - load what the key database's lookups need, in this process,
 * for the reply workers it forks. */
static void
warm_up(struct runner *r)
{
	struct pb_err err;

	if (r->warm)
		r->warm->close(r->warm);
	r->warm = NULL;
	if (keydb_open(r->cfg->keydb, &r->warm, &err) != 0 ||
	    (r->warm->prepare && r->warm->prepare(r->warm, &err) != 0))
		log_warning(NULL, "loading the key database's lookups: %s", err.msg);
}

static int
peer_busy(const struct runner *r, const char *peer)
{
	for (size_t i = 0; i < r->nkids; i++)
		if (strcasecmp(r->kids[i].peer, peer) == 0)
			return 1;
	return 0;
}

/* reap - collect finished peer children; 1 if any finished. */
static int
reap(struct runner *r)
{
	int any = 0, status;
	pid_t pid;

	child_exited = 0;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == r->reply_pid) {
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				log_warning(NULL, "the reply worker ended with "
					    "status %d", status);
			r->reply_pid = 0;
			any = 1;
			continue;
		}
		for (size_t i = 0; i < r->nkids; i++) {
			if (r->kids[i].pid != pid)
				continue;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				log_warning(NULL, "delivery to <%s> ended with "
					    "status %d", r->kids[i].peer, status);
			free(r->kids[i].peer);
			r->kids[i] = r->kids[--r->nkids];
			any = 1;
			break;
		}
	}
	return any;
}

/* child_setup - in a fresh child of the runner: its signals as a
 * process of its own, the watchdog at secs, no wakeup FIFO. */
static void
child_setup(struct runner *r, unsigned secs)
{
	sigset_t none;

	/* The parent's handles are not ours to use or close. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGALRM, SIG_DFL);	/* the watchdog kills it */
	alarm(secs);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
}

/* send_replies - the due replies: by the reply worker (daemon mode: a
 * child, unless one runs already and will see them), or right here
 * (--once). */
static void
send_replies(struct runner *r)
{
	struct replier *rep;
	struct spool *csp;
	struct pb_err err;
	size_t n;
	pid_t pid;

	if (r->o->once) {
		rep = reply_open(r->sp, r->cfg);
		if (reply_send_due(rep, SMTP_TIMEOUT_S, RUNNER_WATCHDOG_SECS / 2, &n,
				   &err) != 0)
			log_warning(NULL, "replies: %s", err.msg);
		reply_close(rep);
		return;
	}
	if (r->reply_pid)
		return;
	pid = fork();
	if (pid < 0) {
		log_warning(NULL, "fork for the reply worker: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		int rc = 0;

		child_setup(r, PEER_CHILD_SECS);
		if (spool_open(r->cfg->spool_dir, &csp, &err) != 0) {
			log_error(NULL, "replies: %s", err.msg);
			_exit(1);
		}
		rep = reply_open(csp, r->cfg);
		if (reply_send_due(rep, SMTP_TIMEOUT_S, PEER_CHILD_SECS - 60, &n,
				   &err) != 0) {
			log_warning(NULL, "replies: %s", err.msg);
			rc = 1;
		}
		reply_close(rep);
		spool_close(csp);
		_exit(rc);
	}
	r->reply_pid = pid;
}

/* deliver_peer - send what is due for peer: in a child (daemon mode),
 * or right here (--once). */
static void
deliver_peer(struct runner *r, const char *peer)
{
	struct pb_err err;
	size_t sent;
	pid_t pid;

	if (r->o->once) {
		if (outdeliver_peer(r->sp, r->cfg, peer, SMTP_TIMEOUT_S, &sent,
				    &err) != 0)
			log_warning(NULL, "delivery to <%s>: %s", peer, err.msg);
		return;
	}
	if (peer_busy(r, peer) || r->nkids >= MAX_PEER_CHILDREN)
		return;
	pid = fork();
	if (pid < 0) {
		log_warning(NULL, "fork for <%s>: %s", peer, strerror(errno));
		return;
	}
	if (pid == 0) {
		struct spool *csp;
		int rc = 0;

		child_setup(r, PEER_CHILD_SECS);
		if (spool_open(r->cfg->spool_dir, &csp, &err) != 0) {
			log_error(NULL, "delivery to <%s>: %s", peer, err.msg);
			_exit(1);
		}
		if (outdeliver_peer(csp, r->cfg, peer, SMTP_TIMEOUT_S, &sent,
				    &err) != 0) {
			log_warning(NULL, "delivery to <%s>: %s", peer, err.msg);
			rc = 1;
		}
		spool_close(csp);
		_exit(rc);
	}
	r->kids[r->nkids].pid = pid;
	r->kids[r->nkids].peer = xstrdup(peer);
	r->nkids++;
}

/* batch_timeout_ms - the key database's time for a batch of bytes:
 * DELIVERY_TIMEOUT_MS, and more for a large one (a GnuPG keyring of a
 * few hundred keys imports Debian's keys at about 0.3 MB/s here), so
 * that the timeout catches a hung key database, not a big batch. */
static int
batch_timeout_ms(uint64_t bytes)
{
	return DELIVERY_TIMEOUT_MS + (int)(bytes / (1u << 20)) * 4000;
}

/* adapt_batch - after a batch of nb entries (bytes of payload) had the
 * outcomes outs: see batch_bytes. */
static void
adapt_batch(struct runner *r, const enum deliver_outcome *outs, size_t nb,
	    uint64_t bytes)
{
	int deferred = 0, done = 0;

	for (size_t k = 0; k < nb; k++) {
		deferred |= outs[k] == DELIVER_DEFERRED;
		done |= outs[k] == DELIVER_DONE;
	}
	if (deferred && !done && nb > 1) {
		r->batch_bytes = bytes / 2;
		log_info(NULL, "delivery batches of at most %llu KB from now on "
			 "(%zu entries, %llu KB were deferred together)",
			 (unsigned long long)(r->batch_bytes / 1024), nb,
			 (unsigned long long)(bytes / 1024));
	} else if (done && !deferred && r->batch_bytes < DELIVER_BATCH_BYTES) {
		r->batch_bytes = r->batch_bytes * 2 > DELIVER_BATCH_BYTES ?
			DELIVER_BATCH_BYTES : r->batch_bytes * 2 + 1;
	}
}

/* run_due - one pass over what is due; *progress set if anything was
 * attempted (entries leased elsewhere are skipped).  Inbound entries are
 * delivered in batches bounded by DELIVER_BATCH_BYTES; outbound ones by
 * peer. */
static int
run_due(struct runner *r, int64_t now, int *progress, int *more,
	struct pb_err *err)
{
	char (*ids)[QID_LEN + 1];
	const char **batch;
	enum deliver_outcome *outs;
	char **peers = NULL;
	size_t n, nb = 0, npeers = 0;
	uint64_t bytes = 0;
	int replies = 0;

	*progress = 0;
	*more = 0;
	if (queue_due_ids(r->sp, NULL, now, BATCH, &ids, &n, err) != 0)
		return -1;
	*more = n == BATCH;
	batch = xcalloc(n + 1, sizeof *batch);
	outs = xcalloc(n + 1, sizeof *outs);
	for (size_t i = 0; i <= n && !stop_requested; i++) {
		struct q_entry e;
		struct pb_err derr;
		int flush = i == n, inbound = 0;

		memset(&e, 0, sizeof e);
		if (!flush) {
			if (queue_get(r->sp, NULL, ids[i], 0, &e, &derr) != 0)
				continue;
			inbound = e.dir == Q_INBOUND;
			flush = inbound && nb > 0 &&
				bytes + e.payload_len > r->batch_bytes;
		}
		if (flush && nb) {
			alarm(RUNNER_WATCHDOG_SECS);
			if (deliver_inbound_batch(r->d, batch, nb,
						  batch_timeout_ms(bytes), outs,
						  &derr) != 0)
				log_warning(NULL, "delivery of %zu entries from "
					    "%s on: %s", nb, batch[0], derr.msg);
			adapt_batch(r, outs, nb, bytes);
			for (size_t k = 0; k < nb; k++)
				if (outs[k] != DELIVER_SKIPPED)
					*progress = 1;
			nb = 0;
			bytes = 0;
		}
		if (i == n)
			break;
		if (inbound) {
			batch[nb++] = ids[i];
			bytes += e.payload_len;
		} else if (e.kind == Q_KIND_REPLY) {
			replies |= !q_entry_leased_elsewhere(&e, now);
		} else if (e.peer && !q_entry_leased_elsewhere(&e, now)) {
			/* Not for a peer whose entry another live process
			 * works on (a child of a killed runner, another
			 * runner, "run --once"): its child would find nothing
			 * to claim and exit, over and over while the lease
			 * lasts. */
			int seen = 0;

			for (size_t p = 0; p < npeers && !seen; p++)
				seen = strcasecmp(peers[p], e.peer) == 0;
			if (!seen) {
				peers = xreallocarray(peers, npeers + 1,
						      sizeof *peers);
				peers[npeers++] = xstrdup(e.peer);
			}
		}
		q_entry_free(&e);
	}
	for (size_t p = 0; p < npeers; p++) {
		if (!stop_requested) {
			size_t before = r->nkids;

			alarm(RUNNER_WATCHDOG_SECS);
			deliver_peer(r, peers[p]);
			if (r->o->once || r->nkids > before)
				*progress = 1;
		}
		free(peers[p]);
	}
	if (replies && !stop_requested) {
		pid_t before = r->reply_pid;

		alarm(RUNNER_WATCHDOG_SECS);
		send_replies(r);
		if (r->o->once || (r->reply_pid && r->reply_pid != before))
			*progress = 1;
	}
	free(peers);
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

	if (config_load(&fresh, o->config_path, o->config_missing_ok, &err) != 0) {
		log_error(NULL, "reload failed, keeping the old configuration: %s",
			  err.msg);
		config_free(&fresh);
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

static void
stop_children(struct runner *r)
{
	/* Mid-send entries stay queued: their leases die with the child. */
	for (size_t i = 0; i < r->nkids; i++)
		kill(r->kids[i].pid, SIGTERM);
	if (r->reply_pid)
		kill(r->reply_pid, SIGTERM);
	while (r->nkids || r->reply_pid) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0 && errno != EINTR)
			break;
		if (pid == r->reply_pid)
			r->reply_pid = 0;
		for (size_t i = 0; i < r->nkids; i++) {
			if (r->kids[i].pid == pid) {
				free(r->kids[i].peer);
				r->kids[i] = r->kids[--r->nkids];
				break;
			}
		}
	}
}

/* expire_every - how often the dedup index and the reply buckets are
 * swept: a quarter of the shortest lifetime they hold, so that nothing
 * outlives its TTL by more than that, and at most hourly. */
static int64_t
expire_every(const struct config *cfg)
{
	int64_t t = cfg->dedup_ttl / 4;

	if (cfg->reply_limit.period / 4 < t)
		t = cfg->reply_limit.period / 4;
	if (cfg->reply_limit_total.period / 4 < t)
		t = cfg->reply_limit_total.period / 4;
	if (t > EXPIRE_EVERY_MAX)
		t = EXPIRE_EVERY_MAX;
	return t < 1 ? 1 : t;
}

/* expire - the runner's sweeps of the dedup index and the reply buckets.
 * Returns when to sweep next: soon again if one failed. */
static int64_t
expire(struct runner *r, int64_t now)
{
	const struct config *cfg = r->cfg;
	struct pb_err xerr;
	size_t n = 0;
	int failed = 0;

	if (dedup_expire(r->sp, now, cfg->dedup_ttl, &n, &xerr) != 0) {
		log_warning(NULL, "dedup expiry: %s; trying again in %d s",
			    xerr.msg, EXPIRE_RETRY);
		failed = 1;
	} else if (n) {
		log_info(NULL, "dedup: expired %zu records", n);
	}
	if (replylimit_expire(r->sp, &cfg->reply_limit, &cfg->reply_limit_total,
			      now, &n, &xerr) != 0) {
		log_warning(NULL, "reply limit expiry: %s; trying again in %d s",
			    xerr.msg, EXPIRE_RETRY);
		failed = 1;
	} else if (n) {
		log_info(NULL, "reply limits: expired %zu buckets", n);
	}
	return now + (failed ? EXPIRE_RETRY : expire_every(cfg));
}

int
runner_run(struct config *cfg, const struct runner_opts *o, struct pb_err *err)
{
	struct runner r;
	struct sigaction sa;
	sigset_t block, empty;
	int rc = 0;
	int64_t last_checkpoint = 0, next_expire = 0;

	memset(&r, 0, sizeof r);
	r.cfg = cfg;
	r.o = o;
	r.batch_bytes = DELIVER_BATCH_BYTES;
	r.wake_fd = -1;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	/* Opening may block on a dead process's mutex too (failchk). */
	sa.sa_handler = on_watchdog;
	sigaction(SIGALRM, &sa, NULL);
	alarm(RUNNER_WATCHDOG_SECS);
	if (spool_open(cfg->spool_dir, &r.sp, err) != 0) {
		alarm(0);
		return -1;
	}
	spool_set_leave(r.sp, runner_leave, (void *)o);
	if (!o->once && (r.wake_fd = handoff_listen(r.sp, err)) < 0) {
		spool_close(r.sp);
		alarm(0);
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigemptyset(&empty);

	r.d = deliver_open(r.sp, cfg);
	if (!o->once)
		warm_up(&r);
	if (!o->once) {
		log_info(NULL, "runner started: spool=%s, keydb=%s, relay=%s",
			 cfg->spool_dir, cfg->keydb,
			 cfg->sendmail_argv ? cfg->sendmail_cmd : cfg->smtp_relay);
		/* systemd Type=notify: the spool is open and the FIFO listens,
		 * so whatever is queued from now on will be seen. */
		if (sd_notify_send("READY=1\nSTATUS=delivering") < 0)
			log_warning(NULL, "sd_notify: %s", strerror(errno));
	}
	while (!stop_requested) {
		int64_t now = spool_now(), next;
		int progress = 0, more = 0, reaped;
		struct timespec ts;
		struct pollfd pfd[2];

		alarm(RUNNER_WATCHDOG_SECS);
		reaped = reap(&r);
		if (reload_requested) {
			reload_requested = 0;
			if (reload(cfg, o) == 0) {
				deliver_close(r.d);
				r.d = deliver_open(r.sp, cfg);
				if (!o->once)
					warm_up(&r);
			}
		}
		/* The scans below read outside transactions, and nothing but
		 * this reopens the environment for them once another process
		 * has recovered it (or died in it): without it the runner
		 * would fail every scan until restarted. */
		if (spool_recover(r.sp, err) != 0) {
			log_error(NULL, "%s", err->msg);
			if (o->once) {
				rc = -1;
				break;
			}
			next = now + 1;
			goto nap;
		}
		if (run_due(&r, now, &progress, &more, err) != 0) {
			/* A panic here is another process's recovery (after
			 * a crash) invalidating our handles, as Berkeley DB
			 * does on purpose: expected, and spool_recover above
			 * reopens on the next pass.  Not an error to page
			 * anyone about. */
			if (r.sp->panic)
				log_info(NULL, "queue scan: the spool was "
					    "recovered by another process; "
					    "reopening it");
			else
				log_error(NULL, "queue scan: %s", err->msg);
			if (o->once) {
				rc = -1;
				break;
			}
		}
		if (now - last_checkpoint >= CHECKPOINT_EVERY) {
			spool_checkpoint(r.sp, 0);
			last_checkpoint = now;
		}
		if (now >= next_expire)
			next_expire = expire(&r, now);
		if (more && progress)
			continue;
		if (o->once)
			break;

		/* Sleep until the next due entry, a wakeup, a finished child
		 * or a signal. */
		if (queue_next_due(r.sp, NULL, &next, err) != 0)
			next = r.sp->panic ? now : 0;	/* recover first */
		if (next == 0 || next > next_expire)
			next = next_expire;	/* a sweep is due first */
nap:
		now = spool_now();
		if (next == 0 || next - now > MAX_SLEEP_SECS)
			ts.tv_sec = MAX_SLEEP_SECS;
		else if (next > now)
			ts.tv_sec = next - now;
		else
			/* Due but not taken (leased elsewhere, or its peer
			 * busy in a child): look again soon, not in a spin. */
			ts.tv_sec = progress || reaped ? 0 : 1;
		ts.tv_nsec = 0;
		if (child_exited) {
			ts.tv_sec = 0;
		}
		pfd[0].fd = r.wake_fd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		/* The watcher panicked the environment for a recovery: reopen
		 * now (spool_recover, above), not at the next wakeup. */
		pfd[1].fd = spool_wake_fd(r.sp);
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		if (ppoll(pfd, 2, &ts, &empty) > 0) {
			if (pfd[0].revents)
				drain_fd(r.wake_fd);
			if (pfd[1].revents)
				spool_wake_drain(r.sp);
		}
	}
	if (stop_requested) {
		log_info(NULL, "runner stopping on signal");
		sd_notify_send("STOPPING=1");
	}
	stop_children(&r);
	deliver_close(r.d);
	if (r.warm)
		r.warm->close(r.warm);
	spool_checkpoint(r.sp, 1);
	if (r.wake_fd >= 0)
		close(r.wake_fd);
	spool_close(r.sp);
	alarm(0);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	return rc;
}
