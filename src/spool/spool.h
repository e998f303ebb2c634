/*
 * spool.h - the Berkeley DB environment that holds the queue and the
 * dedup index.
 *
 * One transactional environment (txn, lock, log, mpool) in spool_dir,
 * shared by every pksbridge process: many concurrent ingest filters, the
 * sendmail intake, the runner and the operator CLI.  It heals itself
 * (spool/heal.h): the first process to open it after another one died
 * attached to it waits until every other process has left, then runs
 * recovery; a watcher thread in every process makes it leave for that.
 * Deadlocks and lock timeouts abort the transaction, which spool_txn()
 * then retries.  Commits that hand an entry over from the MTA are
 * synchronous (fsync'd log) before anyone reports success.
 *
 * Permissions follow the spool directory: if it is group-writable (for
 * example 2770 root:pksbridge, so that the MTA's pipe user, the runner
 * and operators share it), files are created 0660; otherwise 0600.  A
 * world-writable spool is refused.
 */
#ifndef PB_SPOOL_H
#define PB_SPOOL_H

#include <db.h>
#include <pthread.h>
#include <stdint.h>

#include "util/err.h"

struct spool {
	DB_ENV *env;
	DB *queue;	/* id -> entry record (queue.h) */
	DB *payload;	/* id -> payload bytes */
	DB *due;	/* be64 next_attempt || id -> "" for ready/deferred */
	DB *dedup;	/* fpr_len || fpr || digest -> packet record (dedup.h) */
	DB *dedupkey;	/* fpr_len || fpr -> key record */
	DB *msgid;	/* Message-ID -> record */
	DB *sent;	/* peer NUL fpr_len fpr digest -> time (outbound) */
	DB *peers;	/* peer NUL id -> "" for pending outbound entries */
	DB *replylimit;	/* requester -> reply rate bucket (replylimit.h) */
	char *dir;
	int file_mode;
	int retry;	/* set by spool_dberr: the txn may be retried */
	int panic;	/* set by spool_dberr: environment needs recovery */
	char errbuf[256]; /* last message from Berkeley DB itself */
	long dead_pid;	/* is_alive: the last pid found dead, and how */
	unsigned long dead_asks; /* often in a row (a spin on its mutex) */
	/* Healing (spool/heal.h).  mu guards env and users_fd's lock
	 * against the watcher thread, which only ever trylocks it; the
	 * main thread holds it while it opens or closes env. */
	pthread_mutex_t mu;
	pthread_t main_thread;
	struct heal_watch *watch;
	int users_fd;	/* spool.users, read-locked while env is open */
	int watch_panicked; /* the watcher panicked this env */
};

/* spool_open - open (creating the databases if needed) the environment
 * in dir, which must exist.  Release with spool_close. */
int spool_open(const char *dir, struct spool **sp_r, struct pb_err *err);
void spool_close(struct spool *sp);

enum {
	SPOOL_SYNC = 0,		/* fsync the log at commit (the default) */
	SPOOL_NOSYNC = 1,	/* commit without waiting for the disk: for
				 * state that is safe to redo after a crash */
};

/* A transaction body: do the work with txn, return 0 or -1 (with err
 * filled, typically by spool_dberr). */
typedef int (*spool_txn_fn)(struct spool *sp, DB_TXN *txn, void *ctx,
			    struct pb_err *err);

/* spool_txn - run fn inside a transaction and commit it.  If fn fails
 * because of a deadlock or lock timeout, abort and run fn again (a
 * bounded number of times, with a short random backoff), so fn must be
 * safe to re-run: it must not keep side effects outside the txn.  Returns
 * 0 once committed (and, with SPOOL_SYNC, on disk). */
int spool_txn(struct spool *sp, int flags, spool_txn_fn fn, void *ctx,
	      struct pb_err *err);

/* spool_dberr - turn a Berkeley DB return code into err, with context;
 * marks sp->retry for deadlocks/lock timeouts.  Returns -1. */
int spool_dberr(struct spool *sp, int ret, struct pb_err *err,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* spool_recover - after an operation outside spool_txn() failed because
 * the environment needs recovery (sp->panic, set by spool_dberr: another
 * process died inside Berkeley DB and recovery ran, or must run), or
 * after a reopen failed (no environment open), open it again; that runs
 * recovery or joins the recovered environment.  A no-op (0) when the
 * environment is fine.  -1 with err if it cannot be opened now: then the
 * handle must not be used for anything but spool_txn, spool_recover and
 * spool_close.  Long-running processes call it between units of work;
 * spool_txn does the same by itself. */
int spool_recover(struct spool *sp, struct pb_err *err);

/* spool_checkpoint - checkpoint if enough log has accumulated (cheap
 * when not), which also lets old log files be removed. */
void spool_checkpoint(struct spool *sp, int force);

/* Read flags.  Outside a transaction a read must never wait for a
 * writer (which may be a dead process until failchk clears it), so it
 * reads uncommitted data: fine for listings and hints, and everything
 * that decides a change re-reads inside its transaction.  Cursors inside
 * a transaction read committed data and release page locks as they go. */
static inline u_int32_t
spool_rflags(DB_TXN *txn)
{
	return txn ? 0 : DB_READ_UNCOMMITTED;
}

static inline u_int32_t
spool_cflags(DB_TXN *txn)
{
	return txn ? DB_READ_COMMITTED : DB_READ_UNCOMMITTED;
}

/* spool_set_leave - how this process leaves when it stays attached
 * while the spool needs recovery (heal.h): a filter exits 0 or 75, the
 * runner execs itself again.  fn runs on the watcher thread and must not
 * return; NULL restores the default, _exit(75). */
void spool_set_leave(struct spool *sp, void (*fn)(void *), void *arg);

/* spool_wake_fd - readable when the environment was panicked for a
 * recovery: a process that sleeps in poll adds it and, when it fires,
 * drains it (spool_wake_drain) and calls spool_recover. */
int spool_wake_fd(const struct spool *sp);
void spool_wake_drain(struct spool *sp);

/* spool_now - the clock every queue and dedup decision uses (seconds).
 * For tests only, $PKSBRIDGE_NOW (Unix seconds) replaces the real clock
 * (golden tests of ages); it is read here and nowhere else. */
int64_t spool_now(void);

#endif
