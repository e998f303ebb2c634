/*
 * unit.c - the unit test harness (see unit.h).
 */
#include "unit.h"
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failed_current;
static unsigned long checks_current;	/* checks the current test made */
static const char *current_suite = "";
static const char *current_name = "";
static char tmpdir_path[512];

void
unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (!failed_current) {
		printf("not ok - %s: %s: %s:%d: ", current_suite, current_name,
		       file, line);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		fflush(stdout);
	}
	failed_current = 1;
}

void
unit_checked(void)
{
	checks_current++;
}

int
unit_failed(void)
{
	return failed_current;
}

const char *
unit_data_path(const char *rel)
{
	static char path[1024];
	const char *dir = getenv("TEST_DATA");

	snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/data", rel);
	return path;
}

char *
unit_read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 131072;
			data = realloc(data, cap + 1);
			if (!data)
				abort();
		}
		n = fread(data + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	data[len] = '\0';
	if (len_r)
		*len_r = len;
	return data;
}

static void
remove_tmpdir(void)
{
	if (tmpdir_path[0]) {
		char cmd[600];

		/* Test-only cleanup of a directory this harness created. */
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir_path);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir_path);
	}
}

const char *
unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir_path[0] == '\0') {
		snprintf(tmpdir_path, sizeof tmpdir_path, "%s/pbunit.XXXXXX",
			 base && *base ? base : "/tmp");
		if (!mkdtemp(tmpdir_path)) {
			perror("mkdtemp");
			abort();
		}
		atexit(remove_tmpdir);
	}
	return tmpdir_path;
}

int
unit_run(int argc, char **argv, const char *suite, const struct unit_test *tests)
{
	const char *match = NULL;
	int nfail = 0, ntests = 0;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--match") == 0 && i + 1 < argc)
			match = argv[++i];
	log_open("test", LOG_DEST_STDERR, 1);
	current_suite = suite;
	for (const struct unit_test *t = tests; t->name; t++) {
		if (match && !strstr(t->name, match))
			continue;
		ntests++;
		current_name = t->name;
		failed_current = 0;
		checks_current = 0;
		t->fn();
		if (!failed_current && checks_current == 0)
			unit_fail(__FILE__, __LINE__, "made no check (a test that "
				  "checks nothing proves nothing)");
		if (failed_current)
			nfail++;
		else
			printf("ok - %s: %s\n", suite, t->name);
		fflush(stdout);
	}
	if (ntests == 0) {
		/* A --match that names nothing, or an empty table. */
		printf("not ok - %s: no test ran\n", suite);
		fflush(stdout);
		nfail++;
	}
	return nfail ? 1 : 0;
}
