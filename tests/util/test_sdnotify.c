/*
 * test_sdnotify.c - the sd_notify datagram: to a socket path, to the
 * abstract namespace ('@'), nothing without $NOTIFY_SOCKET, an error for
 * a name no socket can have or no listener.
 */
#include "lib/unit.h"
#include "util/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* listener - a datagram socket bound to name (leading '@': abstract). */
static int
listener(const char *name)
{
	struct sockaddr_un sa;
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				       (name[0] == '@' ? 0 : 1))) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void
test_path_and_abstract(void)
{
	char path[512], abstract[64], got[256];
	const char *names[2];

	snprintf(path, sizeof path, "%s/notify.sock", unit_tmpdir());
	snprintf(abstract, sizeof abstract, "@pksbridge-test-%ld", (long)getpid());
	names[0] = path;
	names[1] = abstract;
	for (int i = 0; i < 2; i++) {
		int fd = listener(names[i]);
		ssize_t n;

		CHECK_MSG(fd >= 0, "bind %s: %s", names[i], strerror(errno));
		setenv("NOTIFY_SOCKET", names[i], 1);
		CHECK_INT(sd_notify_send("READY=1\nSTATUS=delivering"), 1);
		n = recv(fd, got, sizeof got - 1, MSG_DONTWAIT);
		close(fd);
		CHECK_MSG(n > 0, "%s: nothing received", names[i]);
		got[n] = '\0';
		CHECK_STR(got, "READY=1\nSTATUS=delivering");
	}
	unsetenv("NOTIFY_SOCKET");
}

static void
test_without_and_broken(void)
{
	char path[512];

	unsetenv("NOTIFY_SOCKET");
	CHECK_INT(sd_notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	CHECK_INT(sd_notify_send("READY=1"), 0);
	/* Neither a path nor abstract. */
	setenv("NOTIFY_SOCKET", "relative/sock", 1);
	CHECK_INT(sd_notify_send("READY=1"), -1);
	/* Nobody listening there. */
	snprintf(path, sizeof path, "%s/nobody.sock", unit_tmpdir());
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_INT(sd_notify_send("READY=1"), -1);
	/* Longer than sun_path. */
	memset(path, 'x', sizeof path - 1);
	path[0] = '/';
	path[sizeof path - 1] = '\0';
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_INT(sd_notify_send("READY=1"), -1);
	unsetenv("NOTIFY_SOCKET");
}

static const struct unit_test tests[] = {
	{ "path_and_abstract", test_path_and_abstract },
	{ "without_and_broken", test_without_and_broken },
	{ NULL, NULL },
};

int
main(int argc, char **argv)
{
	return unit_run(argc, argv, "test_sdnotify", tests);
}
