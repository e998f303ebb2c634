/*
 * heal.h - what lets the spool heal itself after a process dies in it.
 *
 * Berkeley DB 5.3 as Debian builds it uses plain (not robust) POSIX
 * mutexes: a process SIGKILLed while it holds one leaves it held for
 * ever, and every later waiter blocks in pthread_mutex_lock, where no
 * panic check runs (mutex/mut_pthread.c: only a thread inside failchk
 * is told DB_RUNRECOVERY instead of blocking).  Only recovery rebuilds
 * the regions, and recovery is safe only while no process is attached.
 * This module knows, from locks the kernel drops when a process dies:
 *
 *   who is attached   every process holds a read lock (fcntl) on
 *                     spool.users while its environment is open, so a
 *                     write lock on it proves that nobody is;
 *   who died attached a slot of __db.register (DB_REGISTER) that names a
 *                     pid but that no process holds locked: the same
 *                     test Berkeley DB makes (env/env_register.c,
 *                     __envreg_add);
 *   who is healing    the recoverer holds a write lock on spool.heal
 *                     while it waits for the others to leave and while
 *                     it recovers.
 *
 * And a watcher thread in every process that, once a recovery is wanted
 * or a registered process has died, panics its own environment (its
 * main thread then gets DB_RUNRECOVERY and reopens, which waits for the
 * recovery) and, if the process is still attached a little later
 * (blocked on the dead process's mutex, or busy outside Berkeley DB),
 * makes it leave through the command's leave function.
 *
 * fcntl locks belong to the process and any close() of the file drops
 * them all, Berkeley DB's slot lock on __db.register included: so a
 * process that is registered never opens and closes __db.register; it
 * reads it through the one descriptor the watcher keeps while attached.
 */
#ifndef PB_HEAL_H
#define PB_HEAL_H

#include <stdint.h>

#include "util/err.h"

#define HEAL_USERS_FILE "spool.users"
#define HEAL_FILE "spool.heal"
#define HEAL_REGISTER_FILE "__db.register"
#define HEAL_MAX_DEAD 8		/* pids named in the recovery's log line */

/*
 * The door: heal owns the whole sequence of attaching to the environment
 * or recovering it, and the watcher.  It calls back into the spool only
 * for the environment itself (struct heal_env): open it, close it, panic
 * it, count its queue for the log line.  Every lock and descriptor named
 * above stays in here.
 */

/* How heal asks for the environment to be opened (heal_env.open). */
#define HEAL_OPEN_RECOVER 1u	/* run recovery (nobody else is attached,
				 * the region files are gone) */
#define HEAL_OPEN_FLUSH 2u	/* the spool's first open: its log must be
				 * on disk before the spool counts as made */

/* What heal_env.open returns besides 0 (open) and -1 (failed, err says
 * why): trying again shortly may work (busy), or the environment needs
 * recovery (a registered process died meanwhile). */
enum { HEAL_OPEN_BUSY = 1, HEAL_OPEN_NEEDS_RECOVERY };

struct heal_env {
	/* open - open the environment as how says; on failure nothing is
	 * left open.  Called with the watcher kept out. */
	int (*open)(void *ctx, unsigned how, struct pb_err *err);
	/* close - close it, if it is open.  Also with the watcher kept out. */
	void (*close)(void *ctx);
	/* panic - on the watcher thread, while the environment is open:
	 * make every later call into it fail, without waiting for anything
	 * (see the watcher, below). */
	void (*panic)(void *ctx);
	/* entries - how many entries the queue holds, for the log line of
	 * a recovery (0 if it cannot tell). */
	unsigned long (*entries)(void *ctx);
	void *ctx;
};

struct heal;

/* heal_denied - err for a spool this process may not use (EACCES or
 * EPERM on path, a file in dir or dir itself): PB_ENOPERM, and a message
 * that names the spool, its owner and mode, who we are and the fix, not
 * the internal file that happened to be opened first.  Returns -1. */
int heal_denied(const char *dir, const char *path, struct pb_err *err);

/* heal_start - the healing of the spool in dir (files made with mode),
 * with its watcher running from now on: an open can block on a dead
 * process's mutex too.  Nothing is attached yet.  NULL with err. */
struct heal *heal_start(const char *dir, int mode, const struct heal_env *env,
			struct pb_err *err);

/* heal_attach - attach: under the spool's open lock, join the
 * environment if every registered process is alive, else wait for the
 * others to leave and recover it; create it the first time.  Tries
 * again while the spool is busy or being recovered.  0 once the
 * environment is open, -1 with err. */
int heal_attach(struct heal *h, struct pb_err *err);

/* heal_reattach - leave and attach again (recovering if it must). */
int heal_reattach(struct heal *h, struct pb_err *err);

/* heal_leave - close the environment: this process is no longer
 * attached. */
void heal_leave(struct heal *h);

/* heal_stop - leave, stop the watcher and free h. */
void heal_stop(struct heal *h);

/* heal_panicked - the watcher has panicked the open environment (for
 * a recovery): the spool must be reopened. */
int heal_panicked(struct heal *h);

/* heal_recovery_fd - readable once the watcher has panicked the
 * environment: a process that sleeps in poll (the runner) adds it, so
 * that it reopens at once instead of at its next wakeup;
 * heal_recovery_drain empties it. */
int heal_recovery_fd(const struct heal *h);
void heal_recovery_drain(struct heal *h);

/* heal_set_leave - how this process leaves when it stays attached while
 * the spool needs recovery: leave(arg) runs on the watcher thread and
 * must end the process (or exec); NULL restores the default, _exit(75).
 * If it returns, the watcher exits with 75. */
void heal_set_leave(struct heal *h, void (*leave)(void *), void *arg);

/*
 * The locks the door is built from, one function each; public so that
 * tests/spool/test_heal.c can hold them from real processes.
 */

/* heal_open_users - open dir/spool.users (created with mode). */
int heal_open_users(const char *dir, int mode, int *fd_r, struct pb_err *err);

/* heal_dead - the pids that dir/__db.register names but that no process
 * holds (died attached): their number, and up to HEAL_MAX_DEAD of them
 * in pids.  -1 when there is no register at all (a new spool, or one
 * that recovery is rebuilding).  Only for a process that is not
 * registered itself (see above): a slot with its own pid counts as dead
 * (an earlier image of it, before an exec). */
int heal_dead(const char *dir, long pids[HEAL_MAX_DEAD]);

/* heal_dead_fd - the same through an open descriptor of __db.register
 * (the watcher's); this process's own slot does not count. */
int heal_dead_fd(int reg_fd, long pids[HEAL_MAX_DEAD]);

/* heal_wanted - a recoverer (another process) is waiting or
 * recovering; heal_fd is an open descriptor of dir/spool.heal. */
int heal_wanted(int heal_fd);

/* heal_begin - become the recoverer: write-lock dir/spool.heal (so that
 * every attached process's watcher makes it leave), then wait up to
 * budget_ms for the write lock on users_fd (nobody attached).  On
 * success *heal_fd_r holds the heal lock until heal_end.  -1 with err
 * (PB_ETEMP) when some process stayed attached. */
int heal_begin(const char *dir, int mode, int users_fd, int budget_ms,
	       int *heal_fd_r, struct pb_err *err);

/* heal_clear - remove dir's region files and __db.register, which
 * recovery then rebuilds from the log.  Only between heal_begin and
 * heal_end. */
int heal_clear(const char *dir, struct pb_err *err);

/* heal_end - the recovery is over (or was given up): users_fd's write
 * lock becomes the read lock of an attached process (one atomic fcntl
 * call, so no other opener slips in between), or is dropped if !attached;
 * the heal lock is released and *heal_fd closed. */
void heal_end(int users_fd, int attached, int *heal_fd);

/* The watcher.  Every tick it looks for trouble: a recoverer waiting
 * (heal_wanted), or a registered process that died (heal_dead_fd, on a
 * descriptor of __db.register the watcher keeps open for the life of
 * the process, and replaces only once recovery has replaced the file:
 * closing it while it is the file Berkeley DB holds its slot lock on
 * would drop that lock).  While there is trouble and the environment is
 * open, it panics it once (heal_env.panic: DB_PANIC_ENVIRONMENT takes no
 * mutex, env/env_method.c __env_set_flags calls __env_panic, which only
 * sets the region's flag), so that the main thread gets DB_RUNRECOVERY
 * and reopens, which waits for the recovery.  It never waits for the
 * main thread (a trylock: that thread may be blocked inside Berkeley
 * DB).  Once the process has stayed attached, or could not be told
 * apart from attached (opening or closing), through HEAL_LEAVE_MS of
 * trouble, it calls the leave function. */

#endif
