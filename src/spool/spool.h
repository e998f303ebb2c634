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
#include <stdint.h>

#include "util/err.h"

/* Opaque: the handles live in spool_db.h, for the spool layer alone. */
struct spool;

/* spool_open - open (creating the databases if needed) the environment
 * in dir, which must exist.  Release with spool_close. */
int spool_open(const char *dir, struct spool **sp_r, struct pb_err *err);
void spool_close(struct spool *sp);

/* spool_dir - the spool directory, for files kept beside the
 * environment (the runner's wakeup FIFO, the key check's GnuPG home). */
const char *spool_dir(const struct spool *sp);

/* spool_file_mode - the mode files in the spool directory are created
 * with (0660 or 0600: see above). */
int spool_file_mode(const struct spool *sp);

/* spool_needs_recovery - the last failure was the environment needing
 * recovery (another process's, after a crash), which spool_recover or
 * the next spool_txn takes care of: expected, not an error to page
 * anyone about. */
int spool_needs_recovery(const struct spool *sp);

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
 * marks the transaction for a retry on deadlocks and lock timeouts, and
 * the environment for recovery on DB_RUNRECOVERY.  Returns -1. */
int spool_dberr(struct spool *sp, int ret, struct pb_err *err,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* spool_recover - after an operation outside spool_txn() failed because
 * the environment needs recovery (spool_needs_recovery: another
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

/* spool_recovery_fd - readable when the environment was panicked for a
 * recovery (heal.h): a process that sleeps in poll adds it and, when it
 * fires, drains it (spool_recovery_drain) and calls spool_recover. */
int spool_recovery_fd(const struct spool *sp);
void spool_recovery_drain(struct spool *sp);

/* spool_now - the clock every queue and dedup decision uses (seconds).
 * For tests only, $PKSBRIDGE_NOW (Unix seconds) replaces the real clock
 * (golden tests of ages); it is read here and nowhere else. */
int64_t spool_now(void);

#endif
