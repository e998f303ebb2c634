/*
 * unit.h - a small table-driven unit test harness (Dovecot/Ptest style).
 *
 * A test file defines static void functions, lists them in a
 * struct unit_test table and calls unit_run() from main().  Each test
 * prints "ok - FILE: NAME" or "not ok - FILE: NAME: where: what"; tests/run
 * counts those lines.  A failed CHECK returns from the test function, so
 * put cleanup you need after a failure before the checks or accept the
 * leak in a failing test.
 *
 * The rules of tests/lib.sh hold here too: a test that makes no check
 * fails (it proved nothing), and so does a test that needs a tool this
 * machine lacks (NEED_TOOL): CI runs with every package installed, so a
 * missing tool is a broken machine, never a reason to skip.
 */
#ifndef PB_UNIT_H
#define PB_UNIT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

int unit_run(int argc, char **argv, const char *suite,
	     const struct unit_test *tests);
void unit_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int unit_failed(void);
/* unit_checked - count one check (the CHECK macros call it). */
void unit_checked(void);

/* unit_data_path - path of a file under tests/data (static buffer). */
const char *unit_data_path(const char *rel);
/* unit_read_file - whole file, NUL-terminated, caller frees; NULL on error. */
char *unit_read_file(const char *path, size_t *len_r);
/* unit_tmpdir - a fresh directory under $TMPDIR, removed at exit. */
const char *unit_tmpdir(void);

/* Fixtures several tests share (fixtures.c). */
struct pgp_keylist;
/* unit_load_keys - the keys of the armored fixture rel (under
 * tests/data), appended to list: 0, or -1 if it added none. */
int unit_load_keys(const char *rel, struct pgp_keylist *list);
/* unit_armor_keys - the public keys of the armored blocks in text (a
 * mail, a MIME part), appended to list. */
void unit_armor_keys(const char *text, size_t len, struct pgp_keylist *list);
/* unit_pgpgen - run tests/tools/pgpgen.py with args (a shell word list
 * the test wrote itself; stdout to out_path if not NULL): 0, or -1 if it
 * failed (python3-cryptography missing is a failure, not a skip). */
int unit_pgpgen(const char *args, const char *out_path);
/* unit_count_procs - live processes whose command line contains needle
 * (and prog, if not NULL); zombies do not count, they run nothing. */
int unit_count_procs(const char *prog, const char *needle);
/* unit_ms - a monotonic clock in milliseconds, fine enough to time a
 * parse. */
double unit_ms(void);

#define CHECK(cond) do { unit_checked(); if (!(cond)) { \
	unit_fail(__FILE__, __LINE__, "%s", #cond); return; } } while (0)
#define CHECK_MSG(cond, ...) do { unit_checked(); if (!(cond)) { \
	unit_fail(__FILE__, __LINE__, __VA_ARGS__); return; } } while (0)
#define CHECK_INT(got, want) do { long long g_ = (long long)(got), \
	w_ = (long long)(want); unit_checked(); if (g_ != w_) { \
	unit_fail(__FILE__, __LINE__, "%s: got %lld, want %lld", #got, g_, \
	w_); return; } } while (0)
#define CHECK_STR(got, want) do { const char *g_ = (got), *w_ = (want); \
	unit_checked(); if (g_ == NULL || w_ == NULL || strcmp(g_, w_) != 0) { \
	unit_fail(__FILE__, __LINE__, "%s: got \"%s\", want \"%s\"", #got, \
	g_ ? g_ : "(null)", w_ ? w_ : "(null)"); return; } } while (0)
#define CHECK_OK(call, errp) do { unit_checked(); if ((call) != 0) { \
	unit_fail(__FILE__, __LINE__, "%s failed: %s", #call, (errp)->msg); \
	return; } } while (0)
/* NEED_TOOL - the test fails unless the file path (a program, a
 * keyring) is there: never a skip. */
#define NEED_TOOL(path) CHECK_MSG(access((path), F_OK) == 0, "%s is missing: " \
	"a missing tool is a failure, never a skip (sh scripts/bootstrap " \
	"installs the test dependencies)", (path))

#endif
