/*
 * test_sendpipe.c - outbound mail through a sendmail command (sendpipe.h)
 * and transport.h's sendmail_cmd path, with tests/data/bin/fake-sendmail
 * as the command: exit statuses, signals, timeouts that kill the process
 * group, argument conventions (-- and -t), CRLF to LF, a command that does
 * not read its input (no SIGPIPE), one that floods its output, and one
 * that leaves a background process holding its output open.
 */
#include "config/config.h"
#include "lib/unit.h"
#include "transport/sendpipe.h"
#include "transport/transport.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char mail_crlf[] =
	"From: pgp-public-keys@bridge.test\r\n"
	"To: peer@pks.test\r\n"
	"Subject: incremental\r\n"
	"\r\n"
	"-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n"
	"\r\n"
	"mDMEZQ==\r\n"
	".\r\n"
	"=abcd\r\n"
	"-----END PGP PUBLIC KEY BLOCK-----\r\n";

/* fixture - absolute path of fake-sendmail and a fresh record dir, which
 * the fixture finds through $FAKE_SENDMAIL_DIR. */
static int
fixture(const char *name, char *prog, char *dir)
{
	snprintf(dir, PATH_MAX, "%s/%s", unit_tmpdir(), name);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -1;
	if (realpath(unit_data_path("bin/fake-sendmail"), prog) == NULL)
		return -1;
	return setenv("FAKE_SENDMAIL_DIR", dir, 1);
}

static void
set_action(const char *dir, const char *action)
{
	char path[PATH_MAX + 16];
	FILE *f;

	snprintf(path, sizeof path, "%s/action", dir);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%s\n", action);
		fclose(f);
	}
}

static char *
record(const char *dir, const char *name, size_t *len)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return unit_read_file(path, len);
}

static double
since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* gone - the process whose pid is in dir/name has exited (a zombie
 * counts) within 2 s. */
static int
gone(const char *dir, const char *name)
{
	char *s = record(dir, name, NULL), path[64], st[512];
	pid_t pid = s ? (pid_t)atoi(s) : 0;

	free(s);
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(path, "r");
		char *paren;

		if (f == NULL)
			return 1;
		st[0] = '\0';
		if (!fgets(st, sizeof st, f))
			st[0] = '\0';
		fclose(f);
		paren = strrchr(st, ')');
		if (paren && (paren[2] == 'Z' || paren[2] == 'X'))
			return 1;
		usleep(10000);
	}
	return 0;
}

/* big - about size bytes of CRLF lines; *lf_len: its length as LF. */
static char *
big(size_t size, size_t *len, size_t *lf_len)
{
	char *m = malloc(size + 80);
	size_t n = 0, lines = 0;

	while (n + 66 <= size) {
		memset(m + n, 'k', 64);
		n += 64;
		m[n++] = '\r';
		m[n++] = '\n';
		lines++;
	}
	*len = n;
	*lf_len = n - lines;
	return m;
}

static void
test_exit_statuses(void)
{
	static const struct {
		const char *action;
		int rc;
		enum pb_status status;
		const char *in_msg;
	} cases[] = {
		{ "0", 0, PB_OK, NULL },
		{ "75", -1, PB_ETEMP, "exited with status 75: fake-sendmail: exit 75" },
		{ "71", -1, PB_ETEMP, "exited with status 71" },
		{ "74", -1, PB_ETEMP, "exited with status 74" },
		{ "67", -1, PB_EPERM, "exited with status 67: fake-sendmail: exit 67" },
		{ "69", -1, PB_EPERM, "exited with status 69" },
		{ "73", -1, PB_EPERM, "exited with status 73" },
		{ "78", -1, PB_EPERM, "exited with status 78" },
		{ "1", -1, PB_EPERM, "exited with status 1" },
		{ "126", -1, PB_ETEMP, "exited with status 126" },
		{ "127", -1, PB_ETEMP, "exited with status 127" },
		{ "kill", -1, PB_ETEMP, "killed by signal 9" },
	};
	char prog[PATH_MAX], dir[PATH_MAX];
	const char *rcpts[] = { "peer@pks.test" };

	CHECK(fixture("exit", prog, dir) == 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *argv[] = { prog, "-oi", NULL };
		struct pb_err err = { 0 };
		int rc;

		set_action(dir, cases[i].action);
		rc = sendpipe_send(argv, NULL, rcpts, 1, mail_crlf, strlen(mail_crlf),
				   10, &err);
		CHECK_MSG(rc == cases[i].rc, "%s: rc %d: %s", cases[i].action,
			  rc, err.msg);
		if (rc == 0)
			continue;
		CHECK_MSG(err.status == cases[i].status, "%s: %s",
			  cases[i].action, pb_status_name(err.status));
		CHECK_MSG(strstr(err.msg, cases[i].in_msg) != NULL &&
			  strncmp(err.msg, prog, strlen(prog)) == 0,
			  "%s: %s", cases[i].action, err.msg);
	}
}

/* Recipients after "--"; none with -t (then To: decides). */
static void
test_arguments(void)
{
	static const struct {
		const char *args[5];
		const char *want;
	} cases[] = {
		{ { NULL }, "--\npeer@pks.test\nother@pks.test\n" },
		{ { "-oi", "-f", "me@bridge.test", NULL },
		  "-oi\n-f\nme@bridge.test\n--\npeer@pks.test\nother@pks.test\n" },
		{ { "-t", "-oi", NULL }, "-t\n-oi\n" },
		{ { "-oi", "-ti", NULL }, "-oi\n-ti\n" },
	};
	char prog[PATH_MAX], dir[PATH_MAX];
	const char *rcpts[] = { "peer@pks.test", "other@pks.test" };

	CHECK(fixture("args", prog, dir) == 0);
	set_action(dir, "0");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *argv[6] = { prog };
		struct pb_err err;
		char *got;

		for (size_t j = 0; cases[i].args[j]; j++)
			argv[j + 1] = (char *)cases[i].args[j];
		CHECK_OK(sendpipe_send(argv, NULL, rcpts, 2, mail_crlf,
				       strlen(mail_crlf), 10, &err), &err);
		got = record(dir, "args", NULL);
		CHECK(got != NULL);
		CHECK_MSG(strcmp(got, cases[i].want) == 0, "case %zu: \"%s\"", i,
			  got);
		free(got);
	}
}

static void
test_has_t(void)
{
	static const struct { const char *args[5]; int want; } cases[] = {
		{ { "-t", NULL }, 1 },
		{ { "-oi", "-t", NULL }, 1 },
		{ { "-ti", NULL }, 1 },
		{ { "-it", NULL }, 1 },
		{ { "-i", "-f", "me@x", "-t", NULL }, 1 },
		{ { "-oi", NULL }, 0 },
		{ { "-odq", NULL }, 0 },
		{ { "-ft", NULL }, 0 },			/* -f's value "t" */
		{ { "-f", "-t", NULL }, 0 },		/* -f's value "-t" */
		{ { "-oi", "-f", "me@x", NULL }, 0 },
		{ { "-Ft", NULL }, 0 },
		{ { "--", "-t", NULL }, 0 },
		{ { "t", NULL }, 0 },
		{ { "-", NULL }, 0 },
		{ { NULL }, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *argv[7] = { "/usr/sbin/sendmail" };

		for (size_t j = 0; cases[i].args[j]; j++)
			argv[j + 1] = (char *)cases[i].args[j];
		CHECK_MSG(sendpipe_has_flag(argv, 't') == cases[i].want, "case %zu", i);
	}
}

/* -f as the transport asks it: does the command set its own sender? */
static void
test_has_f(void)
{
	static const struct { const char *args[5]; int want; } cases[] = {
		{ { "-f", "me@x", NULL }, 1 },
		{ { "-fme@x", NULL }, 1 },
		{ { "-oi", "-f", "me@x", "-t", NULL }, 1 },
		{ { "-if", "me@x", NULL }, 1 },		/* -i, then -f me@x */
		{ { "-oi", "-t", NULL }, 0 },
		{ { "-Ff", NULL }, 0 },			/* -F's value "f" */
		{ { "-r", "-f", NULL }, 0 },		/* -r's value "-f" */
		{ { "--", "-f", "me@x", NULL }, 0 },
		{ { NULL }, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *argv[7] = { "/usr/sbin/sendmail" };

		for (size_t j = 0; cases[i].args[j]; j++)
			argv[j + 1] = (char *)cases[i].args[j];
		CHECK_MSG(sendpipe_has_flag(argv, 'f') == cases[i].want, "case %zu", i);
	}
}

/* The command reads LF text: CRLF becomes LF, a lone CR stays. */
static void
test_crlf_to_lf(void)
{
	static const char in[] = "A: b\r\n\r\nline\r\nbare\rcr\r\n.\r\n\r\nend";
	static const char want[] = "A: b\n\nline\nbare\rcr\n.\n\nend";
	char prog[PATH_MAX], dir[PATH_MAX], *argv[] = { NULL, NULL }, *got;
	const char *rcpts[] = { "peer@pks.test" };
	struct pb_err err;
	size_t len, blen, lf_len;
	char *mail;

	CHECK(fixture("lf", prog, dir) == 0);
	argv[0] = prog;
	set_action(dir, "0");
	CHECK_OK(sendpipe_send(argv, NULL, rcpts, 1, in, strlen(in), 10, &err), &err);
	got = record(dir, "stdin", &len);
	CHECK(got != NULL);
	CHECK_INT(len, strlen(want));
	CHECK(memcmp(got, want, len) == 0);
	free(got);
	/* Bigger than any pipe buffer, and a CRLF split across stages. */
	mail = big(3u << 20, &blen, &lf_len);
	CHECK_OK(sendpipe_send(argv, NULL, rcpts, 1, mail, blen, 20, &err), &err);
	got = record(dir, "stdin", &len);
	CHECK(got != NULL);
	CHECK_INT(len, lf_len);
	CHECK(strchr(got, '\r') == NULL);
	CHECK(memcmp(got, "kkkk", 4) == 0 && got[64] == '\n');
	free(got);
	free(mail);
}

/* A command that hangs is killed with everything it started. */
static void
test_timeout_kills_group(void)
{
	char prog[PATH_MAX], dir[PATH_MAX], *argv[] = { NULL, NULL };
	const char *rcpts[] = { "peer@pks.test" };
	struct timespec t0;
	struct pb_err err;
	double took;
	int rc;

	CHECK(fixture("hang", prog, dir) == 0);
	argv[0] = prog;
	set_action(dir, "hang");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = sendpipe_send(argv, NULL, rcpts, 1, mail_crlf, strlen(mail_crlf), 1, &err);
	took = since(&t0);
	CHECK_INT(rc, -1);
	CHECK_INT(err.status, PB_ETEMP);
	CHECK_MSG(strstr(err.msg, "timed out after 1 s") != NULL, "%s", err.msg);
	CHECK_MSG(took >= 0.9 && took < 2.0, "took %.2f s", took);
	CHECK_MSG(gone(dir, "pid"), "the command survived");
	CHECK_MSG(gone(dir, "sleep.pid"), "its child survived");
}

/* Exit 0 without reading the mail is not a delivery; and the write
 * into the closed pipe must not raise SIGPIPE (it would kill us). */
static void
test_unread_input(void)
{
	char prog[PATH_MAX], dir[PATH_MAX], *argv[] = { NULL, NULL };
	const char *rcpts[] = { "peer@pks.test" };
	void (*old)(int) = signal(SIGPIPE, SIG_DFL);
	struct pb_err err;
	size_t len, lf_len;
	char *mail = big(1u << 20, &len, &lf_len);
	sigset_t pending;
	int rc;

	CHECK(fixture("noread", prog, dir) == 0);
	argv[0] = prog;
	set_action(dir, "noread");
	rc = sendpipe_send(argv, NULL, rcpts, 1, mail, len, 10, &err);
	sigpending(&pending);
	signal(SIGPIPE, old);
	free(mail);
	CHECK_INT(rc, -1);
	CHECK_INT(err.status, PB_ETEMP);
	CHECK_MSG(strstr(err.msg, "without reading all of the mail") != NULL,
		  "%s", err.msg);
	CHECK(!sigismember(&pending, SIGPIPE));
}

/* 200 KB of output before it reads anything: no deadlock, 1 KB quoted. */
static void
test_output_flood(void)
{
	char prog[PATH_MAX], dir[PATH_MAX], *argv[] = { NULL, NULL };
	const char *rcpts[] = { "peer@pks.test" };
	struct timespec t0;
	struct pb_err err;
	size_t len, lf_len, got_len;
	char *mail = big(1u << 20, &len, &lf_len), *got;
	int rc;

	CHECK(fixture("spew", prog, dir) == 0);
	argv[0] = prog;
	set_action(dir, "spew");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = sendpipe_send(argv, NULL, rcpts, 1, mail, len, 10, &err);
	CHECK_MSG(since(&t0) < 5.0, "took %.2f s", since(&t0));
	free(mail);
	CHECK_INT(rc, -1);
	CHECK_INT(err.status, PB_EPERM);
	CHECK_MSG(strstr(err.msg, "exited with status 67: xxxxxxxx") != NULL,
		  "%s", err.msg);
	got = record(dir, "stdin", &got_len);
	CHECK(got != NULL);
	CHECK_INT(got_len, lf_len);
	free(got);
}

/* A background process that keeps the output pipe open does not hold
 * us once the command itself has exited. */
static void
test_background_child(void)
{
	char prog[PATH_MAX], dir[PATH_MAX], *argv[] = { NULL, NULL }, *pid;
	const char *rcpts[] = { "peer@pks.test" };
	struct timespec t0;
	struct pb_err err;
	double took;
	int rc;

	CHECK(fixture("daemon", prog, dir) == 0);
	argv[0] = prog;
	set_action(dir, "daemon");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = sendpipe_send(argv, NULL, rcpts, 1, mail_crlf, strlen(mail_crlf), 5, &err);
	took = since(&t0);
	pid = record(dir, "sleep.pid", NULL);
	if (pid) {
		kill((pid_t)atoi(pid), SIGKILL);	/* the fixture's sleep */
		free(pid);
	}
	CHECK_MSG(rc == 0, "%s", err.msg);
	CHECK_MSG(took < 2.0, "took %.2f s", took);
}

/* The command starts with no signal blocked or ignored, whatever the
 * runner blocks or ignores (exec would hand both down).  A shell clears
 * its mask at start-up, so the "command" here is grep reading its own
 * /proc status: its output comes back quoted in the error message (it
 * then fails on the recipient, which it takes for a file name). */
static void
test_clean_signals(void)
{
	char *argv[] = { "/bin/grep", "-h", "^Sig", "/proc/self/status", NULL };
	const char *rcpts[] = { "peer@pks.test" };
	sigset_t block, old;
	void (*old_usr1)(int) = signal(SIGUSR1, SIG_IGN);
	void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
	unsigned long long blk = ~0ULL, ign = ~0ULL;
	struct pb_err err;
	const char *p;
	int rc;

	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	rc = sendpipe_send(argv, NULL, rcpts, 1, "x", 1, 10, &err);
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGUSR1, old_usr1);
	signal(SIGPIPE, old_pipe);
	CHECK_INT(rc, -1);
	CHECK_MSG((p = strstr(err.msg, "SigBlk: ")) != NULL &&
		  sscanf(p, "SigBlk: %llx SigIgn: %llx", &blk, &ign) == 2,
		  "%s", err.msg);
	CHECK_MSG(blk == 0, "blocked %llx", blk);
	/* glibc's posix_spawn leaves its two internal signals (32, 33:
	 * thread cancellation and setxid) ignored; nothing else. */
	CHECK_MSG((ign & ~0x180000000ULL) == 0, "ignored %llx", ign);
}

static void
test_unusable_commands(void)
{
	char prog[PATH_MAX], dir[PATH_MAX], keyfile[PATH_MAX];
	const char *rcpts[] = { "peer@pks.test" };
	struct pb_err err;
	char *rel[] = { "fake-sendmail", NULL };
	char *missing[] = { "/nonexistent/sendmail", NULL };
	char *noexec[] = { keyfile, NULL };
	char *argv[] = { prog, "-oi", NULL };

	CHECK(fixture("unusable", prog, dir) == 0);
	CHECK(realpath(unit_data_path("keys/alice.asc"), keyfile) != NULL);
	CHECK_INT(sendpipe_send(rel, NULL, rcpts, 1, "x", 1, 5, &err), -1);
	CHECK_INT(err.status, PB_EDATA);
	/* posix_spawn reports the exec error; under valgrind (no vfork)
	 * the child exits 127 instead: deferred all the same. */
	CHECK_INT(sendpipe_send(missing, NULL, rcpts, 1, "x", 1, 5, &err), -1);
	CHECK_INT(err.status, PB_ETEMP);
	CHECK_MSG(strstr(err.msg, "cannot run /nonexistent/sendmail: No such "
			 "file or directory") != NULL ||
		  strstr(err.msg, "/nonexistent/sendmail exited with status 127")
		  != NULL, "%s", err.msg);
	CHECK_INT(sendpipe_send(noexec, NULL, rcpts, 1, "x", 1, 5, &err), -1);
	CHECK_INT(err.status, PB_ETEMP);
	CHECK_MSG(strstr(err.msg, "Permission denied") != NULL ||
		  strstr(err.msg, "exited with status 127") != NULL, "%s",
		  err.msg);
	/* No recipients and no -t: nowhere to send. */
	CHECK_INT(sendpipe_send(argv, NULL, rcpts, 0, "x", 1, 5, &err), -1);
	CHECK_INT(err.status, PB_EDATA);
}

/* transport_send with sendmail_cmd set: the pipe, not SMTP. */
static void
test_transport_sendmail(void)
{
	char prog[PATH_MAX], dir[PATH_MAX], conf[PATH_MAX + 64], want[400], *got;
	struct config cfg;
	struct buf mail = BUF_INIT;
	struct pb_err err;

	CHECK(fixture("transport", prog, dir) == 0);
	config_defaults(&cfg);
	/* A relay that would refuse: proves SMTP is not used. */
	snprintf(conf, sizeof conf, "sendmail_cmd: %s -oi\nsmtp_relay: "
		 "127.0.0.1:1\n", prog);
	CHECK_OK(config_parse_text(&cfg, "t.conf", conf, strlen(conf), &err),
		 &err);
	buf_puts(&mail, mail_crlf);
	set_action(dir, "0");
	CHECK_OK(transport_send(&cfg, "peer@pks.test", NULL, &mail, 5, &err), &err);
	got = record(dir, "args", NULL);
	CHECK(got != NULL);
	/* Sync mail: bounces to from_addr, as by SMTP, since the command
	 * sets no sender of its own. */
	snprintf(want, sizeof want, "-oi\n-f\n%s\n--\npeer@pks.test\n",
		 cfg.from_addr_bare);
	CHECK_STR(got, want);
	free(got);
	got = record(dir, "stdin", NULL);
	CHECK(got != NULL);
	CHECK(strncmp(got, "From: pgp-public-keys@bridge.test\nTo: peer@pks.test\n",
		      52) == 0);
	free(got);
	/* A reply's null sender: -f "<>" before the recipients. */
	CHECK_OK(transport_send(&cfg, "peer@pks.test", "", &mail, 5, &err), &err);
	got = record(dir, "args", NULL);
	CHECK(got != NULL);
	CHECK_STR(got, "-oi\n-f\n<>\n--\npeer@pks.test\n");
	free(got);
	/* The operator's own -f is kept for sync mail. */
	snprintf(conf, sizeof conf, "sendmail_cmd: %s -oi -f bounces@bridge.test\n",
		 prog);
	CHECK_OK(config_parse_text(&cfg, "t.conf", conf, strlen(conf), &err),
		 &err);
	CHECK_OK(transport_send(&cfg, "peer@pks.test", NULL, &mail, 5, &err), &err);
	got = record(dir, "args", NULL);
	CHECK(got != NULL);
	CHECK_STR(got, "-oi\n-f\nbounces@bridge.test\n--\npeer@pks.test\n");
	free(got);
	set_action(dir, "75");
	CHECK_INT(transport_send(&cfg, "peer@pks.test", NULL, &mail, 5, &err), -1);
	CHECK_INT(err.status, PB_ETEMP);
	CHECK_MSG(strncmp(err.msg, "sendmail_cmd: ", 14) == 0 &&
		  strstr(err.msg, "status 75") != NULL, "%s", err.msg);
	set_action(dir, "67");
	CHECK_INT(transport_send(&cfg, "peer@pks.test", NULL, &mail, 5, &err), -1);
	CHECK_INT(err.status, PB_EPERM);
	CHECK_INT(transport_send(&cfg, "-t@pks.test", NULL, &mail, 5, &err), -1);
	CHECK_INT(err.status, PB_EDATA);
	buf_free(&mail);
	config_free(&cfg);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "exit_statuses", test_exit_statuses },
		{ "arguments", test_arguments },
		{ "has_t", test_has_t },
		{ "-f given by the command", test_has_f },
		{ "crlf_to_lf", test_crlf_to_lf },
		{ "timeout_kills_group", test_timeout_kills_group },
		{ "unread_input", test_unread_input },
		{ "output_flood", test_output_flood },
		{ "background_child", test_background_child },
		{ "clean_signals", test_clean_signals },
		{ "unusable_commands", test_unusable_commands },
		{ "transport_sendmail", test_transport_sendmail },
		{ NULL, NULL },
	};

	/* A stray SIGPIPE must kill this test, not go unnoticed. */
	signal(SIGPIPE, SIG_DFL);
	return unit_run(argc, argv, "sendpipe", tests);
}
