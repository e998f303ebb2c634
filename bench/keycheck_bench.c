/*
 * keycheck_bench.c - how expensive is asking GnuPG (through GPGME) whether
 * it accepts a key?  Measures the ways keycheck.c could do it, on real keys
 * (Debian's keyring by default), so the choice in keycheck.c is made on
 * numbers and can be re-checked on another machine or GnuPG version:
 *
 *   from-data/1   gpgme_op_keylist_from_data_start, one call per key
 *   from-data/B   the same, one call per batch of B keys
 *   open+1        a new GPGME context for each one-key call: what a
 *                 filter process checking a one-key mail pays
 *   import/1      gpgme_op_import into a scratch home, then a keylist of
 *                 the imported fingerprints, one key per call
 *   import/B      the same per batch
 *
 * Not built by default (it is a measurement, not a test).  Build and run:
 *
 *   cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -o build-keydb/keycheck_bench \
 *      bench/keycheck_bench.c $(pkg-config --cflags --libs gpgme)
 *   ./build-keydb/keycheck_bench [-n NKEYS] [-b BATCH] [KEYRING.gpg]
 *
 * Set BENCH_GPG to another gpg binary (e.g. a wrapper that logs its argv)
 * to see exactly what GPGME runs.  The scratch homes live under $TMPDIR
 * and are removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gpgme.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct key {
	const unsigned char *p;
	size_t len;
};

static void
die(const char *what, gpgme_error_t e)
{
	fprintf(stderr, "keycheck_bench: %s: %s\n", what, gpgme_strerror(e));
	exit(1);
}

/* Split a trusted local keyring at each public-key packet.  Only for the
 * bench: the product uses pgp_split_keys, which checks everything. */
static size_t
split(const unsigned char *d, size_t len, struct key **keys_r)
{
	struct key *keys = NULL;
	size_t n = 0, cap = 0, off = 0;

	while (off < len) {
		unsigned ctb = d[off];
		size_t hlen, plen, tag;

		if (!(ctb & 0x80))
			break;
		if (ctb & 0x40) {
			tag = ctb & 0x3f;
			if (off + 2 > len)
				break;
			unsigned c = d[off + 1];
			if (c < 192) {
				hlen = 2; plen = c;
			} else if (c < 224) {
				if (off + 3 > len)
					break;
				hlen = 3; plen = ((c - 192) << 8) + d[off + 2] + 192;
			} else if (c == 255) {
				if (off + 6 > len)
					break;
				hlen = 6;
				plen = (size_t)d[off + 2] << 24 | (size_t)d[off + 3] << 16 |
				       (size_t)d[off + 4] << 8 | d[off + 5];
			} else {
				break;	/* partial lengths do not occur in keys */
			}
		} else {
			tag = (ctb >> 2) & 0xf;
			switch (ctb & 3) {
			case 0: hlen = 2; plen = d[off + 1]; break;
			case 1: hlen = 3; plen = (size_t)d[off + 1] << 8 | d[off + 2]; break;
			case 2: hlen = 5;
				plen = (size_t)d[off + 1] << 24 | (size_t)d[off + 2] << 16 |
				       (size_t)d[off + 3] << 8 | d[off + 4];
				break;
			default: hlen = 1; plen = len - off - 1; break;
			}
		}
		if (plen > len - off - hlen)
			break;
		if (tag == 6) {
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				keys = realloc(keys, cap * sizeof *keys);
				if (!keys)
					abort();
			}
			keys[n].p = d + off;
			keys[n].len = 0;
			n++;
		}
		if (n)
			keys[n - 1].len = (size_t)(d + off + hlen + plen - keys[n - 1].p);
		off += hlen + plen;
	}
	*keys_r = keys;
	return n;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* no-autostart: an import may probe gpg-agent for a secret key, and
 * without this gpg would start one that outlives us.
 * no-auto-check-trustdb: the trustdb is created by the first call (a
 * listing needs it; with "trust-model always" gpg dies on a missing one)
 * and never rebuilt.  An empty pubring.kbx (for from-data) keeps the home
 * unwritten: "no-keyring" makes gpg emit ERROR status lines while checking
 * certifications, which GPGME turns into failure. */
static void
write_conf(const char *home, int empty_keyring)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/gpg.conf", home);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs("no-autostart\nno-auto-check-trustdb\n", f);
	fclose(f);
	if (empty_keyring) {
		snprintf(path, sizeof path, "%s/pubring.kbx", home);
		fclose(fopen(path, "w"));
	}
}

static gpgme_ctx_t
new_ctx(const char *home)
{
	gpgme_ctx_t ctx;
	gpgme_error_t e;
	const char *gpg = getenv("BENCH_GPG");

	if ((e = gpgme_new(&ctx)))
		die("gpgme_new", e);
	if ((e = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, gpg, home)))
		die("set_engine_info", e);
	gpgme_set_offline(ctx, 1);
	return ctx;
}

static void
concat(const struct key *k, size_t n, gpgme_data_t *dh)
{
	size_t total = 0;
	gpgme_error_t e;

	for (size_t i = 0; i < n; i++)
		total += k[i].len;
	/* Keys are contiguous in the keyring, so one buffer covers them. */
	if ((e = gpgme_data_new_from_mem(dh, (const char *)k[0].p, total, 0)))
		die("data_new", e);
}

/* Returns the number of keys gpg listed as valid public keys. */
static size_t
run_from_data(gpgme_ctx_t ctx, const char *home, const struct key *k, size_t n)
{
	(void)home;	/* the context already points at it */
	gpgme_data_t dh;
	gpgme_key_t key;
	gpgme_error_t e;
	size_t ok = 0;

	concat(k, n, &dh);
	if ((e = gpgme_op_keylist_from_data_start(ctx, dh, 0)))
		die("keylist_from_data_start", e);
	while (!(e = gpgme_op_keylist_next(ctx, &key))) {
		if (getenv("BENCH_DEBUG"))
			fprintf(stderr, "%s invalid=%d revoked=%d expired=%d uids=%p\n",
				key->subkeys ? key->subkeys->fpr : "-", key->invalid,
				key->revoked, key->expired, (void *)key->uids);
		if (!key->invalid && key->uids)
			ok++;
		gpgme_key_unref(key);
	}
	if (gpg_err_code(e) != GPG_ERR_EOF)
		die("keylist_next", e);
	gpgme_data_release(dh);
	return ok;
}

static size_t
run_import(gpgme_ctx_t ctx, const char *home, const struct key *k, size_t n)
{
	gpgme_data_t dh;
	gpgme_key_t key;
	gpgme_error_t e;
	gpgme_import_result_t res;
	const char **pat;
	size_t np = 0, ok = 0;
	char path[4096];

	/* A scratch keyring must not grow: start each call from empty. */
	snprintf(path, sizeof path, "%s/pubring.kbx", home);
	unlink(path);
	concat(k, n, &dh);
	if ((e = gpgme_op_import(ctx, dh)))
		die("import", e);
	res = gpgme_op_import_result(ctx);
	pat = calloc(n + 1, sizeof *pat);
	for (gpgme_import_status_t s = res->imports; s; s = s->next)
		if (!s->result && s->fpr && np < n)
			pat[np++] = strdup(s->fpr);	/* the result dies with
							 * the next operation */
	if (np) {
		if ((e = gpgme_op_keylist_ext_start(ctx, pat, 0, 0)))
			die("keylist_ext_start", e);
		while (!(e = gpgme_op_keylist_next(ctx, &key))) {
			if (!key->invalid)
				ok++;
			gpgme_key_unref(key);
		}
		if (gpg_err_code(e) != GPG_ERR_EOF)
			die("keylist_next", e);
	}
	for (size_t i = 0; i < np; i++)
		free((char *)pat[i]);
	free(pat);
	gpgme_data_release(dh);
	return ok;
}

static void
bench(const char *name, const char *home, const struct key *keys, size_t nkeys,
      size_t batch, int ctx_per_call,
      size_t (*fn)(gpgme_ctx_t, const char *, const struct key *, size_t))
{
	/* One context per run, as keycheck.c keeps one: setting the engine
	 * info runs "gpg --version", which would otherwise double the cost. */
	gpgme_ctx_t ctx = new_ctx(home);
	double t0 = now_ms(), t;
	size_t calls = 0, ok = 0, bytes = 0;

	for (size_t i = 0; i < nkeys; i += batch) {
		size_t m = nkeys - i < batch ? nkeys - i : batch;

		if (ctx_per_call) {
			gpgme_release(ctx);
			ctx = new_ctx(home);
		}
		ok += fn(ctx, home, keys + i, m);
		for (size_t j = 0; j < m; j++)
			bytes += keys[i + j].len;
		calls++;
	}
	t = now_ms() - t0;
	gpgme_release(ctx);
	printf("| %-13s | %5zu | %5zu | %8.2f | %8.2f | %6zu | %7.1f |\n", name,
	       nkeys, calls, t / (double)nkeys, t / (double)calls, ok,
	       (double)bytes / 1024.0 / (double)nkeys);
}

static void
rm_home(const char *home)
{
	DIR *d = opendir(home);
	struct dirent *de;
	char path[4096];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", home, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(home);
}

int
main(int argc, char **argv)
{
	const char *ring = "/usr/share/keyrings/debian-keyring.gpg";
	size_t nkeys = 200, batch = 50;
	const char *tmp = getenv("TMPDIR");
	char home_a[4096], home_b[4096];
	struct key *keys;
	unsigned char *data;
	size_t len = 0, cap = 1 << 20, total;
	FILE *f;
	int c;

	while ((c = getopt(argc, argv, "n:b:")) != -1) {
		switch (c) {
		case 'n': nkeys = strtoul(optarg, NULL, 10); break;
		case 'b': batch = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: keycheck_bench [-n NKEYS] [-b BATCH] [KEYRING]\n");
			return 2;
		}
	}
	if (optind < argc)
		ring = argv[optind];
	if (!(f = fopen(ring, "rb"))) {
		perror(ring);
		return 1;
	}
	data = malloc(cap);
	for (size_t r; (r = fread(data + len, 1, cap - len, f)) > 0;) {
		len += r;
		if (len == cap)
			data = realloc(data, cap *= 2);
	}
	fclose(f);
	total = split(data, len, &keys);
	if (nkeys > total)
		nkeys = total;
	if (nkeys == 0 || batch == 0)
		return 1;

	setlocale(LC_ALL, "");
	gpgme_check_version(NULL);
	snprintf(home_a, sizeof home_a, "%s/kcbench-a.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	snprintf(home_b, sizeof home_b, "%s/kcbench-b.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(home_a) || !mkdtemp(home_b)) {
		perror("mkdtemp");
		return 1;
	}
	write_conf(home_a, 1);
	write_conf(home_b, 0);

	printf("%zu keys in %s, measuring the first %zu, batch %zu\n\n", total,
	       ring, nkeys, batch);
	printf("| method        |  keys | calls | ms/key   | ms/call  | valid  | KiB/key |\n");
	printf("|---------------|-------|-------|----------|----------|--------|---------|\n");
	char label[32];
	bench("from-data/1", home_a, keys, nkeys, 1, 0, run_from_data);
	snprintf(label, sizeof label, "from-data/%zu", batch);
	bench(label, home_a, keys, nkeys, batch, 0, run_from_data);
	bench("open+1", home_a, keys, nkeys, 1, 1, run_from_data);
	bench("import/1", home_b, keys, nkeys, 1, 0, run_import);
	snprintf(label, sizeof label, "import/%zu", batch);
	bench(label, home_b, keys, nkeys, batch, 0, run_import);

	rm_home(home_a);
	rm_home(home_b);
	free(keys);
	free(data);
	return 0;
}
