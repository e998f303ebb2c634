/*
 * spool.c - the Berkeley DB environment (see spool.h).
 */
#include "spool/spool.h"
#include "spool/heal.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long spool_txn and spool_open keep trying against busy locks or a
 * recovering environment before reporting a temporary failure. */
#define BUSY_BUDGET_MS 20000
#define MAX_REOPENS 8
#define THREAD_SLOTS 1024	/* processes in the environment at once */
/* Creating the databases takes exclusive handle locks that a process
 * waiting for them can never time out of; if the creator is killed,
 * everyone else waits for ever.  So creation happens once, under an
 * flock the kernel releases when its holder dies, and READY_MARK records
 * that it completed. */
#define CREATE_LOCK "spool.lock"
#define OPEN_LOCK_BUDGET_MS 30000
#define READY_MARK "spool.ready"
/* Healing (heal.h): how long the recoverer waits for every other process
 * to leave, and how long a process may stay attached once the spool
 * needs recovery (its watcher then makes it leave): the first is longer,
 * so that a blocked process is gone before the recoverer gives up, and
 * both together stay far below the 10 s in which the spool must serve
 * again. */
#define HEAL_WAIT_MS 6000
#define HEAL_LEAVE_MS 2000

/* dead - is_alive's answer for a dead pid.  Berkeley DB 5.3 asks again
 * and again while it spins on a mutex that process died holding: do it
 * at a walk, not with a whole core, until the watcher (heal.h), which
 * sees the dead process in __db.register, makes this process leave. */
static int
dead(struct spool *sp, pid_t pid)
{
	if (!sp)
		return 0;
	if (sp->dead_pid != (long)pid) {
		sp->dead_pid = (long)pid;
		sp->dead_asks = 0;
	}
	if (++sp->dead_asks >= 1000)
		clock_nap_ms(1);
	return 0;
}

/* is_alive - for failchk: does the process that registered still run?
 * The spool is local, so a pid is meaningful.  A zombie is dead: a
 * SIGKILLed filter stays one until the MTA reaps it, and if failchk took
 * it for alive it would go on to wait for the mutex that process died
 * holding, for ever, instead of asking for recovery (seen in
 * crash_runner.sh: an ingest blocked in failchk at open). */
static int
is_alive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	struct spool *sp = env ? env->app_private : NULL;
	char path[64], buf[512], *rp;
	ssize_t n;
	int fd;

	(void)tid;
	(void)flags;
	if (pid == getpid())
		return 1;
	if (kill(pid, 0) != 0 && errno != EPERM)
		return dead(sp, pid);
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 1;	/* no /proc: trust kill() */
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	if ((rp = strrchr(buf, ')')) == NULL || rp[1] != ' ')
		return 1;
	if (rp[2] == 'Z' || rp[2] == 'X')
		return dead(sp, pid);
	return 1;
}

/* backoff - sleep a little, more with each attempt, randomly, so the
 * same processes do not collide again in lockstep. */
static void
backoff(int attempt)
{
	long max_us = 100L << (attempt < 9 ? attempt : 9);	/* up to 51 ms */
	struct timespec ts;
	long us = 50 + (long)((unsigned)rand() % (unsigned)max_us);

	ts.tv_sec = 0;
	ts.tv_nsec = us * 1000;
	nanosleep(&ts, NULL);
}

static void
errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	struct spool *sp = env->app_private;

	(void)prefix;
	/* The watcher thread's panic (heal.h) reports here too; errbuf is
	 * the main thread's. */
	if (sp && pthread_equal(pthread_self(), sp->main_thread))
		snprintf(sp->errbuf, sizeof sp->errbuf, "%s", msg);
}

/* msgcall - Berkeley DB's informational messages (failchk cleaning up
 * after a dead process: "Freeing read locks for locker ...") go to the
 * log.  Left alone they go to stdout, in the middle of whatever the
 * command prints there: queue list --json would no longer be JSON. */
static void
msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	log_info(NULL, "Berkeley DB: %s", msg);
}

int64_t
spool_now(void)
{
	/* Test-only: PKSBRIDGE_NOW (Unix seconds) fixes the clock so that
	 * golden tests of ages and times are stable.  Read here and nowhere
	 * else; queue ids still come from the real clock (queue.c), so
	 * entries stay unique.  Never set it in production. */
	const char *fixed = getenv("PKSBRIDGE_NOW");

	if (fixed && *fixed) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(fixed, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0)
			return (int64_t)v;
	}
	return (int64_t)time(NULL);
}

int
spool_dberr(struct spool *sp, int ret, struct pb_err *err, const char *fmt, ...)
{
	char ctx[256];
	va_list ap;
	enum pb_status st;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof ctx, fmt, ap);
	va_end(ap);
	switch (ret) {
	case DB_LOCK_DEADLOCK:
	case DB_LOCK_NOTGRANTED:
		sp->retry = 1;
		st = PB_ETEMP;
		break;
	case DB_RUNRECOVERY:
		sp->panic = 1;
		st = PB_ETEMP;
		break;
	case ENOSPC:
	case EIO:
	case EDQUOT:
		st = PB_EIO;
		break;
	default:
		st = PB_ETEMP;
		break;
	}
	if (sp->errbuf[0] && ret != DB_LOCK_DEADLOCK && ret != DB_LOCK_NOTGRANTED)
		return pb_err_set(err, st, "%s: %s (%s)", ctx, db_strerror(ret),
				  sp->errbuf);
	return pb_err_set(err, st, "%s: %s", ctx, db_strerror(ret));
}

static int
open_db(struct spool *sp, DB **dbp, const char *file, struct pb_err *err)
{
	DB *db;
	int ret;

	if ((ret = db_create(&db, sp->env, 0)) != 0)
		return spool_dberr(sp, ret, err, "db_create %s", file);
	/* DB_READ_UNCOMMITTED lets listings read without waiting for a
	 * writer (see spool.h); transactions still read committed data. */
	ret = db->open(db, NULL, file, NULL, DB_BTREE,
		       DB_CREATE | DB_AUTO_COMMIT | DB_READ_UNCOMMITTED,
		       sp->file_mode);
	if (ret != 0) {
		db->close(db, 0);
		return spool_dberr(sp, ret, err, "opening %s/%s", sp->dir, file);
	}
	*dbp = db;
	return 0;
}

static void
close_all(struct spool *sp)
{
	DB **dbs[] = { &sp->queue, &sp->payload, &sp->due, &sp->dedup,
		       &sp->dedupkey, &sp->msgid, &sp->sent, &sp->peers,
		       &sp->replylimit };

	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
		if (*dbs[i]) {
			/* DB_NOSYNC: what is committed is already in the synced
			 * log; flushing each file here cost two fsyncs per
			 * database on every exit.  Checkpoints write the pages. */
			(*dbs[i])->close(*dbs[i], DB_NOSYNC);
			*dbs[i] = NULL;
		}
	}
	if (sp->env) {
		/* A panicked environment's close only unregisters (and leaves
		 * the mapped regions, which belong to the recovery, alone:
		 * env/env_open.c __env_close_pp). */
		sp->env->close(sp->env, 0);
		sp->env = NULL;
	}
	heal_detach(sp->users_fd);
}

/* detach - close_all, with the watcher kept out. */
static void
detach(struct spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	close_all(sp);
	pthread_mutex_unlock(&sp->mu);
}

/* back_regions - make the file system hold the space of every region
 * file we map, up to the size of the mapping.  Berkeley DB maps each
 * region at its maximum size but grows the file only as it allocates
 * (the buffer cache, above all), and the first touch of a page that the
 * file system cannot back, because the disk is full, is SIGBUS, inside
 * an allocation holding the environment's region mutex: the process
 * dies and every later open spins on that mutex for ever (found by
 * tests/integration/fault_fullfs.sh).  fallocate(FALLOC_FL_KEEP_SIZE)
 * reserves the blocks without changing the file's size, which Berkeley
 * DB reads; a full disk is then an error here (ENOSPC: the open fails,
 * the filter exits 75) instead of a signal later.  A file system that
 * cannot fallocate is left as it is. */
static int
back_regions(struct spool *sp, struct pb_err *err)
{
	char dir[PATH_MAX], line[PATH_MAX + 128];
	size_t dl;
	FILE *maps;
	int r = 0;

	if (!realpath(sp->dir, dir))
		return 0;
	dl = strlen(dir);
	if (!(maps = fopen("/proc/self/maps", "re")))
		return 0;
	while (r == 0 && fgets(line, sizeof line, maps)) {
		unsigned long lo, hi;
		char *path = strchr(line, '/');
		size_t pl;
		int fd;

		if (!path || sscanf(line, "%lx-%lx", &lo, &hi) != 2 || hi <= lo)
			continue;
		pl = strcspn(path, "\n");
		path[pl] = '\0';
		if (strncmp(path, dir, dl) != 0 || strncmp(path + dl, "/__db.", 6) != 0 ||
		    strcmp(path + dl, "/__db.register") == 0)
			continue;
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
			continue;
		if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)(hi - lo)) != 0 &&
		    (errno == ENOSPC || errno == EDQUOT))
			r = pb_err_set(err, PB_EIO, "%s: no space for the Berkeley DB "
				       "region (%lu KB): %s", path, (hi - lo) / 1024,
				       strerror(errno));
		close(fd);
	}
	fclose(maps);
	return r;
}

/* open_env - open the environment and its databases, with extra open
 * flags (DB_RECOVER for the recoverer).  Under spool.lock and sp->mu,
 * with spool.users locked. */
static int
open_env(struct spool *sp, u_int32_t extra, struct pb_err *err)
{
	static const struct { size_t off; const char *file; } dbs[] = {
		{ offsetof(struct spool, queue), "queue.db" },
		{ offsetof(struct spool, payload), "payload.db" },
		{ offsetof(struct spool, due), "due.db" },
		{ offsetof(struct spool, dedup), "dedup.db" },
		{ offsetof(struct spool, dedupkey), "dedupkey.db" },
		{ offsetof(struct spool, msgid), "msgid.db" },
		{ offsetof(struct spool, sent), "sent.db" },
		{ offsetof(struct spool, peers), "peers.db" },
		{ offsetof(struct spool, replylimit), "replylimit.db" },
	};
	DB_ENV *env;
	int ret;

	if ((ret = db_env_create(&env, 0)) != 0)
		return spool_dberr(sp, ret, err, "db_env_create");
	sp->env = env;
	env->app_private = sp;
	env->set_errcall(env, errcall);
	env->set_msgcall(env, msgcall);
	/* No process ever waits inside Berkeley DB for a lock: a waiter
	 * blocks on a mutex only the holder releases, and a holder killed
	 * by SIGKILL (an MTA timeout, the OOM killer) never does.  Instead a
	 * conflict fails at once (DB_TXN_NOWAIT) and spool_txn retries,
	 * running failchk, which aborts a dead process's transaction and
	 * frees its locks. */
	env->set_flags(env, DB_TXN_NOWAIT, 1);
	/* And so no deadlock detector either: with nobody waiting there is
	 * no cycle to break, and Berkeley DB 5.3's detector, which then ran
	 * on lock releases, corrupted the heap of the process running it
	 * after another process had been SIGKILLed (tests/integration/
	 * crash_runner.sh: ingests died of SIGSEGV and "double free" inside
	 * __lock_detect, called from opening a database). */
	env->set_thread_count(env, THREAD_SLOTS);
	env->set_isalive(env, is_alive);
	env->set_cachesize(env, 0, 2u << 20, 1);
	env->set_lg_bsize(env, 1u << 20);
	env->set_lg_max(env, 16u << 20);
	env->set_lk_max_locks(env, 20000);
	env->set_lk_max_objects(env, 20000);
	env->set_lk_max_lockers(env, 2000);
	env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1);
	/* Write the region files out when creating them (and see
	 * back_regions for what they grow into): a full disk must be ENOSPC
	 * from a write, which fails the commit (exit 75, the MTA retries),
	 * never SIGBUS from a page of a mapped region. */
	env->set_flags(env, DB_REGION_INIT, 1);
	/* If a registrant dies between heal_dead and this open, Berkeley
	 * DB finds it (and, without DB_RECOVER, returns DB_RUNRECOVERY and
	 * we recover): do not let it sleep first, waiting for the others to
	 * notice its panic (env/env_register.c, envreg_timeout). */
	env->set_timeout(env, 1, DB_SET_REG_TIMEOUT);
	/* No DB_FAILCHK here: with a dead registrant it attaches to the
	 * regions first, and that blocks on a mutex the dead process holds
	 * (only a thread already in failchk is spared: mutex/mut_pthread.c
	 * __db_pthread_mutex_prep).  heal_dead decided before. */
	ret = env->open(env, sp->dir,
			DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
			DB_INIT_TXN | DB_REGISTER | extra, sp->file_mode);
	if (ret != 0) {
		spool_dberr(sp, ret, err, "opening Berkeley DB environment %s",
			    sp->dir);
		close_all(sp);
		return -1;
	}
	if (back_regions(sp, err) != 0) {
		close_all(sp);
		return -1;
	}
	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
		DB **slot = (DB **)((char *)sp + dbs[i].off);

		if (open_db(sp, slot, dbs[i].file, err) != 0) {
			close_all(sp);
			return -1;
		}
	}
	sp->watch_panicked = 0;
	return 0;
}

/* queue_size - how many entries the queue holds, for the recovery's
 * log line (0 if it cannot tell). */
static unsigned long
queue_size(struct spool *sp)
{
	DB_BTREE_STAT *st = NULL;
	unsigned long n = 0;

	/* A full count (DB_FAST_STAT only repeats the last one): it walks
	 * the tree, but a recovery is rare. */
	if (sp->queue &&
	    sp->queue->stat(sp->queue, NULL, &st, DB_READ_UNCOMMITTED) == 0) {
		n = (unsigned long)st->bt_nkeys;
		free(st);
	}
	return n;
}

/* recover - the recoverer's part (heal.h), under spool.lock: wait until
 * no other process is attached, remove the regions and the register,
 * and open with DB_RECOVER, which replays the log: what was committed
 * stays, what never committed is rolled back.  dead/pids say why (for
 * the log line); dead < 0 with no READY_MARK is a new spool, created
 * rather than recovered. */
static int
recover(struct spool *sp, int dead, const long *pids, struct pb_err *err)
{
	char mark[4096], who[HEAL_MAX_DEAD * 24 + 64];
	int64_t t0 = clock_ms();
	int heal_fd = -1, r;
	unsigned long nq;
	size_t wl = 0;

	snprintf(mark, sizeof mark, "%s/%s", sp->dir, READY_MARK);
	if (heal_begin(sp->dir, sp->file_mode, sp->users_fd, HEAL_WAIT_MS,
		       &heal_fd, err) != 0)
		return -1;
	pthread_mutex_lock(&sp->mu);
	r = heal_clear(sp->dir, err);
	if (r == 0)
		r = open_env(sp, DB_RECOVER, err);
	if (r != 0) {
		heal_end(sp->users_fd, 0, &heal_fd);
		pthread_mutex_unlock(&sp->mu);
		return -1;
	}
	heal_end(sp->users_fd, 1, &heal_fd);
	pthread_mutex_unlock(&sp->mu);
	if (dead < 0 && access(mark, F_OK) != 0)
		return 0;	/* a new spool */
	nq = queue_size(sp);
	who[0] = '\0';
	for (int i = 0; i < dead && i < HEAL_MAX_DEAD; i++)
		wl += (size_t)snprintf(who + wl, sizeof who - wl, "%s%ld",
				       i ? ", " : "", pids[i]);
	if (dead > HEAL_MAX_DEAD)
		snprintf(who + wl, sizeof who - wl, " and %d more",
			 dead - HEAL_MAX_DEAD);
	log_warning(NULL, "spool %s: recovered: %s; ran Berkeley DB recovery "
		    "once no other process was attached (%lld ms): every "
		    "committed transaction is kept, unfinished ones were rolled "
		    "back; the queue holds %lu entr%s", sp->dir,
		    dead > 0 ? (dead > 1 ? "processes died attached to it" :
				"a process died attached to it") :
		    "its Berkeley DB register was missing or broken",
		    (long long)(clock_ms() - t0), nq, nq == 1 ? "y" : "ies");
	if (dead > 0)
		log_info(NULL, "spool %s: the process%s that died: %s", sp->dir,
			 dead > 1 ? "es" : "", who);
	return 0;
}

/* attach - open the environment, under spool.lock: join it if every
 * process that registered is alive, else recover it first. */
static int
attach(struct spool *sp, struct pb_err *err)
{
	long pids[HEAL_MAX_DEAD];
	int dead, r;

	if (sp->users_fd < 0 &&
	    heal_open_users(sp->dir, sp->file_mode, &sp->users_fd, err) != 0)
		return -1;
	dead = heal_dead(sp->dir, pids);
	if (dead != 0)
		return recover(sp, dead, pids, err);
	pthread_mutex_lock(&sp->mu);
	r = heal_attach(sp->users_fd, err);
	if (r == 0)
		r = open_env(sp, 0, err);	/* close_all drops the lock */
	pthread_mutex_unlock(&sp->mu);
	if (r == 0 || !sp->panic)
		return r;
	/* A registrant died after heal_dead looked (Berkeley DB said
	 * DB_RUNRECOVERY, and has emptied the register's slots). */
	sp->panic = 0;
	dead = heal_dead(sp->dir, pids);
	return recover(sp, dead > 0 ? dead : 1, pids, err);
}

/* open_locked - open the environment (creating it and its databases the
 * first time) under an exclusive flock on CREATE_LOCK.  Creation needs
 * it (see above), and so does every open: an open that recovers removes
 * and rebuilds the region files, and another process attaching to them
 * at that moment could be handed a half-built region.  The wait for the
 * lock is bounded: its holder may be a recoverer waiting for processes
 * to leave, or itself blocked until its watcher makes it leave. */
static int
open_locked(struct spool *sp, struct pb_err *err)
{
	char lock_path[4096], mark_path[4096];
	int64_t deadline = clock_ms() + OPEN_LOCK_BUDGET_MS;
	int fd, r, mfd;

	snprintf(lock_path, sizeof lock_path, "%s/%s", sp->dir, CREATE_LOCK);
	snprintf(mark_path, sizeof mark_path, "%s/%s", sp->dir, READY_MARK);
	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, sp->file_mode);
	if (fd < 0)
		return pb_err_set(err, errno == EACCES ? PB_EIO : PB_ETEMP,
				  "%s: %s%s", lock_path, strerror(errno),
				  errno == EACCES ? " (run as the spool's owner or a "
				  "member of its group; see pksbridge(8) SPOOL "
				  "PERMISSIONS)" : "");
	for (int attempt = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; attempt++) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			r = pb_err_set(err, PB_ETEMP, "flock %s: %s", lock_path,
				       strerror(errno));
			close(fd);
			return r;
		}
		if (clock_ms() > deadline) {
			close(fd);
			return pb_err_set(err, PB_ETEMP, "%s: another process has "
					  "been opening (or recovering) the spool "
					  "for %d s", lock_path,
					  OPEN_LOCK_BUDGET_MS / 1000);
		}
		backoff(attempt < 6 ? attempt : 6);
	}
	r = attach(sp, err);
	if (r == 0 && access(mark_path, F_OK) != 0) {
		/* Durable before anyone relies on it: opens are committed
		 * (DB_AUTO_COMMIT); flush the log, then the mark. */
		sp->env->log_flush(sp->env, NULL);
		mfd = open(mark_path, O_WRONLY | O_CREAT | O_CLOEXEC, sp->file_mode);
		if (mfd < 0 || fsync(mfd) != 0) {
			r = pb_err_set(err, PB_EIO, "%s: %s", mark_path,
				       strerror(errno));
			detach(sp);
		}
		if (mfd >= 0)
			close(mfd);
	}
	close(fd);	/* releases the flock */
	return r;
}

/* look - the watcher's tick (heal.h), on the watcher thread: never
 * waits, for the main thread may be blocked inside Berkeley DB. */
static int
look(void *ctx, int wanted)
{
	struct spool *sp = ctx;
	int st;

	if (pthread_mutex_trylock(&sp->mu) != 0)
		return HEAL_BUSY;
	if (!sp->env) {	/* attached exactly while env is open */
		st = HEAL_LEFT;
	} else {
		if (!__atomic_load_n(&sp->watch_panicked, __ATOMIC_ACQUIRE)) {
			log_info(NULL, "spool %s: %s: leaving the environment "
				 "for recovery", sp->dir, wanted ?
				 "another process is recovering it" :
				 "a process died attached to it");
			sp->env->set_flags(sp->env, DB_PANIC_ENVIRONMENT, 1);
			__atomic_store_n(&sp->watch_panicked, 1, __ATOMIC_RELEASE);
		}
		st = HEAL_ATTACHED;
	}
	pthread_mutex_unlock(&sp->mu);
	return st;
}

static void
free_spool(struct spool *sp)
{
	if (sp->users_fd >= 0)
		close(sp->users_fd);
	pthread_mutex_destroy(&sp->mu);
	free(sp->dir);
	free(sp);
}

int
spool_open(const char *dir, struct spool **sp_r, struct pb_err *err)
{
	struct heal_watch_ops ops;
	struct spool *sp;
	struct stat st;

	if (stat(dir, &st) != 0) {
		int e = errno;

		return pb_err_set(err, e == ENOENT ? PB_ECONFIG : PB_EIO,
				  "spool_dir %s: %s (%s; see pksbridge(8) SPOOL "
				  "PERMISSIONS)", dir, strerror(e),
				  e == ENOENT ? "create it, e.g. install -d -m 2770 "
				  "-o pksbridge -g pksbridge DIR, or set spool_dir"
				  : e == EACCES ? "run as the spool's owner or a "
				  "member of its group" : "check the path");
	}
	if (!S_ISDIR(st.st_mode))
		return pb_err_set(err, PB_ECONFIG, "spool_dir %s: not a directory",
				  dir);
	if (st.st_mode & S_IWOTH)
		return pb_err_set(err, PB_ECONFIG,
				  "spool_dir %s: refusing a world-writable spool "
				  "(chmod o-w; see pksbridge(8) SPOOL PERMISSIONS)",
				  dir);
	sp = xcalloc(1, sizeof *sp);
	sp->dir = xstrdup(dir);
	sp->users_fd = -1;
	sp->main_thread = pthread_self();
	pthread_mutex_init(&sp->mu, NULL);
	sp->file_mode = (st.st_mode & S_IWGRP) ? 0660 : 0600;
	/* The MTA's umask (Exim: 022) must not narrow the group bits. */
	umask((st.st_mode & S_IWGRP) ? 007 : 077);
	/* The watcher runs from before the first open: an open can block
	 * on a dead process's mutex too. */
	memset(&ops, 0, sizeof ops);
	ops.look = look;
	ops.ctx = sp;
	ops.leave_ms = HEAL_LEAVE_MS;
	if (!(sp->watch = heal_watch_start(sp->dir, sp->file_mode, &ops, err))) {
		free_spool(sp);
		return -1;
	}
	for (int attempt = 0;; attempt++) {
		sp->retry = sp->panic = 0;
		if (open_locked(sp, err) == 0)
			break;
		/* Busy (another process is creating a database or running
		 * recovery) or panicked: try again. */
		if ((!sp->retry && !sp->panic) || attempt >= 200) {
			heal_watch_stop(sp->watch);
			free_spool(sp);
			return -1;
		}
		backoff(attempt);
	}
	*sp_r = sp;
	return 0;
}

void
spool_close(struct spool *sp)
{
	if (!sp)
		return;
	/* The environment first: the watcher's descriptor of __db.register
	 * may be closed only once Berkeley DB holds no lock on it. */
	detach(sp);
	heal_watch_stop(sp->watch);
	free_spool(sp);
}

void
spool_set_leave(struct spool *sp, void (*fn)(void *), void *arg)
{
	heal_watch_set_leave(sp->watch, fn, arg);
}

int
spool_wake_fd(const struct spool *sp)
{
	return heal_watch_wake_fd(sp->watch);
}

void
spool_wake_drain(struct spool *sp)
{
	uint64_t n;

	if (read(heal_watch_wake_fd(sp->watch), &n, sizeof n) < 0)
		return;	/* EAGAIN: nothing to drain */
}

/* reopen - close and open the environment again (recovering it first
 * if a registered process died).  0 or -1 with err. */
static int
reopen(struct spool *sp, struct pb_err *err)
{
	detach(sp);
	for (int attempt = 0; attempt < 200; attempt++) {
		sp->retry = sp->panic = 0;
		if (open_locked(sp, err) == 0)
			return 0;
		if (!sp->retry && !sp->panic)
			return -1;
		backoff(attempt);
	}
	return -1;
}

int
spool_recover(struct spool *sp, struct pb_err *err)
{
	if (sp->env && !sp->panic &&
	    !__atomic_load_n(&sp->watch_panicked, __ATOMIC_ACQUIRE))
		return 0;
	/* The recoverer logs the recovery, once, as a warning; for the
	 * others this is routine. */
	log_info(NULL, "%s: the Berkeley DB environment is being recovered "
		 "(a process died inside it): opening it again", sp->dir);
	return reopen(sp, err);
}

int
spool_txn(struct spool *sp, int flags, spool_txn_fn fn, void *ctx,
	  struct pb_err *err)
{
	int64_t deadline = clock_ms() + BUSY_BUDGET_MS;
	int reopens = 0;

	for (int attempt = 0;; attempt++) {
		DB_TXN *txn = NULL;
		int ret;

		if (!sp->env && reopen(sp, err) != 0)
			return -1;
		sp->retry = 0;
		sp->panic = 0;
		sp->errbuf[0] = '\0';
		ret = sp->env->txn_begin(sp->env, NULL, &txn, 0);
		if (ret != 0) {
			spool_dberr(sp, ret, err, "starting a transaction");
		} else if (fn(sp, txn, ctx, err) != 0) {
			txn->abort(txn);
		} else {
			ret = txn->commit(txn, (flags & SPOOL_NOSYNC) ?
					  DB_TXN_NOSYNC : DB_TXN_SYNC);
			if (ret == 0)
				return 0;
			spool_dberr(sp, ret, err, "committing");
		}
		if (!sp->panic && sp->retry && attempt % 8 == 7) {
			/* Still busy: maybe the holder is dead.  failchk aborts
			 * its transaction (freeing its locks), or says the
			 * environment needs recovery. */
			ret = sp->env->failchk(sp->env, 0);
			if (ret == DB_RUNRECOVERY)
				sp->panic = 1;
			else if (ret != 0)
				log_warning(NULL, "failchk: %s", db_strerror(ret));
		}
		if (sp->panic) {
			struct pb_err e2;

			if (++reopens > MAX_REOPENS) {
				return pb_err_set(err, PB_ETEMP, "%s: Berkeley DB "
						  "environment keeps needing recovery: %s",
						  sp->dir, err->msg);
			}
			if (reopen(sp, &e2) != 0) {
				*err = e2;
				return -1;
			}
			continue;
		}
		if (!sp->retry)
			return -1;
		if (clock_ms() > deadline)
			return pb_err_prefix(err, "spool busy for %d s: ",
					     BUSY_BUDGET_MS / 1000);
		backoff(attempt);
	}
}

void
spool_checkpoint(struct spool *sp, int force)
{
	int ret;

	if (!sp->env)
		return;		/* a reopen failed: nothing to checkpoint */
	ret = sp->env->txn_checkpoint(sp->env, force ? 0 : 4096, 0,
				      force ? DB_FORCE : 0);
	if (ret != 0)
		log_warning(NULL, "checkpoint of %s failed: %s", sp->dir,
			    db_strerror(ret));
}
