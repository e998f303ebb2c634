/*
 * heal.c - the locks and the watcher that let the spool heal itself
 * (see heal.h).  Everything here is decided by locks the kernel releases
 * when their holder dies, never by a pid that might be reused or a file
 * that a killed process left behind.
 */
#include "spool/heal.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

/* Berkeley DB's register file (env/env_register.c): fixed lines of
 * PID_LEN bytes, "%24lu\n" for a registered pid, a line starting with
 * 'X' for an empty slot; each registered process holds an fcntl write
 * lock on the first byte of its line. */
#define PID_LEN 25
#define MAX_SLOTS 4096		/* far more processes than THREAD_SLOTS */
#define TICK_MS 100

static int
open_file(const char *dir, const char *name, int mode, int *fd_r,
	  struct pb_err *err)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	*fd_r = open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode);
	if (*fd_r < 0)
		return pb_err_set(err, errno == EACCES ? PB_EIO : PB_ETEMP,
				  "%s: %s", path, strerror(errno));
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

int
heal_attach(int users_fd, struct pb_err *err)
{
	if (setlk(users_fd, F_RDLCK) != 0)
		return pb_err_set(err, PB_ETEMP, "locking %s: %s", HEAL_USERS_FILE,
				  strerror(errno));
	return 0;
}

void
heal_detach(int users_fd)
{
	if (users_fd >= 0)
		(void)setlk(users_fd, F_UNLCK);
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

struct heal_watch {
	struct heal_watch_ops ops;
	void (*leave)(void *);
	void *leave_arg;
	pthread_mutex_t mu;	/* guards leave, leave_arg */
	pthread_t thread;
	char *reg_path;
	int reg_fd;		/* __db.register, never closed while current */
	int heal_fd;
	int stop_fd;		/* eventfd: stop the thread */
	int wake_fd;		/* eventfd: we panicked the environment */
};

static void
leave_default(void *arg)
{
	(void)arg;
	_exit(75);
}

/* dead_now - how many registered processes died, through w->reg_fd,
 * following the file when recovery has replaced it: the old descriptor
 * is closed only when the path names another file (or none), and then
 * it is not the one Berkeley DB holds a lock on.  0 while there is no
 * register (a new spool, or a recovery rebuilding it). */
static int
dead_now(struct heal_watch *w)
{
	long pids[HEAL_MAX_DEAD];
	struct stat cur, mine;

	if (stat(w->reg_path, &cur) != 0) {
		if (w->reg_fd >= 0) {
			close(w->reg_fd);
			w->reg_fd = -1;
		}
		return 0;
	}
	if (w->reg_fd >= 0 && (fstat(w->reg_fd, &mine) != 0 ||
			       mine.st_ino != cur.st_ino || mine.st_dev != cur.st_dev)) {
		close(w->reg_fd);
		w->reg_fd = -1;
	}
	if (w->reg_fd < 0 &&
	    (w->reg_fd = open(w->reg_path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	return heal_dead_fd(w->reg_fd, pids);
}

static void *
watch_main(void *arg)
{
	struct heal_watch *w = arg;
	int64_t since = 0;
	int woke = 0;

	for (;;) {
		struct pollfd pfd = { .fd = w->stop_fd, .events = POLLIN };
		int wanted, st;

		if (poll(&pfd, 1, TICK_MS) > 0)
			break;
		wanted = heal_wanted(w->heal_fd);
		if (!wanted && dead_now(w) <= 0) {
			since = 0;
			woke = 0;
			continue;
		}
		st = w->ops.look(w->ops.ctx, wanted);
		if (st == HEAL_LEFT) {
			since = 0;
			continue;
		}
		if (st == HEAL_ATTACHED && !woke) {
			uint64_t one = 1;

			if (write(w->wake_fd, &one, sizeof one) < 0)
				log_debug(NULL, "heal: wake: %s", strerror(errno));
			woke = 1;
		}
		if (!since) {
			since = clock_ms();
			continue;
		}
		if (clock_ms() - since >= w->ops.leave_ms) {
			void (*leave)(void *);
			void *la;

			pthread_mutex_lock(&w->mu);
			leave = w->leave;
			la = w->leave_arg;
			pthread_mutex_unlock(&w->mu);
			log_warning(NULL, "spool: this process stayed attached "
				    "for %d ms while the spool needs recovery "
				    "(%s): leaving it", w->ops.leave_ms,
				    wanted ? "another process is recovering it"
				    : "a process died attached to it");
			leave(la);
			_exit(75);
		}
	}
	return NULL;
}

struct heal_watch *
heal_watch_start(const char *dir, int mode, const struct heal_watch_ops *ops,
		 struct pb_err *err)
{
	struct heal_watch *w = xcalloc(1, sizeof *w);
	sigset_t all, old;
	int rc;

	w->ops = *ops;
	w->leave = leave_default;
	w->stop_fd = w->wake_fd = w->reg_fd = -1;
	w->reg_path = xmalloc(strlen(dir) + sizeof "/" HEAL_REGISTER_FILE);
	sprintf(w->reg_path, "%s/%s", dir, HEAL_REGISTER_FILE);
	pthread_mutex_init(&w->mu, NULL);
	if (open_file(dir, HEAL_FILE, mode, &w->heal_fd, err) != 0)
		goto fail;
	w->stop_fd = eventfd(0, EFD_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stop_fd < 0 || w->wake_fd < 0) {
		pb_err_set(err, PB_ETEMP, "eventfd: %s", strerror(errno));
		goto fail;
	}
	/* Signals stay with the main thread (the filters' SIGALRM
	 * watchdog, the runner's SIGTERM and SIGCHLD). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, watch_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pb_err_set(err, PB_ETEMP, "starting the spool watcher: %s",
			   strerror(rc));
		goto fail;
	}
	return w;
fail:
	if (w->heal_fd >= 0)
		close(w->heal_fd);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	pthread_mutex_destroy(&w->mu);
	free(w->reg_path);
	free(w);
	return NULL;
}

void
heal_watch_stop(struct heal_watch *w)
{
	uint64_t one = 1;

	if (!w)
		return;
	if (write(w->stop_fd, &one, sizeof one) != sizeof one)
		log_debug(NULL, "heal: stop: %s", strerror(errno));
	pthread_join(w->thread, NULL);
	/* After the environment's close (spool_close), so this descriptor
	 * can no longer be the one whose close drops a lock we need. */
	if (w->reg_fd >= 0)
		close(w->reg_fd);
	close(w->heal_fd);
	close(w->stop_fd);
	close(w->wake_fd);
	pthread_mutex_destroy(&w->mu);
	free(w->reg_path);
	free(w);
}

void
heal_watch_set_leave(struct heal_watch *w, void (*leave)(void *), void *arg)
{
	pthread_mutex_lock(&w->mu);
	w->leave = leave ? leave : leave_default;
	w->leave_arg = arg;
	pthread_mutex_unlock(&w->mu);
}

int
heal_watch_wake_fd(const struct heal_watch *w)
{
	return w->wake_fd;
}
