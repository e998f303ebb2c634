/*
 * test_handoff.c - who delivers after a commit: with no runner
 * listening a filter takes the inline slot (one filter at a time) and
 * leases its entry; a listening runner is woken through the FIFO, and
 * then no filter delivers inline.
 */
#include "bridge/handoff.h"
#include "lib/unit.h"
#include "spool/spool.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
test_slot_and_wake(void)
{
	char dir[512];
	struct spool *sp;
	struct pb_err err;
	struct handoff h1, h2;
	struct pollfd pfd;
	char c;
	int fd;

	snprintf(dir, sizeof dir, "%s/handoff", unit_tmpdir());
	mkdir(dir, 0700);
	CHECK_OK(spool_open(dir, &sp, &err), &err);
	/* No runner: nobody hears a wakeup; one filter gets the slot, and
	 * leases its entry; a second one meanwhile does not. */
	CHECK_INT(handoff_wake(sp), 0);
	handoff_begin(&h1, sp);
	CHECK(h1.runner_fd < 0 && h1.slot_fd >= 0);
	CHECK(handoff_lease_secs(&h1) > 0);
	handoff_begin(&h2, sp);
	CHECK(h2.runner_fd < 0 && h2.slot_fd < 0);
	CHECK_INT(handoff_lease_secs(&h2), 0);
	handoff_cancel(&h2);
	handoff_cancel(&h1);
	/* A runner listens: it hears a wakeup, and a filter hands over
	 * instead of taking the slot. */
	CHECK((fd = handoff_listen(sp, &err)) >= 0);
	CHECK_INT(handoff_wake(sp), 1);
	pfd.fd = fd;
	pfd.events = POLLIN;
	CHECK_INT(poll(&pfd, 1, 1000), 1);
	CHECK_INT(read(fd, &c, 1), 1);
	handoff_begin(&h1, sp);
	CHECK(h1.runner_fd >= 0 && h1.slot_fd < 0);
	CHECK_INT(handoff_lease_secs(&h1), 0);
	/* Committed with nothing to deliver: one wakeup for the outbound
	 * entries, and nothing inline. */
	handoff_after_commit(&h1, sp, NULL, NULL, NULL, 1);
	CHECK_INT(poll(&pfd, 1, 1000), 1);
	CHECK_INT(h1.runner_fd, -1);
	close(fd);
	spool_close(sp);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "the inline slot, and waking a runner", test_slot_and_wake },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "handoff", tests);
}
