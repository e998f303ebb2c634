/*
 * fixtures.c - what several unit tests need besides the harness (see
 * unit.h): the keys of an armored fixture, live processes by command
 * line, a clock fine enough for timings.
 */
#include "lib/unit.h"
#include "openpgp/armor.h"
#include "openpgp/pgp.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct pgp_limits fixture_limits = { 4u << 20, 100000 };

static int
add_block(void *ctx, const struct armor_block *blk)
{
	if (blk->ok && blk->kind == ARMOR_PUBLIC_KEY)
		pgp_split_keys(blk->data, blk->len, &fixture_limits, ctx);
	return 0;
}

void
unit_armor_keys(const char *text, size_t len, struct pgp_keylist *list)
{
	armor_scan(text, len, 16u << 20, add_block, list);
}

int
unit_load_keys(const char *rel, struct pgp_keylist *list)
{
	size_t len, before = list->nkeys;
	char *text = unit_read_file(unit_data_path(rel), &len);

	if (!text)
		return -1;
	unit_armor_keys(text, len, list);
	free(text);
	return list->nkeys > before ? 0 : -1;
}

/* cmdline_of - /proc/PID/cmdline with its NULs as spaces into buf; 0 if
 * the process is gone or a zombie (which runs nothing). */
static size_t
cmdline_of(const char *pid, char *buf, size_t size)
{
	char path[300], st[512], *rp;
	size_t len;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%s/stat", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	len = fread(st, 1, sizeof st - 1, f);
	fclose(f);
	st[len] = '\0';
	if ((rp = strrchr(st, ')')) && rp[1] == ' ' && rp[2] == 'Z')
		return 0;
	snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	len = fread(buf, 1, size - 1, f);
	fclose(f);
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[len] = '\0';
	return len;
}

int
unit_count_procs(const char *prog, const char *needle)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char buf[4096];
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (cmdline_of(de->d_name, buf, sizeof buf) == 0)
			continue;
		if (strstr(buf, needle) && (!prog || strstr(buf, prog)))
			n++;
	}
	closedir(d);
	return n;
}

double
unit_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int
unit_pgpgen(const char *args, const char *out_path)
{
	const char *top = getenv("TOP");
	char cmd[4096];

	/* Test-only: the arguments are the test's own. */
	snprintf(cmd, sizeof cmd, "python3 '%s/tests/tools/pgpgen.py' %s >'%s'",
		 top && *top ? top : ".", args, out_path ? out_path : "/dev/null");
	return system(cmd) == 0 ? 0 : -1;
}
