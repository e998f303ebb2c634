/*
 * spool.c - the Berkeley DB environment (see spool.h).
 */
#include "spool.h"
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TXN_RETRIES 20
#define LOCK_TIMEOUT_US (10 * 1000 * 1000)	/* 10 s */
#define WAKE_FIFO "wakeup"

static void
errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	struct spool *sp = env->app_private;

	(void)prefix;
	if (sp)
		snprintf(sp->errbuf, sizeof sp->errbuf, "%s", msg);
}

int64_t
spool_now(void)
{
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
	ret = db->open(db, NULL, file, NULL, DB_BTREE,
		       DB_CREATE | DB_AUTO_COMMIT, sp->file_mode);
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
		       &sp->dedupkey, &sp->msgid, &sp->sent, &sp->peers };

	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
		if (*dbs[i]) {
			(*dbs[i])->close(*dbs[i], 0);
			*dbs[i] = NULL;
		}
	}
	if (sp->env) {
		sp->env->close(sp->env, 0);
		sp->env = NULL;
	}
}

static int
open_env(struct spool *sp, struct pb_err *err)
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
	};
	DB_ENV *env;
	int ret;

	if ((ret = db_env_create(&env, 0)) != 0)
		return spool_dberr(sp, ret, err, "db_env_create");
	sp->env = env;
	env->app_private = sp;
	env->set_errcall(env, errcall);
	/* Deadlocks are resolved as soon as a lock request blocks; a lock
	 * held too long (a process stopped, not dead) times out instead of
	 * hanging the MTA's pipe. */
	env->set_lk_detect(env, DB_LOCK_DEFAULT);
	env->set_timeout(env, LOCK_TIMEOUT_US, DB_SET_LOCK_TIMEOUT);
	env->set_cachesize(env, 0, 2u << 20, 1);
	env->set_lg_bsize(env, 1u << 20);
	env->set_lg_max(env, 16u << 20);
	env->set_lk_max_locks(env, 20000);
	env->set_lk_max_objects(env, 20000);
	env->set_lk_max_lockers(env, 2000);
	env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1);
	ret = env->open(env, sp->dir,
			DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
			DB_INIT_TXN | DB_REGISTER | DB_RECOVER,
			sp->file_mode);
	if (ret != 0) {
		spool_dberr(sp, ret, err, "opening Berkeley DB environment %s",
			    sp->dir);
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

int
spool_open(const char *dir, struct spool **sp_r, struct pb_err *err)
{
	struct spool *sp;
	struct stat st;

	if (stat(dir, &st) != 0)
		return pb_err_set(err, errno == ENOENT ? PB_ECONFIG : PB_EIO,
				  "spool_dir %s: %s", dir, strerror(errno));
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
	sp->file_mode = (st.st_mode & S_IWGRP) ? 0660 : 0600;
	/* The MTA's umask (Exim: 022) must not narrow the group bits. */
	umask((st.st_mode & S_IWGRP) ? 007 : 077);
	if (open_env(sp, err) != 0) {
		free(sp->dir);
		free(sp);
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
	close_all(sp);
	free(sp->dir);
	free(sp);
}

int
spool_txn(struct spool *sp, int flags, spool_txn_fn fn, void *ctx,
	  struct pb_err *err)
{
	int recovered = 0;

	for (int attempt = 0;; attempt++) {
		DB_TXN *txn = NULL;
		int ret;

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
		if (sp->panic && !recovered) {
			/* Another process died holding the environment and a
			 * newcomer ran recovery: reopen and try again. */
			struct pb_err e2;

			recovered = 1;
			close_all(sp);
			if (open_env(sp, &e2) != 0) {
				*err = e2;
				return -1;
			}
			continue;
		}
		if (!sp->retry || attempt >= TXN_RETRIES)
			return -1;
		/* Back off a little, randomly, so the same pair of
		 * processes does not deadlock again in lockstep. */
		struct timespec ts = { 0, (long)(1 + (unsigned)rand() % 20) *
					  (attempt + 1) * 100000L };
		nanosleep(&ts, NULL);
	}
}

void
spool_checkpoint(struct spool *sp, int force)
{
	int ret = sp->env->txn_checkpoint(sp->env, force ? 0 : 4096, 0,
					   force ? DB_FORCE : 0);

	if (ret != 0)
		log_warning(NULL, "checkpoint of %s failed: %s", sp->dir,
			    db_strerror(ret));
}

static void
fifo_path(const struct spool *sp, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", sp->dir, WAKE_FIFO);
}

void
spool_wake_runner(const struct spool *sp)
{
	char path[4096];
	int fd;

	fifo_path(sp, path, sizeof path);
	/* ENXIO (no reader) and EAGAIN (already full of wakeups) both mean
	 * there is nothing more to do. */
	fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "w", 1) < 0 && errno != EAGAIN)
		log_debug(NULL, "wakeup write: %s", strerror(errno));
	close(fd);
}

int
spool_wake_fd(const struct spool *sp, struct pb_err *err)
{
	char path[4096];
	struct stat st;
	int fd;

	fifo_path(sp, path, sizeof path);
	if (mkfifo(path, (mode_t)sp->file_mode) != 0 && errno != EEXIST)
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
