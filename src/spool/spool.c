/*
 * spool.c - the Berkeley DB environment (see spool.h): opening and
 * closing it and its databases when heal.c asks (it owns when, and
 * whether to recover first), and running transactions against it.
 */
#include "spool/spool_db.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

/* How long spool_txn keeps trying against busy locks or a recovering
 * environment before reporting a temporary failure. */
#define BUSY_BUDGET_MS 20000
#define MAX_REOPENS 8
#define THREAD_SLOTS 1024	/* processes in the environment at once */

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
		char path[4096];

		db->close(db, 0);
		if (ret == EACCES || ret == EPERM) {
			snprintf(path, sizeof path, "%s/%s", sp->dir, file);
			return heal_denied(sp->dir, path, err);
		}
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
		       &sp->replylimit, &sp->blocks, &sp->counters };

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
 * flags (DB_RECOVER for the recoverer).  Called by heal (env_open), under
 * its open lock, with the watcher kept out. */
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
		{ offsetof(struct spool, blocks), "blocks.db" },
		{ offsetof(struct spool, counters), "counters.db" },
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
		if (ret == EACCES || ret == EPERM)
			heal_denied(sp->dir, NULL, err);
		else
			spool_dberr(sp, ret, err, "opening Berkeley DB "
				    "environment %s", sp->dir);
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
	return 0;
}

/* The environment, for heal.c (struct heal_env). */

static int
env_open(void *ctx, unsigned how, struct pb_err *err)
{
	struct spool *sp = ctx;

	sp->retry = sp->panic = 0;
	if (open_env(sp, (how & HEAL_OPEN_RECOVER) ? DB_RECOVER : 0, err) != 0)
		return sp->panic ? HEAL_OPEN_NEEDS_RECOVERY :
		       sp->retry ? HEAL_OPEN_BUSY : -1;
	/* The spool's first open: opens are committed (DB_AUTO_COMMIT),
	 * and the log must be on disk before heal marks the spool made. */
	if (how & HEAL_OPEN_FLUSH)
		sp->env->log_flush(sp->env, NULL);
	return 0;
}

static void
env_close(void *ctx)
{
	close_all(ctx);
}

static void
env_panic(void *ctx)
{
	struct spool *sp = ctx;

	sp->env->set_flags(sp->env, DB_PANIC_ENVIRONMENT, 1);
}

/* env_entries - how many entries the queue holds, for the recovery's
 * log line (0 if it cannot tell). */
static unsigned long
env_entries(void *ctx)
{
	struct spool *sp = ctx;
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

static void
free_spool(struct spool *sp)
{
	free(sp->dir);
	free(sp);
}

/* become_owner - root, in a spool another user owns, takes that user's
 * identity (and the spool's group) for good, as postdrop and postqueue
 * work as the queue's owner: every file root would make here (the whole
 * Berkeley DB environment, on a fresh spool) would be root's 0600, and
 * lock the spool's owner and the MTA's pipe user out of it.  Before any
 * thread starts, so the whole process changes. */
static int
become_owner(const char *dir, const struct stat *st, struct pb_err *err)
{
	gid_t gid = st->st_gid;

	if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(st->st_uid, st->st_uid, st->st_uid) != 0)
		return pb_err_set(err, PB_EOS, "spool_dir %s: taking the "
				  "identity of its owner (uid %ld, gid %ld): %s",
				  dir, (long)st->st_uid, (long)gid,
				  strerror(errno));
	log_debug(NULL, "spool %s: running as its owner, uid %ld gid %ld",
		  dir, (long)st->st_uid, (long)gid);
	return 0;
}

int
spool_open(const char *dir, struct spool **sp_r, struct pb_err *err)
{
	struct heal_env env = { env_open, env_close, env_panic, env_entries, NULL };
	struct spool *sp;
	struct stat st;

	if (stat(dir, &st) != 0) {
		int e = errno;

		if (e == EACCES)
			return heal_denied(dir, NULL, err);
		return pb_err_set(err, e == ENOENT ? PB_ECONFIG : PB_EIO,
				  "spool_dir %s: %s (%s; see pksbridge(8) SPOOL "
				  "PERMISSIONS)", dir, strerror(e),
				  e == ENOENT ? "create it, e.g. install -d -m 2770 "
				  "-o pksbridge -g pksbridge DIR, or set spool_dir"
				  : "check the path");
	}
	if (!S_ISDIR(st.st_mode))
		return pb_err_set(err, PB_ECONFIG, "spool_dir %s: not a directory",
				  dir);
	if (st.st_mode & S_IWOTH)
		return pb_err_set(err, PB_ECONFIG,
				  "spool_dir %s: refusing a world-writable spool "
				  "(chmod o-w; see pksbridge(8) SPOOL PERMISSIONS)",
				  dir);
	if (st.st_uid != 0 && geteuid() == 0 && become_owner(dir, &st, err) != 0)
		return -1;
	/* Before any file is made: a user outside the spool's group hears
	 * about the spool and its owner, not about a lock file inside. */
	if (access(dir, R_OK | W_OK | X_OK) != 0 &&
	    (errno == EACCES || errno == EPERM))
		return heal_denied(dir, NULL, err);
	sp = xcalloc(1, sizeof *sp);
	sp->dir = xstrdup(dir);
	sp->main_thread = pthread_self();
	sp->file_mode = (st.st_mode & S_IWGRP) ? 0660 : 0600;
	/* The MTA's umask (Exim: 022) must not narrow the group bits. */
	umask((st.st_mode & S_IWGRP) ? 007 : 077);
	env.ctx = sp;
	if (!(sp->heal = heal_start(sp->dir, sp->file_mode, &env, err))) {
		free_spool(sp);
		return -1;
	}
	if (heal_attach(sp->heal, err) != 0) {
		heal_stop(sp->heal);
		free_spool(sp);
		return -1;
	}
	*sp_r = sp;
	return 0;
}

void
spool_close(struct spool *sp)
{
	if (!sp)
		return;
	heal_stop(sp->heal);
	free_spool(sp);
}

const char *
spool_dir(const struct spool *sp)
{
	return sp->dir;
}

int
spool_file_mode(const struct spool *sp)
{
	return sp->file_mode;
}

int
spool_needs_recovery(const struct spool *sp)
{
	return sp->panic;
}

void
spool_set_leave(struct spool *sp, void (*fn)(void *), void *arg)
{
	heal_set_leave(sp->heal, fn, arg);
}

int
spool_recovery_fd(const struct spool *sp)
{
	return heal_recovery_fd(sp->heal);
}

void
spool_recovery_drain(struct spool *sp)
{
	heal_recovery_drain(sp->heal);
}

int
spool_recover(struct spool *sp, struct pb_err *err)
{
	if (sp->env && !sp->panic && !heal_panicked(sp->heal))
		return 0;
	/* The recoverer logs the recovery, once, as a warning; for the
	 * others this is routine. */
	log_info(NULL, "%s: the Berkeley DB environment is being recovered "
		 "(a process died inside it): opening it again", sp->dir);
	return heal_reattach(sp->heal, err);
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

		if (!sp->env && heal_reattach(sp->heal, err) != 0)
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
			if (heal_reattach(sp->heal, &e2) != 0) {
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
		clock_backoff(attempt);
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
