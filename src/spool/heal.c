/*
 * heal.c - attaching to the spool's environment or recovering it, the
 * locks that decide which, and the watcher (see heal.h).  Everything
 * here is decided by locks the kernel releases when their holder dies,
 * never by a pid that might be reused or a file that a killed process
 * left behind.  spool.c only opens, closes and panics the environment
 * when asked (struct heal_env).
 */
#include "spool/heal.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Berkeley DB's register file (env/env_register.c): fixed lines of
 * PID_LEN bytes, "%24lu\n" for a registered pid, a line starting with
 * 'X' for an empty slot; each registered process holds an fcntl write
 * lock on the first byte of its line. */
#define PID_LEN 25
#define MAX_SLOTS 4096		/* far more processes than THREAD_SLOTS */
#define TICK_MS 100
/* Creating the databases takes exclusive handle locks that a process
 * waiting for them can never time out of; if the creator is killed,
 * everyone else waits for ever.  So every open happens under an flock
 * the kernel releases when its holder dies (OPEN_LOCK), and READY_MARK
 * records that the first one completed. */
#define OPEN_LOCK "spool.lock"
#define OPEN_LOCK_BUDGET_MS 30000
#define READY_MARK "spool.ready"
#define MAX_ATTEMPTS 200	/* opens while the spool is busy */
/* How long the recoverer waits for every other process to leave, and
 * how long a process may stay attached once the spool needs recovery
 * (its watcher then makes it leave): the first is longer, so that a
 * blocked process is gone before the recoverer gives up, and both
 * together stay far below the 10 s in which the spool must serve
 * again. */
#define HEAL_WAIT_MS 6000
#define HEAL_LEAVE_MS 2000

/* user_name, group_name - a name for an id, else the number. */
static const char *
user_name(uid_t uid, char *out, size_t len)
{
	struct passwd pw, *r = NULL;
	char buf[1024];

	if (getpwuid_r(uid, &pw, buf, sizeof buf, &r) == 0 && r)
		snprintf(out, len, "%s", r->pw_name);
	else
		snprintf(out, len, "%ld", (long)uid);
	return out;
}

static const char *
group_name(gid_t gid, char *out, size_t len)
{
	struct group gr, *r = NULL;
	char buf[4096];

	if (getgrgid_r(gid, &gr, buf, sizeof buf, &r) == 0 && r)
		snprintf(out, len, "%s", r->gr_name);
	else
		snprintf(out, len, "%ld", (long)gid);
	return out;
}

/* foreign - does the file at path not belong to the spool's owner (and,
 * in a group-shared spool, to its group)? */
static int
foreign(const struct stat *ds, const char *path, struct stat *fs)
{
	return stat(path, fs) == 0 && S_ISREG(fs->st_mode) &&
	       (fs->st_uid != ds->st_uid ||
		((ds->st_mode & S_IWGRP) && fs->st_gid != ds->st_gid));
}

/* first_foreign - the first file in dir that is not the owner's. */
static int
first_foreign(const char *dir, const struct stat *ds, char *out, size_t len,
	      struct stat *fs)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(out, len, "%s/%s", dir, de->d_name);
		found = foreign(ds, out, fs);
	}
	closedir(d);
	return found;
}

int
heal_denied(const char *dir, const char *path, struct pb_err *err)
{
	char owner[64], group[64], me[64], fowner[64], fgroup[64], other[4096];
	struct stat ds, fs;
	size_t dl = strlen(dir);

	user_name(geteuid(), me, sizeof me);
	if (stat(dir, &ds) != 0)
		return pb_err_set(err, PB_ENOPERM,
				  "spool_dir %s: Permission denied to %s (it or a "
				  "directory above it is closed to this user; see "
				  "pksbridge(8) SPOOL PERMISSIONS)", dir, me);
	user_name(ds.st_uid, owner, sizeof owner);
	group_name(ds.st_gid, group, sizeof group);
	/* A file inside that is not the spool owner's: left by a command
	 * run as another user (root, before pksbridge handed root's files
	 * to the owner).  Only the operator's chown mends that. */
	if ((path && foreign(&ds, path, &fs) &&
	     snprintf(other, sizeof other, "%s", path) > 0) ||
	    first_foreign(dir, &ds, other, sizeof other, &fs))
		return pb_err_set(err, PB_ENOPERM,
				  "spool_dir %s: Permission denied to %s: its "
				  "files must belong to the spool's owner %s:%s, "
				  "and %s belongs to %s:%s; as root: chown -R %s:%s "
				  "%s (see pksbridge(8) SPOOL PERMISSIONS)", dir, me,
				  owner, group,
				  strncmp(other, dir, dl) == 0 && other[dl] == '/' ?
				  other + dl + 1 : other,
				  user_name(fs.st_uid, fowner, sizeof fowner),
				  group_name(fs.st_gid, fgroup, sizeof fgroup),
				  owner, group, dir);
	return pb_err_set(err, PB_ENOPERM,
			  "spool_dir %s: Permission denied to %s: the spool "
			  "belongs to %s:%s, mode %04o; run as %s or as a member "
			  "of group %s (with a group-writable spool: chmod 2770 "
			  "%s; see pksbridge(8) SPOOL PERMISSIONS)", dir, me, owner,
			  group, (unsigned)(ds.st_mode & 07777), owner, group, dir);
}

static int
open_file(const char *dir, const char *name, int mode, int *fd_r,
	  struct pb_err *err)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	*fd_r = open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode);
	if (*fd_r < 0) {
		if (errno == EACCES || errno == EPERM)
			return heal_denied(dir, path, err);
		return pb_err_set(err, PB_ETEMP, "%s: %s", path, strerror(errno));
	}
	return 0;
}

/* byte_lock - an fcntl lock request of type on byte pos. */
static struct flock
byte_lock(short type, off_t pos)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = pos;
	fl.l_len = 1;
	return fl;
}

/* setlk - an fcntl lock of type on byte 0 of fd, without waiting. */
static int
setlk(int fd, short type)
{
	struct flock fl = byte_lock(type, 0);

	return fcntl(fd, F_SETLK, &fl);
}

/* locked_by_other - does another process hold a lock on byte pos of fd
 * that would conflict with a write lock?  Our own locks never show. */
static int
locked_by_other(int fd, off_t pos)
{
	struct flock fl = byte_lock(F_WRLCK, pos);

	if (fcntl(fd, F_GETLK, &fl) != 0)
		return 1;	/* cannot tell: do not call anyone dead */
	return fl.l_type != F_UNLCK;
}

int
heal_open_users(const char *dir, int mode, int *fd_r, struct pb_err *err)
{
	return open_file(dir, HEAL_USERS_FILE, mode, fd_r, err);
}


/* dead_in - heal_dead_fd's count; our own slot is skipped with
 * skip_self (a registered process's lock does not show to itself), and
 * counted without it: a process that is not registered and finds its
 * own pid is an earlier image of itself (the runner execs itself again
 * in the same pid), whose slot Berkeley DB would refuse ("one open
 * DB_ENV handle per environment"). */
static int
dead_in(int fd, long pids[HEAL_MAX_DEAD], int skip_self)
{
	char line[PID_LEN + 1];
	long self = skip_self ? (long)getpid() : -1;
	int n = 0;

	for (int slot = 0; slot < MAX_SLOTS; slot++) {
		off_t pos = (off_t)slot * PID_LEN;
		ssize_t r = pread(fd, line, PID_LEN, pos);
		char *end;
		long pid;

		if (r <= 0)
			break;
		if (line[0] == 'X')
			continue;
		line[r] = '\0';
		pid = strtol(line, &end, 10);
		/* A partial or garbled line is what a process killed while
		 * registering leaves: Berkeley DB counts it as dead, and so
		 * do we, if nobody holds it. */
		if (pid == self && r == PID_LEN)
			continue;	/* our own lock does not show to us */
		if (locked_by_other(fd, pos))
			continue;
		if (n < HEAL_MAX_DEAD)
			pids[n] = pid;
		n++;
	}
	return n;
}

int
heal_dead_fd(int fd, long pids[HEAL_MAX_DEAD])
{
	return dead_in(fd, pids, 1);
}

int
heal_dead(const char *dir, long pids[HEAL_MAX_DEAD])
{
	char path[4096];
	int fd, n;

	snprintf(path, sizeof path, "%s/%s", dir, HEAL_REGISTER_FILE);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = dead_in(fd, pids, 0);
	if (n == 0 && lseek(fd, 0, SEEK_END) == 0)
		n = -1;		/* empty: Berkeley DB would recover too */
	close(fd);
	return n;
}

int
heal_wanted(int heal_fd)
{
	return heal_fd >= 0 && locked_by_other(heal_fd, 0);
}

int
heal_begin(const char *dir, int mode, int users_fd, int budget_ms,
	   int *heal_fd_r, struct pb_err *err)
{
	int64_t deadline = clock_ms() + budget_ms;

	if (open_file(dir, HEAL_FILE, mode, heal_fd_r, err) != 0)
		return -1;
	/* Under spool.lock nobody else can be recovering: this is free. */
	if (setlk(*heal_fd_r, F_WRLCK) != 0) {
		int e = errno;

		close(*heal_fd_r);
		*heal_fd_r = -1;
		return pb_err_set(err, PB_ETEMP, "locking %s: %s", HEAL_FILE,
				  strerror(e));
	}
	for (int attempt = 0; setlk(users_fd, F_WRLCK) != 0; attempt++) {
		if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
			int e = errno;

			heal_end(users_fd, 0, heal_fd_r);
			return pb_err_set(err, PB_ETEMP, "locking %s: %s",
					  HEAL_USERS_FILE, strerror(e));
		}
		if (clock_ms() > deadline) {
			heal_end(users_fd, 0, heal_fd_r);
			return pb_err_set(err, PB_ETEMP, "%s: processes stayed "
					  "attached for %d s while recovery waited "
					  "for them to leave", dir, budget_ms / 1000);
		}
		clock_nap_ms(attempt < 10 ? 2 : 20);
	}
	return 0;
}

int
heal_clear(const char *dir, struct pb_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return pb_err_set(err, PB_ETEMP, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		char path[4096];

		/* The region files are __db.001 to __db.00N (and the
		 * register); the databases and log.* files are what
		 * recovery works from and stay. */
		if (strncmp(n, "__db.", 5) != 0)
			continue;
		if (!(n[5] >= '0' && n[5] <= '9') &&
		    strcmp(n, HEAL_REGISTER_FILE) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, n);
		if (unlink(path) != 0 && errno != ENOENT && r == 0)
			r = pb_err_set(err, PB_ETEMP, "removing %s: %s", path,
				       strerror(errno));
	}
	closedir(d);
	return r;
}

void
heal_end(int users_fd, int attached, int *heal_fd)
{
	/* Converting a held fcntl lock is one atomic step (POSIX: the new
	 * lock replaces the old), so no opener can take the write lock in
	 * between: we hold spool.lock besides. */
	if (users_fd >= 0)
		(void)setlk(users_fd, attached ? F_RDLCK : F_UNLCK);
	if (*heal_fd >= 0) {
		(void)setlk(*heal_fd, F_UNLCK);
		close(*heal_fd);
		*heal_fd = -1;
	}
}


struct heal {
	struct heal_env env;
	char *dir;
	int mode;
	/* mu guards attached, and the environment, against the watcher,
	 * which only ever trylocks it; the main thread holds it while it
	 * opens or closes the environment. */
	pthread_mutex_t mu;
	int attached;		/* the environment is open */
	int panicked;		/* the watcher panicked it (atomic) */
	int users_fd;		/* spool.users, read-locked while attached */
	/* The watcher. */
	pthread_t thread;
	pthread_mutex_t leave_mu;	/* guards leave, leave_arg */
	void (*leave)(void *);
	void *leave_arg;
	char *reg_path;
	int reg_fd;		/* __db.register, never closed while current */
	int heal_fd;
	int stop_fd;		/* eventfd: stop the thread */
	int recovery_fd;	/* eventfd: we panicked the environment */
};

static void
file_path(const struct heal *h, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", h->dir, name);
}

/* opened - the environment was opened: under h->mu. */
static void
opened(struct heal *h)
{
	h->attached = 1;
	__atomic_store_n(&h->panicked, 0, __ATOMIC_RELEASE);
}

/* join - attach to an environment whose registered processes are all
 * alive: read-lock spool.users (under the open lock, where no recoverer
 * can hold the write lock, so this never waits), then open it. */
static int
join(struct heal *h, unsigned how, struct pb_err *err)
{
	int r;

	pthread_mutex_lock(&h->mu);
	if (setlk(h->users_fd, F_RDLCK) != 0)
		r = pb_err_set(err, PB_ETEMP, "locking %s: %s", HEAL_USERS_FILE,
			       strerror(errno));
	else if ((r = h->env.open(h->env.ctx, how, err)) != 0)
		(void)setlk(h->users_fd, F_UNLCK);
	else
		opened(h);
	pthread_mutex_unlock(&h->mu);
	return r;
}

/* log_recovery - the one warning a recovery is logged with. */
static void
log_recovery(struct heal *h, int dead, const long *pids, int64_t ms)
{
	char who[HEAL_MAX_DEAD * 24 + 64];
	unsigned long nq = h->env.entries(h->env.ctx);
	size_t wl = 0;

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
		    "back; the queue holds %lu entr%s", h->dir,
		    dead > 0 ? (dead > 1 ? "processes died attached to it" :
				"a process died attached to it") :
		    "its Berkeley DB register was missing or broken",
		    (long long)ms, nq, nq == 1 ? "y" : "ies");
	if (dead > 0)
		log_info(NULL, "spool %s: the process%s that died: %s", h->dir,
			 dead > 1 ? "es" : "", who);
}

/* recover - the recoverer's part, under the open lock: wait until no
 * other process is attached, remove the regions and the register, and
 * open with recovery, which replays the log: what was committed stays,
 * what never committed is rolled back.  dead/pids say why (for the log
 * line); dead < 0 on the spool's first open is a new spool, created
 * rather than recovered. */
static int
recover(struct heal *h, unsigned how, int dead, const long *pids,
	struct pb_err *err)
{
	int64_t t0 = clock_ms();
	int heal_fd = -1, r;

	if (heal_begin(h->dir, h->mode, h->users_fd, HEAL_WAIT_MS, &heal_fd,
		       err) != 0)
		return -1;
	pthread_mutex_lock(&h->mu);
	r = heal_clear(h->dir, err);
	if (r == 0)
		r = h->env.open(h->env.ctx, how | HEAL_OPEN_RECOVER, err);
	if (r == 0)
		opened(h);
	heal_end(h->users_fd, r == 0, &heal_fd);
	pthread_mutex_unlock(&h->mu);
	if (r != 0 || (dead < 0 && (how & HEAL_OPEN_FLUSH)))
		return r;
	log_recovery(h, dead, pids, clock_ms() - t0);
	return 0;
}

/* attach_once - under the open lock: join the environment if every
 * process that registered is alive, else recover it first. */
static int
attach_once(struct heal *h, unsigned how, struct pb_err *err)
{
	long pids[HEAL_MAX_DEAD];
	int dead, r;

	if (h->users_fd < 0 &&
	    heal_open_users(h->dir, h->mode, &h->users_fd, err) != 0)
		return -1;
	dead = heal_dead(h->dir, pids);
	if (dead != 0)
		return recover(h, how, dead, pids, err);
	r = join(h, how, err);
	if (r != HEAL_OPEN_NEEDS_RECOVERY)
		return r;
	/* A registrant died after heal_dead looked (Berkeley DB said
	 * DB_RUNRECOVERY, and has emptied the register's slots). */
	dead = heal_dead(h->dir, pids);
	return recover(h, how, dead > 0 ? dead : 1, pids, err);
}

/* open_lock - the descriptor holding the flock on OPEN_LOCK, or -1 with
 * err.  The wait for it is bounded: its holder may be a recoverer
 * waiting for processes to leave, or itself blocked until its watcher
 * makes it leave. */
static int
open_lock(struct heal *h, struct pb_err *err)
{
	char path[4096];
	int64_t deadline = clock_ms() + OPEN_LOCK_BUDGET_MS;
	int fd;

	file_path(h, OPEN_LOCK, path, sizeof path);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, h->mode);
	if (fd < 0) {
		if (errno == EACCES || errno == EPERM)
			return heal_denied(h->dir, path, err);
		return pb_err_set(err, PB_ETEMP, "%s: %s", path, strerror(errno));
	}
	for (int attempt = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; attempt++) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			pb_err_set(err, PB_ETEMP, "flock %s: %s", path,
				   strerror(errno));
			close(fd);
			return -1;
		}
		if (clock_ms() > deadline) {
			close(fd);
			return pb_err_set(err, PB_ETEMP, "%s: another process has "
					  "been opening (or recovering) the spool "
					  "for %d s", path, OPEN_LOCK_BUDGET_MS / 1000);
		}
		clock_backoff(attempt < 6 ? attempt : 6);
	}
	return fd;
}

/* open_locked - attach_once under the open lock.  Creation needs the
 * lock (see OPEN_LOCK), and so does every open: an open that recovers
 * removes and rebuilds the region files, and another process attaching
 * to them at that moment could be handed a half-built region.  The first
 * open leaves READY_MARK, durable before anyone relies on it. */
static int
open_locked(struct heal *h, struct pb_err *err)
{
	char mark[4096];
	unsigned how;
	int fd, r, mfd;

	if ((fd = open_lock(h, err)) < 0)
		return -1;
	file_path(h, READY_MARK, mark, sizeof mark);
	how = access(mark, F_OK) == 0 ? 0 : HEAL_OPEN_FLUSH;
	r = attach_once(h, how, err);
	if (r == 0 && how) {
		mfd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, h->mode);
		if (mfd < 0 || fsync(mfd) != 0) {
			r = pb_err_set(err, PB_EIO, "%s: %s", mark, strerror(errno));
			heal_leave(h);
		}
		if (mfd >= 0)
			close(mfd);
	}
	close(fd);	/* releases the flock */
	return r;
}

int
heal_attach(struct heal *h, struct pb_err *err)
{
	for (int attempt = 0;; attempt++) {
		int r = open_locked(h, err);

		if (r == 0)
			return 0;
		/* Busy (another process is creating a database or running
		 * recovery) or needing recovery: try again. */
		if (r < 0 || attempt >= MAX_ATTEMPTS - 1)
			return -1;
		clock_backoff(attempt);
	}
}

void
heal_leave(struct heal *h)
{
	pthread_mutex_lock(&h->mu);
	h->env.close(h->env.ctx);
	h->attached = 0;
	if (h->users_fd >= 0)
		(void)setlk(h->users_fd, F_UNLCK);
	pthread_mutex_unlock(&h->mu);
}

int
heal_reattach(struct heal *h, struct pb_err *err)
{
	heal_leave(h);
	return heal_attach(h, err);
}

int
heal_panicked(struct heal *h)
{
	return __atomic_load_n(&h->panicked, __ATOMIC_ACQUIRE);
}

/*
 * The watcher.
 */
enum { W_ATTACHED = 1, W_LEFT, W_BUSY };

static void
leave_default(void *arg)
{
	(void)arg;
	_exit(75);
}

/* look - the watcher's tick while there is trouble: panic the
 * environment if it is open, never waiting for the main thread. */
static int
look(struct heal *h, int wanted)
{
	int st;

	if (pthread_mutex_trylock(&h->mu) != 0)
		return W_BUSY;
	if (!h->attached) {
		st = W_LEFT;
	} else {
		if (!heal_panicked(h)) {
			log_info(NULL, "spool %s: %s: leaving the environment "
				 "for recovery", h->dir, wanted ?
				 "another process is recovering it" :
				 "a process died attached to it");
			h->env.panic(h->env.ctx);
			__atomic_store_n(&h->panicked, 1, __ATOMIC_RELEASE);
		}
		st = W_ATTACHED;
	}
	pthread_mutex_unlock(&h->mu);
	return st;
}

/* dead_now - how many registered processes died, through h->reg_fd,
 * following the file when recovery has replaced it: the old descriptor
 * is closed only when the path names another file (or none), and then
 * it is not the one Berkeley DB holds a lock on.  0 while there is no
 * register (a new spool, or a recovery rebuilding it). */
static int
dead_now(struct heal *h)
{
	long pids[HEAL_MAX_DEAD];
	struct stat cur, mine;

	if (stat(h->reg_path, &cur) != 0) {
		if (h->reg_fd >= 0) {
			close(h->reg_fd);
			h->reg_fd = -1;
		}
		return 0;
	}
	if (h->reg_fd >= 0 && (fstat(h->reg_fd, &mine) != 0 ||
			       mine.st_ino != cur.st_ino || mine.st_dev != cur.st_dev)) {
		close(h->reg_fd);
		h->reg_fd = -1;
	}
	if (h->reg_fd < 0 &&
	    (h->reg_fd = open(h->reg_path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	return heal_dead_fd(h->reg_fd, pids);
}

/* make_leave - the process stayed attached through HEAL_LEAVE_MS of
 * trouble: its leave function, which does not return. */
static void
make_leave(struct heal *h, int wanted)
{
	void (*leave)(void *);
	void *la;

	pthread_mutex_lock(&h->leave_mu);
	leave = h->leave;
	la = h->leave_arg;
	pthread_mutex_unlock(&h->leave_mu);
	log_warning(NULL, "spool: this process stayed attached for %d ms while "
		    "the spool needs recovery (%s): leaving it", HEAL_LEAVE_MS,
		    wanted ? "another process is recovering it"
		    : "a process died attached to it");
	leave(la);
	_exit(75);
}

static void *
watch_main(void *arg)
{
	struct heal *h = arg;
	int64_t since = 0;
	int woke = 0;

	for (;;) {
		struct pollfd pfd = { .fd = h->stop_fd, .events = POLLIN };
		int wanted, st;

		if (poll(&pfd, 1, TICK_MS) > 0)
			break;
		wanted = heal_wanted(h->heal_fd);
		if (!wanted && dead_now(h) <= 0) {
			since = 0;
			woke = 0;
			continue;
		}
		st = look(h, wanted);
		if (st == W_LEFT) {
			since = 0;
			continue;
		}
		if (st == W_ATTACHED && !woke) {
			uint64_t one = 1;

			if (write(h->recovery_fd, &one, sizeof one) < 0)
				log_debug(NULL, "heal: wake: %s", strerror(errno));
			woke = 1;
		}
		if (!since)
			since = clock_ms();
		else if (clock_ms() - since >= HEAL_LEAVE_MS)
			make_leave(h, wanted);
	}
	return NULL;
}

static void
free_heal(struct heal *h)
{
	if (h->users_fd >= 0)
		close(h->users_fd);
	if (h->reg_fd >= 0)
		close(h->reg_fd);
	if (h->heal_fd >= 0)
		close(h->heal_fd);
	if (h->stop_fd >= 0)
		close(h->stop_fd);
	if (h->recovery_fd >= 0)
		close(h->recovery_fd);
	pthread_mutex_destroy(&h->mu);
	pthread_mutex_destroy(&h->leave_mu);
	free(h->reg_path);
	free(h->dir);
	free(h);
}

struct heal *
heal_start(const char *dir, int mode, const struct heal_env *env,
	   struct pb_err *err)
{
	struct heal *h = xcalloc(1, sizeof *h);
	sigset_t all, old;
	int rc;

	h->env = *env;
	h->dir = xstrdup(dir);
	h->mode = mode;
	h->leave = leave_default;
	h->users_fd = h->stop_fd = h->recovery_fd = h->reg_fd = h->heal_fd = -1;
	h->reg_path = xasprintf("%s/%s", dir, HEAL_REGISTER_FILE);
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_init(&h->leave_mu, NULL);
	if (open_file(dir, HEAL_FILE, mode, &h->heal_fd, err) != 0)
		goto fail;
	h->stop_fd = eventfd(0, EFD_CLOEXEC);
	h->recovery_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->stop_fd < 0 || h->recovery_fd < 0) {
		pb_err_set(err, PB_ETEMP, "eventfd: %s", strerror(errno));
		goto fail;
	}
	/* Signals stay with the main thread (the filters' SIGALRM
	 * watchdog, the runner's SIGTERM and SIGCHLD). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&h->thread, NULL, watch_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pb_err_set(err, PB_ETEMP, "starting the spool watcher: %s",
			   strerror(rc));
		goto fail;
	}
	return h;
fail:
	free_heal(h);
	return NULL;
}

void
heal_stop(struct heal *h)
{
	uint64_t one = 1;

	if (!h)
		return;
	/* The environment first: the watcher's descriptor of __db.register
	 * may be closed only once Berkeley DB holds no lock on it. */
	heal_leave(h);
	if (write(h->stop_fd, &one, sizeof one) != sizeof one)
		log_debug(NULL, "heal: stop: %s", strerror(errno));
	pthread_join(h->thread, NULL);
	free_heal(h);
}

void
heal_set_leave(struct heal *h, void (*leave)(void *), void *arg)
{
	pthread_mutex_lock(&h->leave_mu);
	h->leave = leave ? leave : leave_default;
	h->leave_arg = arg;
	pthread_mutex_unlock(&h->leave_mu);
}

int
heal_recovery_fd(const struct heal *h)
{
	return h->recovery_fd;
}

void
heal_recovery_drain(struct heal *h)
{
	uint64_t n;

	if (read(h->recovery_fd, &n, sizeof n) < 0)
		return;	/* EAGAIN: nothing to drain */
}
