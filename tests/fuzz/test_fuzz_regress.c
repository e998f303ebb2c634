/*
 * test_fuzz_regress.c - every input a fuzzer ever crashed on, replayed.
 *
 * tests/data/fuzz-regress/NAME/ holds the inputs that made fuzz target
 * fuzz/fuzz_NAME.c fail (a crash, a sanitizer report, or one of its own
 * invariants aborting), kept after the bug was fixed.  The fuzz targets
 * are compiled into this test under other names (fuzz_one_NAME, see the
 * Makefile), so each input goes through exactly the code and the
 * invariants that caught it; an abort ends this test, which tests/run
 * counts as a failure.  The test also checks that every directory belongs
 * to a target, so an input cannot sit there unreplayed.  Add an input by
 * copying build-fuzz/artifacts/NAME/crash-... to a descriptive name.
 *
 * The bugs themselves have focused tests too (see the README in that
 * directory for which).
 */
#include "lib/unit.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fuzz_one_armor(const uint8_t *data, size_t size);
int fuzz_one_config(const uint8_t *data, size_t size);
int fuzz_one_extract(const uint8_t *data, size_t size);
int fuzz_one_mailcmd(const uint8_t *data, size_t size);
int fuzz_one_mailparse(const uint8_t *data, size_t size);
int fuzz_one_pgp(const uint8_t *data, size_t size);
int fuzz_one_policy(const uint8_t *data, size_t size);
int fuzz_one_sendmail(const uint8_t *data, size_t size);

static const struct target {
	const char *name;
	int (*one)(const uint8_t *, size_t);
} targets[] = {
	{ "armor", fuzz_one_armor },
	{ "config", fuzz_one_config },
	{ "extract", fuzz_one_extract },
	{ "mailcmd", fuzz_one_mailcmd },
	{ "mailparse", fuzz_one_mailparse },
	{ "pgp", fuzz_one_pgp },
	{ "policy", fuzz_one_policy },
	{ "sendmail", fuzz_one_sendmail },
};

/* replay - every file of fuzz-regress/NAME through its target; the
 * number replayed. */
static size_t
replay(const struct target *t)
{
	char dir[1024];
	struct dirent *de;
	DIR *d;
	size_t n = 0;

	snprintf(dir, sizeof dir, "%s", unit_data_path("fuzz-regress"));
	snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/%s", t->name);
	if (!(d = opendir(dir)))
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[2048];
		size_t len;
		char *data;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		data = unit_read_file(path, &len);
		if (!data) {
			unit_fail(__FILE__, __LINE__, "cannot read %s", path);
			continue;
		}
		/* The fuzzer hands over exactly len bytes: copy into a
		 * buffer of that size so an over-read is one here too. */
		{
			uint8_t *exact = malloc(len ? len : 1);

			if (!exact)
				abort();
			memcpy(exact, data, len);
			t->one(exact, len);
			free(exact);
		}
		printf("# replayed %s/%s (%zu bytes)\n", t->name, de->d_name, len);
		free(data);
		n++;
	}
	closedir(d);
	return n;
}

static void
test_replay_all(void)
{
	size_t total = 0;

	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
		total += replay(&targets[i]);
	CHECK(!unit_failed());
	/* At least the inputs this file was written for. */
	CHECK_MSG(total >= 1, "no regression inputs found under %s",
		  unit_data_path("fuzz-regress"));
}

static void
test_no_stray_directories(void)
{
	DIR *d = opendir(unit_data_path("fuzz-regress"));
	struct dirent *de;

	CHECK(d != NULL);
	while ((de = readdir(d)) != NULL) {
		int known = de->d_name[0] == '.' ||
			    strcmp(de->d_name, "README") == 0;

		for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
			known |= strcmp(de->d_name, targets[i].name) == 0;
		if (!known) {
			closedir(d);
			CHECK_MSG(0, "fuzz-regress/%s is no fuzz target's",
				  de->d_name);
		}
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "replay every crashing input", test_replay_all },
		{ "every directory is a target's", test_no_stray_directories },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "fuzz_regress", tests);
}
