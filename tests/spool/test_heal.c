/*
 * test_heal.c - the locks the self-healing spool decides by (heal.h),
 * with real processes holding them: a register slot held by a live
 * process, one whose process died, an empty one, a torn one and our
 * own; the recoverer waiting for an attached process to leave, and the
 * others seeing that it waits; what heal_clear removes and what it keeps; and
 * a spool whose registrant died being recovered by the next open, with
 * what was committed still there.
 */
#include "lib/unit.h"
#include "spool/heal.h"
#include "spool/queue.h"
#include "spool/spool.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* subdir - a fresh directory of its own for each test (name). */
static const char *
subdir(const char *name)
{
	static char p[8][4096];
	static int n;
	char *d = p[n++ % 8];

	snprintf(d, 4096, "%s/%s", unit_tmpdir(), name);
	mkdir(d, 0700);
	return d;
}

static const char *
path_in(const char *dir, const char *name)
{
	static char p[4096];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

/* lock_child - a child that write-locks byte pos of path (a read lock
 * if rd), says so through a pipe, and waits until killed.  Its pid. */
static pid_t
lock_child(const char *path, off_t pos, int rd)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) != 0)
		return -1;
	if ((pid = fork()) == 0) {
		struct flock fl;
		int fd = open(path, O_RDWR);

		memset(&fl, 0, sizeof fl);
		fl.l_type = rd ? F_RDLCK : F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = pos;
		fl.l_len = 1;
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) != 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1) {
		close(p[0]);
		return -1;
	}
	close(p[0]);
	return pid;
}

static void
end_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void
test_register_slots(void)
{
	const char *dir = subdir("regs");
	char reg[4096], text[256];
	long pids[HEAL_MAX_DEAD];
	pid_t alive;

	CHECK_INT(heal_dead(dir, pids), -1);	/* no register: a new spool */
	snprintf(reg, sizeof reg, "%s", path_in(dir, HEAL_REGISTER_FILE));
	write_file(reg, "");
	CHECK_INT(heal_dead(dir, pids), -1);	/* empty: recover as BDB does */
	/* slot 0: held by a live process; 1: empty; 2: a pid nobody holds */
	snprintf(text, sizeof text, "%24lu\nX                      0\n%24lu\n",
		 12345UL, 4242UL);
	write_file(reg, text);
	alive = lock_child(reg, 0, 0);
	CHECK(alive > 0);
	CHECK_INT(heal_dead(dir, pids), 1);
	CHECK_INT(pids[0], 4242);
	/* The holder dies: its slot is dead too, at once (the kernel
	 * dropped its lock). */
	end_child(alive);
	CHECK_INT(heal_dead(dir, pids), 2);
	CHECK_INT(pids[0], 12345);
	/* A torn last line, as a process killed while registering leaves. */
	snprintf(text, sizeof text, "X                      0\n    77");
	write_file(reg, text);
	CHECK_INT(heal_dead(dir, pids), 1);
	CHECK_INT(pids[0], 77);
	/* Our own pid in a slot: for a registered process (the watcher's
	 * heal_dead_fd) that is itself, whose lock does not show to it; for
	 * one that is not (heal_dead, before the open) an earlier image of
	 * itself, as a runner that execs itself leaves: dead. */
	snprintf(text, sizeof text, "%24lu\n", (unsigned long)getpid());
	write_file(reg, text);
	CHECK_INT(heal_dead(dir, pids), 1);
	{
		int fd = open(reg, O_RDONLY);

		CHECK(fd >= 0);
		CHECK_INT(heal_dead_fd(fd, pids), 0);
		close(fd);
	}
}

static void
test_wait_for_users(void)
{
	const char *dir = subdir("users");
	struct pb_err err;
	int users, heal_fd = -1, probe;
	int64_t t0;
	pid_t attached, other;

	CHECK_OK(heal_open_users(dir, 0600, &users, &err), &err);
	attached = lock_child(path_in(dir, HEAL_USERS_FILE), 0, 1);
	CHECK(attached > 0);
	/* Someone attached: the recoverer gives up after its budget. */
	t0 = clock_ms();
	CHECK(heal_begin(dir, 0600, users, 300, &heal_fd, &err) != 0);
	CHECK(clock_ms() - t0 >= 300);
	CHECK_INT(err.status, PB_ETEMP);
	CHECK(strstr(err.msg, "stayed attached") != NULL);
	CHECK_INT(heal_fd, -1);
	/* Once it is gone the recoverer gets the write lock... */
	end_child(attached);
	CHECK_OK(heal_begin(dir, 0600, users, 300, &heal_fd, &err), &err);
	CHECK(heal_fd >= 0);
	/* ...so nobody can attach meanwhile, and the others see it wait. */
	probe = open(path_in(dir, HEAL_FILE), O_RDWR);
	CHECK(probe >= 0);
	CHECK_INT(heal_wanted(probe), 0);	/* our own lock never shows */
	other = fork();
	if (other == 0)
		_exit(heal_wanted(probe) ? 0 : 1);
	{
		int st;

		CHECK(waitpid(other, &st, 0) == other);
		CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "another process does not see the recoverer");
	}
	/* heal_end turns the write lock into an attached reader's. */
	heal_end(users, 1, &heal_fd);
	CHECK_INT(heal_fd, -1);
	other = fork();
	if (other == 0) {
		struct flock fl;
		int fd = open(path_in(dir, HEAL_USERS_FILE), O_RDWR);

		memset(&fl, 0, sizeof fl);
		fl.l_type = F_RDLCK;
		fl.l_len = 1;
		/* a reader may join, a writer (recoverer) may not */
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) != 0)
			_exit(1);
		fl.l_type = F_WRLCK;
		_exit(fcntl(fd, F_SETLK, &fl) == 0 ? 2 : 0);
	}
	{
		int st;

		CHECK(waitpid(other, &st, 0) == other);
		CHECK_INT(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
	}
	close(probe);
	close(users);
}

static void
test_clear(void)
{
	const char *dir = subdir("clear");
	static const char *gone[] = { "__db.001", "__db.005", HEAL_REGISTER_FILE };
	static const char *kept[] = { "queue.db", "log.0000000001", "__db.rep.x",
				      HEAL_USERS_FILE, "spool.lock" };
	struct pb_err err;

	for (size_t i = 0; i < 3; i++)
		write_file(path_in(dir, gone[i]), "x");
	for (size_t i = 0; i < 5; i++)
		write_file(path_in(dir, kept[i]), "x");
	CHECK_OK(heal_clear(dir, &err), &err);
	for (size_t i = 0; i < 3; i++)
		CHECK_MSG(access(path_in(dir, gone[i]), F_OK) != 0, "%s kept", gone[i]);
	for (size_t i = 0; i < 5; i++)
		CHECK_MSG(access(path_in(dir, kept[i]), F_OK) == 0, "%s removed",
			  kept[i]);
}

static int
insert_fn(struct spool *sp, DB_TXN *txn, void *ctx, struct pb_err *err)
{
	return queue_insert(sp, txn, ctx, "k", 1, err);
}

static int
count_fn(void *ctx, const struct q_entry *e)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}

/* A child commits an entry and dies without closing the spool (as a
 * SIGKILL leaves it): the next open recovers, and the entry is there. */
static void
test_recover_after_death(void)
{
	const char *dir = subdir("recover");
	struct spool *sp = NULL;
	struct pb_err err;
	long pids[HEAL_MAX_DEAD];
	pid_t child;
	int st, n = 0;

	CHECK_OK(spool_open(dir, &sp, &err), &err);
	spool_close(sp);
	sp = NULL;
	CHECK_INT(heal_dead(dir, pids), 0);	/* closed cleanly */
	child = fork();
	if (child == 0) {
		struct q_source src = { 0 };
		struct spool *csp;
		struct q_entry e;
		struct pb_err cerr;

		if (spool_open(dir, &csp, &cerr) != 0)
			_exit(1);
		q_entry_new(&e, Q_INBOUND, Q_ORIGIN_PKS, QS_READY, 0, NULL, &src);
		if (spool_txn(csp, SPOOL_SYNC, insert_fn, &e, &cerr) != 0)
			_exit(2);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	CHECK(waitpid(child, &st, 0) == child);
	CHECK_MSG(WIFSIGNALED(st), "the child did not die by SIGKILL (%d)", st);
	CHECK_INT(heal_dead(dir, pids), 1);
	CHECK_INT(pids[0], child);
	CHECK_OK(spool_open(dir, &sp, &err), &err);
	/* The register was rebuilt, and names only us, alive: asked by
	 * another process, since a registered one must not open and close
	 * the register (heal.h). */
	child = fork();
	if (child == 0)
		_exit(heal_dead(dir, pids) == 0 ? 0 : 1);
	CHECK(waitpid(child, &st, 0) == child);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "the recovered register still names a dead process");
	CHECK_OK(queue_scan(sp, NULL, count_fn, &n, &err), &err);
	CHECK_INT(n, 1);
	spool_close(sp);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "register slots: alive, dead, empty, torn, our own",
		  test_register_slots },
		{ "the recoverer waits for attached processes, and is seen",
		  test_wait_for_users },
		{ "heal_clear removes the regions and the register only",
		  test_clear },
		{ "the next open recovers after a SIGKILLed registrant",
		  test_recover_after_death },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "heal", tests);
}
