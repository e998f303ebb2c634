/*
 * policy_bench - bench tool: what the key policy (openpgp/policy.h)
 * costs, in this process's CPU time and peak resident set, for
 * bench/s7_policy.sh.
 *
 *   policy_bench keyring FILE [REPS]
 *       every key of a binary keyring (Debian's) judged REPS times (3):
 *       per key the fastest run's CPU time (the others measure the
 *       machine); prints one JSON object: keys, mean, p50, p90, p99 and
 *       max CPU ms per key, keys over 1 ms, verifications.
 *   policy_bench one FILE [MODE]
 *       one key (binary or armored) judged once with third_party_certs
 *       MODE (owner): CPU of the judgement alone, the process's peak RSS
 *       (the key, its copy by the splitter, the policy's records and
 *       output), the verdict and the log line; one JSON object.
 */
#include "openpgp/armor.h"
#include "openpgp/pgp.h"
#include "openpgp/policy.h"
#include "util/buf.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
read_file(const char *path, struct buf *b)
{
	FILE *f = fopen(path, "rb");
	unsigned char chunk[65536];
	size_t n;

	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(b, chunk, n);
	fclose(f);
	return 0;
}

static int
on_block(void *ctx, const struct armor_block *blk)
{
	static const struct pgp_limits nolimit = { (size_t)-1, (size_t)-1 };

	if (blk->ok && blk->kind == ARMOR_PUBLIC_KEY)
		pgp_split_keys(blk->data, blk->len, &nolimit, ctx);
	return 0;
}

/* load - the keys of path, binary or armored. */
static int
load(const char *path, struct pgp_keylist *l)
{
	static const struct pgp_limits nolimit = { (size_t)-1, (size_t)-1 };
	struct buf b = BUF_INIT;

	memset(l, 0, sizeof *l);
	if (read_file(path, &b) != 0) {
		fprintf(stderr, "policy_bench: cannot read %s\n", path);
		return -1;
	}
	if (b.len && (b.data[0] & 0x80))
		pgp_split_keys(b.data, b.len, &nolimit, l);
	else
		armor_scan((const char *)b.data, b.len, b.len + 1, on_block, l);
	buf_free(&b);
	if (l->nkeys == 0) {
		fprintf(stderr, "policy_bench: no key in %s\n", path);
		return -1;
	}
	return 0;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const double *v, size_t n, double p)
{
	double k = (double)(n - 1) * p / 100;
	size_t lo = (size_t)k, hi = lo + (lo + 1 < n);

	return v[lo] + (v[hi] - v[lo]) * (k - (double)lo);
}

static int
keyring(const char *path, int reps)
{
	struct pgp_keylist l;
	struct policy pol;
	double *t, sum = 0;
	unsigned long verified = 0;
	size_t over = 0;

	if (load(path, &l) != 0)
		return 1;
	memset(&pol, 0, sizeof pol);
	policy_settings_init(&pol.set);
	t = calloc(l.nkeys, sizeof *t);
	for (size_t i = 0; i < l.nkeys; i++) {
		for (int r = 0; r < reps; r++) {
			struct policy_result res;
			struct pb_err err;
			double t0 = cpu_ms(), dt;

			if (policy_judge(&pol, l.keys[i].data, l.keys[i].len, NULL,
					 0, &res, &err) != 0) {
				fprintf(stderr, "policy_bench: %s: %s\n",
					l.keys[i].fpr_hex, err.msg);
				return 1;
			}
			dt = cpu_ms() - t0;
			if (r == 0 || dt < t[i])
				t[i] = dt;
			if (r == 0)
				verified += res.verified;
			policy_result_free(&res);
		}
		sum += t[i];
		over += t[i] > 1.0;
	}
	qsort(t, l.nkeys, sizeof *t, dbl_cmp);
	printf("{\"keys\":%zu,\"reps\":%d,\"mean_ms\":%.4f,\"p50_ms\":%.4f,"
	       "\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f,"
	       "\"over_1ms\":%zu,\"verifications\":%lu}\n", l.nkeys, reps,
	       sum / (double)l.nkeys, pct(t, l.nkeys, 50), pct(t, l.nkeys, 90),
	       pct(t, l.nkeys, 99), t[l.nkeys - 1], over, verified);
	free(t);
	pgp_keylist_free(&l);
	return 0;
}

static int
one(const char *path, const char *mode)
{
	struct pgp_keylist l;
	struct policy pol;
	struct policy_result res;
	struct pb_err err;
	struct rusage ru;
	struct buf b = BUF_INIT;
	double t0, dt;

	if (load(path, &l) != 0)
		return 1;
	memset(&pol, 0, sizeof pol);
	policy_settings_init(&pol.set);
	if (mode && policy_third_party_parse(mode, &pol.set.third_party) != 0) {
		fprintf(stderr, "policy_bench: unknown mode %s\n", mode);
		return 1;
	}
	t0 = cpu_ms();
	if (policy_judge(&pol, l.keys[0].data, l.keys[0].len, NULL, 0, &res,
			 &err) != 0) {
		fprintf(stderr, "policy_bench: %s\n", err.msg);
		return 1;
	}
	dt = cpu_ms() - t0;
	getrusage(RUSAGE_SELF, &ru);
	policy_result_log(&res, &b);
	printf("{\"bytes\":%zu,\"packets\":%zu,\"mode\":\"%s\",\"cpu_ms\":%.3f,"
	       "\"maxrss_kb\":%ld,\"verdict\":\"%s\",\"kept_bytes\":%zu,"
	       "\"verifications\":%u,\"policy\":\"%s\"}\n", l.keys[0].len,
	       l.keys[0].npackets, policy_third_party_name(pol.set.third_party),
	       dt, ru.ru_maxrss, policy_verdict_name(res.verdict), res.kept_size,
	       res.verified, buf_str(&b));
	buf_free(&b);
	policy_result_free(&res);
	pgp_keylist_free(&l);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "keyring") == 0)
		return keyring(argv[2], argc > 3 ? atoi(argv[3]) : 3);
	if (argc >= 3 && strcmp(argv[1], "one") == 0)
		return one(argv[2], argc > 3 ? argv[3] : NULL);
	fprintf(stderr, "usage: policy_bench keyring FILE [REPS] | one FILE [MODE]\n");
	return 64;
}
