/*
 * test_unit.c - the unit harness keeps tests/lib.sh's rules: a test that
 * makes no check fails, a missing tool (NEED_TOOL) fails rather than
 * skips, and a run in which no test ran fails.  Each case runs a table
 * of tests through unit_run in a child, its output caught in a pipe
 * (tests/run would count its "not ok" lines as ours).
 */
#include "lib/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
checks_nothing(void)
{
}

static void
checks_one(void)
{
	CHECK(1);
}

static void
needs_missing_tool(void)
{
	NEED_TOOL("/nonexistent/pksbridge-test-tool");
	CHECK(1);
}

/* run_table - unit_run over tests (with argv's --match, if any) in a
 * child: its exit status, and its output in out. */
static int
run_table(const struct unit_test *tests, const char *match, char *out,
	  size_t len)
{
	char *argv[] = { "test_unit", "--match", (char *)match, NULL };
	int p[2], st;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(p) != 0)
		return -1;
	fflush(stdout);
	if ((pid = fork()) == 0) {
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		_exit(unit_run(match ? 3 : 1, argv, "inner", tests));
	}
	close(p[1]);
	while (n < len - 1 && (r = read(p[0], out + n, len - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(p[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void
test_no_check_fails(void)
{
	static const struct unit_test t[] = {
		{ "one check", checks_one },
		{ "no check", checks_nothing },
		{ NULL, NULL },
	};
	char out[4096];

	CHECK_INT(run_table(t, NULL, out, sizeof out), 1);
	CHECK(strstr(out, "ok - inner: one check\n") != NULL);
	CHECK_MSG(strstr(out, "not ok - inner: no check: ") != NULL &&
		  strstr(out, "made no check") != NULL, "output: %s", out);
}

static void
test_missing_tool_fails(void)
{
	static const struct unit_test t[] = {
		{ "tool", needs_missing_tool },
		{ NULL, NULL },
	};
	char out[4096];

	CHECK_INT(run_table(t, NULL, out, sizeof out), 1);
	CHECK_MSG(strstr(out, "not ok - inner: tool: ") != NULL &&
		  strstr(out, "/nonexistent/pksbridge-test-tool is missing") != NULL,
		  "output: %s", out);
	CHECK(strstr(out, "skip") == NULL || strstr(out, "never a skip") != NULL);
}

static void
test_nothing_ran_fails(void)
{
	static const struct unit_test t[] = {
		{ "one check", checks_one },
		{ NULL, NULL },
	};
	char out[4096];

	CHECK_INT(run_table(t, "no such test", out, sizeof out), 1);
	CHECK_MSG(strstr(out, "not ok - inner: no test ran") != NULL,
		  "output: %s", out);
	CHECK_INT(run_table(t, "one", out, sizeof out), 0);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "a test that makes no check fails", test_no_check_fails },
		{ "a missing tool fails, never skips", test_missing_tool_fails },
		{ "a run in which no test ran fails", test_nothing_ran_fails },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "unit", tests);
}
