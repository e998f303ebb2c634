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
 * reads it through the one descriptor heal_watch keeps while attached.
 */
#ifndef PB_HEAL_H
#define PB_HEAL_H

#include <stdint.h>

#include "util/err.h"

#define HEAL_USERS_FILE "spool.users"
#define HEAL_FILE "spool.heal"
#define HEAL_REGISTER_FILE "__db.register"
#define HEAL_MAX_DEAD 8		/* pids named in the recovery's log line */

/* heal_open_users - open dir/spool.users (created with mode); the
 * caller keeps the descriptor for as long as it is attached.  -1 with
 * err. */
int heal_open_users(const char *dir, int mode, int *fd_r, struct pb_err *err);

/* heal_attach - read-lock the open spool.users: this process is
 * attached.  Called under the spool.lock flock, where no recoverer can
 * hold the write lock, so it never waits. */
int heal_attach(int users_fd, struct pb_err *err);

/* heal_detach - drop this process's lock on spool.users (read or
 * write): it is no longer attached.  A no-op if it held none. */
void heal_detach(int users_fd);

/* heal_dead - the pids that dir/__db.register names but that no process
 * holds (died attached): their number, and up to HEAL_MAX_DEAD of them
 * in pids.  -1 when there is no register at all (a new spool, or one
 * that recovery is rebuilding).  Only for a process that is not
 * registered itself (see above): a slot with its own pid counts as dead
 * (an earlier image of it, before an exec). */
int heal_dead(const char *dir, long pids[HEAL_MAX_DEAD]);

/* heal_dead_fd - the same through an open descriptor of __db.register
 * (the watcher's; see below); this process's own slot does not count. */
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
 * would drop that lock).  While there is trouble it calls look(), which
 * must panic the process's environment without waiting for anything
 * (a trylock: the main thread may be blocked inside Berkeley DB;
 * DB_PANIC_ENVIRONMENT takes no mutex: env/env_method.c __env_set_flags
 * calls __env_panic, which only sets the region's flag) and return
 * HEAL_ATTACHED (still attached), HEAL_LEFT (not attached) or HEAL_BUSY
 * (could not tell without waiting: the main thread is opening or
 * closing the environment, and may be blocked there).  leave() is
 * called once the process has stayed attached or busy through leave_ms
 * of trouble: it must end the process (or exec) and not return; if it
 * does, the watcher exits with 75. */
enum { HEAL_ATTACHED = 1, HEAL_LEFT, HEAL_BUSY };

struct heal_watch;

struct heal_watch_ops {
	int (*look)(void *ctx, int wanted);
	void *ctx;
	int leave_ms;
};

/* heal_watch_start - start the watcher for dir (its own descriptor of
 * spool.heal); NULL with err.  Stop and free with heal_watch_stop. */
struct heal_watch *heal_watch_start(const char *dir, int mode,
				    const struct heal_watch_ops *ops,
				    struct pb_err *err);
void heal_watch_stop(struct heal_watch *w);

/* heal_watch_set_leave - the command's way out (see above). */
void heal_watch_set_leave(struct heal_watch *w, void (*leave)(void *),
			  void *arg);

/* heal_watch_wake_fd - readable once the watcher has panicked the
 * environment: a process that sleeps in poll (the runner) adds it, so
 * that it reopens at once instead of at its next wakeup.  The caller
 * drains it. */
int heal_watch_wake_fd(const struct heal_watch *w);

#endif
