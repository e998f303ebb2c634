/*
 * test_armor.c - armor scanning and encoding: round trips, CRC-24,
 * lenient input (CRLF, headers, blanks), broken blocks that must not hide
 * good ones, size limits, linear time, and output SKS's parser accepts.
 */
#include "lib/unit.h"
#include "openpgp/armor.h"
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BLOCKS 8

/* A copy of what the scanner reported, block by block. */
struct got {
	size_t n;
	size_t nok;
	struct {
		enum armor_kind kind;
		int ok, has_crc;
		unsigned char *data;
		size_t len, offset, text_len;
		char error[160];
	} b[MAX_BLOCKS];
};

static int
collect(void *ctx, const struct armor_block *blk)
{
	struct got *g = ctx;

	if (blk->ok)
		g->nok++;
	if (g->n < MAX_BLOCKS) {
		g->b[g->n].kind = blk->kind;
		g->b[g->n].ok = blk->ok;
		g->b[g->n].has_crc = blk->has_crc;
		g->b[g->n].data = NULL;
		if (blk->ok) {
			g->b[g->n].data = malloc(blk->len);
			memcpy(g->b[g->n].data, blk->data, blk->len);
		}
		g->b[g->n].len = blk->len;
		g->b[g->n].offset = blk->offset;
		g->b[g->n].text_len = blk->text_len;
		memcpy(g->b[g->n].error, blk->error, sizeof blk->error);
	}
	g->n++;
	return 0;
}

static void
got_free(struct got *g)
{
	for (size_t i = 0; i < g->n && i < MAX_BLOCKS; i++)
		free(g->b[i].data);
	memset(g, 0, sizeof *g);
}

static void
scan(const char *text, size_t len, size_t max, struct got *g)
{
	memset(g, 0, sizeof *g);
	armor_scan(text, len, max, collect, g);
}

static void
scan_str(const char *text, struct got *g)
{
	scan(text, strlen(text), 1 << 20, g);
}

/* fill - deterministic pseudo-random bytes. */
static void
fill(unsigned char *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

static char *
encode(const unsigned char *data, size_t len)
{
	struct buf b = BUF_INIT;

	armor_encode_pubkey(data, len, &b);
	return (char *)buf_steal(&b, NULL);
}

/* replace - copy of s with the first occurrence of from replaced. */
static char *
replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	struct buf b = BUF_INIT;

	if (!p)
		return NULL;
	buf_append(&b, s, (size_t)(p - s));
	buf_puts(&b, to);
	buf_puts(&b, p + strlen(from));
	return (char *)buf_steal(&b, NULL);
}

static void
test_crc24(void)
{
	CHECK_INT(armor_crc24((const unsigned char *)"", 0), 0xB704CE);
	/* The CRC-24/OPENPGP check value. */
	CHECK_INT(armor_crc24((const unsigned char *)"123456789", 9), 0x21CF02);
}

static void
test_base64_encode(void)
{
	static const struct { const char *in; size_t line; const char *out; }
	cases[] = {
		{ "", 0, "" },
		{ "f", 0, "Zg==" },
		{ "fo", 0, "Zm8=" },
		{ "foo", 0, "Zm9v" },
		{ "foob", 0, "Zm9vYg==" },
		{ "fooba", 0, "Zm9vYmE=" },
		{ "foobar", 0, "Zm9vYmFy" },
		{ "foobar", 4, "Zm9v\nYmFy\n" },
		{ "foobar", 3, "Zm9\nvYm\nFy\n" },
		{ "fooba", 76, "Zm9vYmE=\n" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT;

		armor_base64_encode((const unsigned char *)cases[i].in,
				    strlen(cases[i].in), cases[i].line, &b);
		CHECK_MSG(strcmp(buf_str(&b), cases[i].out) == 0,
			  "case %zu: got \"%s\"", i, buf_str(&b));
		buf_free(&b);
	}
}

static void
test_round_trip(void)
{
	unsigned char data[1000];

	fill(data, sizeof data, 7);
	for (size_t len = 1; len <= sizeof data; len += (len < 200 ? 1 : 97)) {
		char *text = encode(data, len);
		struct got g;

		scan_str(text, &g);
		CHECK_MSG(g.n == 1 && g.b[0].ok, "len %zu: %s", len,
			  g.n ? g.b[0].error : "no block");
		CHECK_INT(g.b[0].kind, ARMOR_PUBLIC_KEY);
		CHECK(g.b[0].has_crc);
		CHECK_INT(g.b[0].len, len);
		CHECK(memcmp(g.b[0].data, data, len) == 0);
		CHECK_INT(g.b[0].offset, 0);
		CHECK_INT(g.b[0].text_len, strlen(text));
		got_free(&g);
		free(text);
	}
}

/* sks_decode - a model of SKS's Armor.decode_pubkey (armor.ml): lines
 * split on "[ \t]*\r?\n"; the first line equal to the BEGIN line; skip
 * to the first empty line; base64 lines until one starting with '=' (an
 * empty line there makes OCaml's line.[0] raise); that line is the CRC,
 * which must match.  Returns the decoded length or -1. */
static long
sks_decode(const char *text, unsigned char *out, size_t outmax)
{
	static const char hdr[] = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
	static const char al[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = text;
	int state = 0;		/* 0 find header, 1 find blank, 2 data */
	uint32_t acc = 0;
	int nacc = 0;
	size_t n = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t l;

		if (!nl)
			return -1;
		l = (size_t)(nl - p);
		if (l && p[l - 1] == '\r')
			l--;
		while (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
			l--;
		if (state == 0 && l == sizeof hdr - 1 && memcmp(p, hdr, l) == 0) {
			state = 1;
		} else if (state == 1 && l == 0) {
			state = 2;
		} else if (state == 2) {
			uint32_t crc = 0;

			if (l == 0)
				return -1;
			if (p[0] == '=') {
				if (l != 5)
					return -1;
				for (int i = 1; i < 5; i++) {
					const char *c = strchr(al, p[i]);

					if (!c)
						return -1;
					crc = crc << 6 | (uint32_t)(c - al);
				}
				/* the final quantum, if padded */
				if (nacc == 1)
					return -1;
				if (nacc > 1) {
					acc <<= 6 * (4 - nacc);
					out[n++] = (unsigned char)(acc >> 16);
					if (nacc == 3)
						out[n++] = (unsigned char)(acc >> 8);
				}
				return crc == armor_crc24(out, n) ? (long)n : -1;
			}
			for (size_t i = 0; i < l; i++) {
				const char *c = strchr(al, p[i]);

				if (p[i] == '=')
					continue;
				if (!c || !p[i] || n + 3 > outmax)
					return -1;
				acc = acc << 6 | (uint32_t)(c - al);
				if (++nacc == 4) {
					out[n++] = (unsigned char)(acc >> 16);
					out[n++] = (unsigned char)(acc >> 8);
					out[n++] = (unsigned char)acc;
					nacc = 0;
					acc = 0;
				}
			}
		}
		p = nl + 1;
	}
	return -1;
}

static void
test_encode_format_for_sks(void)
{
	unsigned char data[700], back[700];

	fill(data, sizeof data, 3);
	for (size_t len = 1; len <= sizeof data; len += 37) {
		char *text = encode(data, len);
		char *p = text, *nl;
		int lineno = 0, saw_crc = 0, saw_end = 0;

		while ((nl = strchr(p, '\n')) != NULL) {
			size_t l = (size_t)(nl - p);

			lineno++;
			CHECK(!saw_end);
			if (lineno == 1)
				CHECK(l == 36 && memcmp(p, "-----BEGIN PGP PUBLIC KEY BLOCK-----", 36) == 0);
			else if (lineno == 2)
				CHECK_INT(l, 0);
			else if (p[0] == '=') {
				CHECK_INT(l, 5);
				saw_crc = 1;
			} else if (saw_crc) {
				CHECK(l == 34 && memcmp(p, "-----END PGP PUBLIC KEY BLOCK-----", 34) == 0);
				saw_end = 1;
			} else {
				CHECK(l > 0 && l <= 64);
			}
			p = nl + 1;
		}
		CHECK(*p == '\0');	/* ends in LF */
		CHECK(saw_crc && saw_end);
		CHECK_MSG(sks_decode(text, back, sizeof back) == (long)len,
			  "SKS model rejects len %zu", len);
		CHECK(memcmp(back, data, len) == 0);
		free(text);
	}
}

static void
test_fixture_keys(void)
{
	static const struct { const char *file; enum armor_kind kind; } cases[] = {
		{ "keys/alice.asc", ARMOR_PUBLIC_KEY },
		{ "keys/bob.asc", ARMOR_PUBLIC_KEY },
		{ "keys/carol.asc", ARMOR_PUBLIC_KEY },
		{ "keys/carol-signed.asc", ARMOR_PUBLIC_KEY },
		{ "keys/dave.asc", ARMOR_PUBLIC_KEY },
		{ "keys/dave-secret.asc", ARMOR_PRIVATE_KEY },
	};
	size_t bin_len;
	char *bin = unit_read_file(unit_data_path("keys/alice.gpg"), &bin_len);

	CHECK(bin != NULL);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len;
		char *text = unit_read_file(unit_data_path(cases[i].file), &len);
		struct got g;

		CHECK_MSG(text != NULL, "%s", cases[i].file);
		scan(text, len, 1 << 20, &g);
		CHECK_MSG(g.n == 1 && g.b[0].ok, "%s: %s", cases[i].file,
			  g.n ? g.b[0].error : "no block");
		CHECK_INT(g.b[0].kind, cases[i].kind);
		CHECK(g.b[0].len > 0 && (g.b[0].data[0] & 0x80));
		if (i == 0) {
			CHECK_INT(g.b[0].len, bin_len);
			CHECK(memcmp(g.b[0].data, bin, bin_len) == 0);
		}
		got_free(&g);
		free(text);
	}
	free(bin);
}

static void
test_crc_mismatch_and_missing(void)
{
	unsigned char data[100];
	char *text, *crcline, *bad, *nocrc;
	struct got g;

	fill(data, sizeof data, 11);
	text = encode(data, sizeof data);
	crcline = strstr(text, "\n=");
	CHECK(crcline != NULL);

	bad = strdup(text);
	bad[crcline - text + 2] = bad[crcline - text + 2] == 'A' ? 'B' : 'A';
	scan_str(bad, &g);
	CHECK_INT(g.n, 1);
	CHECK(!g.b[0].ok);
	CHECK(g.b[0].has_crc);
	CHECK_MSG(strncmp(g.b[0].error, "CRC-24 mismatch", 15) == 0, "%s",
		  g.b[0].error);
	got_free(&g);

	/* RFC 9580: the checksum line is optional. */
	nocrc = strdup(text);
	memmove(nocrc + (crcline - text) + 1, crcline + 7, strlen(crcline + 7) + 1);
	CHECK(strstr(nocrc, "\n=") == NULL);
	scan_str(nocrc, &g);
	CHECK_MSG(g.n == 1 && g.b[0].ok, "%s", g.b[0].error);
	CHECK(!g.b[0].has_crc);
	CHECK_INT(g.b[0].len, sizeof data);
	CHECK(memcmp(g.b[0].data, data, sizeof data) == 0);
	got_free(&g);
	free(nocrc);
	free(bad);
	free(text);
}

static void
test_broken_blocks(void)
{
	static const char *begin = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n";
	static const struct { const char *text, *error; } cases[] = {
		{ "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBGsLgDsBCAC6\n",
		  "no END line" },
		{ "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQEN*GsLgDsBCAC6\n"
		  "-----END PGP PUBLIC KEY BLOCK-----\n", "bad base64" },
		{ "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==mQEN\n"
		  "-----END PGP PUBLIC KEY BLOCK-----\n", "bad base64" },
		{ "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nm===\n"
		  "-----END PGP PUBLIC KEY BLOCK-----\n", "bad base64" },
		{ "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENB\n"
		  "-----END PGP PUBLIC KEY BLOCK-----\n", "bad base64" },
		{ "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
		  "-----END PGP PUBLIC KEY BLOCK-----\n", "no data" },
		{ "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQEN\n"
		  "-----END PGP MESSAGE-----\n", "END line does not match" },
		{ "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQEN\n=AAAA\nmQEN\n"
		  "-----END PGP PUBLIC KEY BLOCK-----\n", "text after the CRC line" },
	};
	struct got g;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		scan_str(cases[i].text, &g);
		CHECK_MSG(g.n == 1, "case %zu: %zu blocks", i, g.n);
		CHECK_MSG(!g.b[0].ok && strstr(g.b[0].error, cases[i].error),
			  "case %zu: ok=%d error \"%s\"", i, g.b[0].ok,
			  g.b[0].error);
		CHECK(g.b[0].data == NULL);
		got_free(&g);
	}
	/* A BEGIN line alone at the end of the text. */
	scan_str(begin, &g);
	CHECK(g.n == 1 && !g.b[0].ok);
	CHECK_STR(g.b[0].error, "no END line");
	got_free(&g);
}

static void
test_truncated_block(void)
{
	unsigned char data[300];
	char *text;
	struct got g;

	fill(data, sizeof data, 5);
	text = encode(data, sizeof data);
	for (size_t cut = 40; cut < strlen(text) - 35; cut += 13) {
		scan(text, cut, 1 << 20, &g);
		CHECK_INT(g.n, 1);
		CHECK_MSG(!g.b[0].ok, "cut at %zu accepted", cut);
		CHECK_MSG(strstr(g.b[0].error, "no END line") != NULL, "cut %zu: %s",
			  cut, g.b[0].error);
		got_free(&g);
	}
	free(text);
}

static void
test_middle_block_broken(void)
{
	unsigned char d1[120], d2[90], d3[200];
	char *t1, *t2, *t3, *t2bad;
	struct buf all = BUF_INIT;
	struct got g;

	fill(d1, sizeof d1, 1);
	fill(d2, sizeof d2, 2);
	fill(d3, sizeof d3, 3);
	t1 = encode(d1, sizeof d1);
	t2 = encode(d2, sizeof d2);
	t3 = encode(d3, sizeof d3);

	/* Broken in three ways: garbage in the base64, END missing,
	 * and both at once. */
	for (int mode = 0; mode < 3; mode++) {
		t2bad = strdup(t2);
		if (mode != 1)
			t2bad[40] = '#';
		if (mode != 0)
			*strstr(t2bad, "-----END") = '\0';
		buf_reset(&all);
		buf_puts(&all, "Hello,\nhere are the keys.\n\n");
		buf_puts(&all, t1);
		buf_puts(&all, "\nand\n");
		buf_puts(&all, t2bad);
		buf_puts(&all, t3);
		buf_puts(&all, "-- \nsig\n");
		scan_str(buf_str(&all), &g);
		CHECK_INT(g.n, 3);
		CHECK(g.b[0].ok && g.b[0].len == sizeof d1 &&
		      memcmp(g.b[0].data, d1, sizeof d1) == 0);
		CHECK(!g.b[1].ok);
		CHECK_MSG(strstr(g.b[1].error, mode == 1 ? "no END line" :
				 "bad base64") != NULL, "mode %d: %s", mode,
			  g.b[1].error);
		CHECK(g.b[2].ok && g.b[2].len == sizeof d3 &&
		      memcmp(g.b[2].data, d3, sizeof d3) == 0);
		/* offsets and lengths point at the armored text */
		CHECK(memcmp(buf_str(&all) + g.b[0].offset, t1, strlen(t1)) == 0);
		CHECK_INT(g.b[0].text_len, strlen(t1));
		CHECK(memcmp(buf_str(&all) + g.b[2].offset, t3, strlen(t3)) == 0);
		CHECK_INT(g.b[2].text_len, strlen(t3));
		CHECK_INT(g.b[1].offset + g.b[1].text_len, g.b[2].offset);
		got_free(&g);
		free(t2bad);
	}
	buf_free(&all);
	free(t1);
	free(t2);
	free(t3);
}

static void
test_headers_crlf_whitespace(void)
{
	unsigned char data[150];
	char *text, *p;
	struct buf b = BUF_INIT;
	struct got g;

	fill(data, sizeof data, 9);
	text = encode(data, sizeof data);

	/* CRLF, headers, trailing blanks, blanks inside base64 lines,
	 * an empty line in the data, leading indentation. */
	for (p = text; *p; p++) {
		if (p == text + 37) {
			buf_puts(&b, "Version: GnuPG v2 \r\n");
			buf_puts(&b, "Comment: https://example.org/key:1\r\n");
		}
		if (*p == '\n') {
			buf_puts(&b, " \t\r\n");
		} else {
			if (p > text + 40 && p < text + 100 && (p - text) % 9 == 0)
				buf_puts(&b, " ");
			if (p == text + 120)
				buf_puts(&b, "\r\n\r\n");
			buf_putc(&b, *p);
		}
	}
	scan(buf_str(&b), b.len, 1 << 20, &g);
	CHECK_MSG(g.n == 1 && g.b[0].ok, "%s", g.n ? g.b[0].error : "none");
	CHECK_INT(g.b[0].len, sizeof data);
	CHECK(memcmp(g.b[0].data, data, sizeof data) == 0);
	got_free(&g);

	/* Headers without the empty line after them. */
	{
		char *t = replace(text, "BLOCK-----\n\n",
				  "BLOCK-----\nVersion: x\nComment: y\n");
		scan_str(t, &g);
		CHECK_MSG(g.n == 1 && g.b[0].ok, "%s", g.b[0].error);
		CHECK(memcmp(g.b[0].data, data, sizeof data) == 0);
		got_free(&g);
		free(t);
	}
	/* No headers and no empty line at all. */
	{
		char *t = replace(text, "BLOCK-----\n\n", "BLOCK-----\n");
		scan_str(t, &g);
		CHECK_MSG(g.n == 1 && g.b[0].ok, "%s", g.b[0].error);
		CHECK(memcmp(g.b[0].data, data, sizeof data) == 0);
		got_free(&g);
		free(t);
	}
	/* Indented by a mail client. */
	{
		struct buf ind = BUF_INIT;

		for (p = text; *p; p++) {
			if (p == text || p[-1] == '\n')
				buf_puts(&ind, "    ");
			buf_putc(&ind, *p);
		}
		scan_str(buf_str(&ind), &g);
		CHECK_MSG(g.n == 1 && g.b[0].ok, "%s", g.b[0].error);
		got_free(&g);
		buf_free(&ind);
	}
	/* Missing padding is tolerated (the bits are unambiguous). */
	{
		static const char t[] = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
			"Zm9vYg\n-----END PGP PUBLIC KEY BLOCK-----\n";
		scan_str(t, &g);
		CHECK(g.n == 1 && g.b[0].ok && g.b[0].len == 4 &&
		      memcmp(g.b[0].data, "foob", 4) == 0);
		got_free(&g);
	}
	buf_free(&b);
	free(text);
}

static void
test_block_kinds(void)
{
	static const char text[] =
		"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nZm9v\n"
		"-----END PGP PRIVATE KEY BLOCK-----\n"
		"-----BEGIN PGP SECRET KEY BLOCK-----\n\nZm9v\n"
		"-----END PGP SECRET KEY BLOCK-----\n"
		"-----BEGIN PGP MESSAGE-----\n\nZm9v\n=AAAA\n"
		"-----END PGP MESSAGE-----\n"
		"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
		"- -----BEGIN PGP PUBLIC KEY BLOCK-----\nsome text\n"
		"-----BEGIN PGP SIGNATURE-----\n\nZm9vYmFy\n"
		"-----END PGP SIGNATURE-----\n"
		"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nZm9vYmFy\n"
		"-----END PGP PUBLIC KEY BLOCK-----\n"
		"-----BEGIN PGP ARMORED FILE-----\n\nZm9v\n"
		"-----END PGP ARMORED FILE-----\n"
		"-----BEGIN PGP -----\n"
		"-----BEGIN PGP PUBLIC KEY BLOCK----\n";
	struct got g;

	scan_str(text, &g);
	CHECK_INT(g.n, 7);
	CHECK(g.b[0].kind == ARMOR_PRIVATE_KEY && g.b[0].ok);
	CHECK(g.b[1].kind == ARMOR_PRIVATE_KEY && g.b[1].ok);
	CHECK(g.b[2].kind == ARMOR_OTHER && !g.b[2].ok);
	CHECK(strstr(g.b[2].error, "CRC-24 mismatch") != NULL);
	CHECK(g.b[3].kind == ARMOR_OTHER && !g.b[3].ok);	/* SIGNED MESSAGE */
	CHECK(g.b[4].kind == ARMOR_OTHER && g.b[4].ok);	/* its SIGNATURE */
	CHECK(g.b[5].kind == ARMOR_PUBLIC_KEY && g.b[5].ok);
	CHECK(g.b[5].len == 6 && memcmp(g.b[5].data, "foobar", 6) == 0);
	CHECK(g.b[6].kind == ARMOR_OTHER && g.b[6].ok);
	got_free(&g);
}

static void
test_size_limit(void)
{
	unsigned char data[3000];
	char *text;
	struct got g;

	fill(data, sizeof data, 4);
	for (size_t len = 2990; len <= 3000; len++) {
		text = encode(data, len);
		scan(text, strlen(text), 2995, &g);
		CHECK_INT(g.n, 1);
		if (len <= 2995) {
			CHECK_MSG(g.b[0].ok && g.b[0].len == len, "len %zu: %s",
				  len, g.b[0].error);
		} else {
			CHECK(!g.b[0].ok);
			CHECK_STR(g.b[0].error, "armor block larger than 2995 bytes");
		}
		got_free(&g);
		free(text);
	}
	/* A limit of zero refuses everything, and later blocks are still
	 * scanned. */
	text = encode(data, 10);
	{
		struct buf two = BUF_INIT;

		buf_puts(&two, text);
		buf_puts(&two, text);
		scan(buf_str(&two), two.len, 0, &g);
		CHECK_INT(g.n, 2);
		CHECK(!g.b[0].ok && !g.b[1].ok);
		CHECK(strstr(g.b[1].error, "larger than 0 bytes") != NULL);
		got_free(&g);
		buf_free(&two);
	}
	free(text);
}

static int
stop_at_second(void *ctx, const struct armor_block *blk)
{
	int *n = ctx;

	(void)blk;
	return ++*n == 2 ? 42 : 0;
}

static void
test_callback_stops(void)
{
	static const char one[] = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nZm9v\n"
		"-----END PGP PUBLIC KEY BLOCK-----\n";
	struct buf b = BUF_INIT;
	int n = 0;

	for (int i = 0; i < 5; i++)
		buf_puts(&b, one);
	CHECK_INT(armor_scan(buf_str(&b), b.len, 100, stop_at_second, &n), 42);
	CHECK_INT(n, 2);
	buf_free(&b);
	n = 0;
	CHECK_INT(armor_scan("no armor here\n", 14, 100, stop_at_second, &n), 0);
	CHECK_INT(armor_scan("", 0, 100, stop_at_second, &n), 0);
	CHECK_INT(n, 0);
}

static int
count_blocks(void *ctx, const struct armor_block *blk)
{
	size_t *c = ctx;

	c[0]++;
	if (blk->ok)
		c[1]++;
	return 0;
}

/* Inputs that a quadratic scanner would choke on, built at scale n. */
enum { BIG_BLOCK, BROKEN_BLOCKS, BARE_BEGINS, ONE_LONG_LINE };

static void
build_input(int kind, size_t n, struct buf *b, unsigned char **data_r)
{
	buf_reset(b);
	*data_r = NULL;
	switch (kind) {
	case BIG_BLOCK: {
		unsigned char *data = malloc(n);
		char *text;

		fill(data, n, 99);
		text = encode(data, n);
		buf_puts(b, text);
		free(text);
		*data_r = data;
		break;
	}
	case BROKEN_BLOCKS:
		for (size_t i = 0; i < n; i++)
			buf_puts(b, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!\n");
		break;
	case BARE_BEGINS:
		for (size_t i = 0; i < n; i++)
			buf_puts(b, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n");
		break;
	case ONE_LONG_LINE:
		buf_puts(b, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n");
		buf_reserve(b, n);
		memset(b->data + b->len, 'A', n);
		b->len += n;
		b->data[b->len] = '\0';
		break;
	}
}

/* Linear time, judged by how time grows from n to 4n (about 4x when
 * linear, 16x when quadratic), so a slow or shared machine, or valgrind,
 * does not make the test flaky; plus a generous absolute bound. */
static void
test_linear_time(void)
{
	static const struct { int kind; size_t n; size_t blocks, ok; const char *what; }
	cases[] = {
		{ BIG_BLOCK, 3u << 20, 1, 1, "12 MB decoded (16 MB armored) block" },
		{ BROKEN_BLOCKS, 25000, 1, 0, "100000 broken blocks" },
		{ BARE_BEGINS, 100000, 1, 0, "400000 bare BEGIN lines" },
		{ ONE_LONG_LINE, 4u << 20, 1, 0, "16 MB line without END" },
	};
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		double t[2];

		for (int k = 0; k < 2; k++) {
			size_t n = cases[i].n * (k ? 4 : 1), c[2] = { 0, 0 };
			size_t want = cases[i].kind == BIG_BLOCK ||
				cases[i].kind == ONE_LONG_LINE ? 1 : n;
			unsigned char *data;
			double t0;

			build_input(cases[i].kind, n, &b, &data);
			t0 = unit_ms();
			if (cases[i].kind == BIG_BLOCK) {
				struct got g;

				scan(buf_str(&b), b.len, 16u << 20, &g);
				t[k] = unit_ms() - t0;
				CHECK(g.n == 1 && g.b[0].ok && g.b[0].len == n);
				CHECK(memcmp(g.b[0].data, data, n) == 0);
				got_free(&g);
			} else {
				armor_scan(buf_str(&b), b.len, 1 << 20, count_blocks, c);
				t[k] = unit_ms() - t0;
				CHECK_INT(c[0], want);
				CHECK_INT(c[1], 0);
			}
			free(data);
		}
		printf("# armor: %s: %.0f ms (a quarter of it: %.0f ms)\n",
		       cases[i].what, t[1], t[0]);
		CHECK_MSG(t[1] < 8 * t[0] + 100, "%s: %.0f ms vs %.0f ms for a "
			  "quarter: not linear", cases[i].what, t[1], t[0]);
		CHECK_MSG(t[1] < 60000, "%s took %.0f ms", cases[i].what, t[1]);
	}
	buf_free(&b);
}

static void
test_fixture_files(void)
{
	static const struct { const char *file; size_t nblocks, nok; } cases[] = {
		{ "armor/crlf-headers.txt", 1, 1 },
		{ "armor/three-middle-broken.txt", 3, 2 },
		{ "armor/no-crc.txt", 1, 1 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len;
		char *text = unit_read_file(unit_data_path(cases[i].file), &len);
		struct got g;

		CHECK_MSG(text != NULL, "%s", cases[i].file);
		scan(text, len, 1 << 20, &g);
		CHECK_MSG(g.n == cases[i].nblocks && g.nok == cases[i].nok,
			  "%s: %zu blocks, %zu ok", cases[i].file, g.n, g.nok);
		for (size_t k = 0; k < g.n; k++)
			CHECK(g.b[k].kind == ARMOR_PUBLIC_KEY);
		got_free(&g);
		free(text);
	}
}

/* Chunked writing gives the one-shot text exactly, whatever the cuts. */
static void
test_writer_chunks(void)
{
	unsigned char data[5000];
	struct buf whole = BUF_INIT;
	unsigned seed = 7;

	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 131 + 17);
	for (size_t len = 0; len < sizeof data; len += len < 10 ? 1 : 977) {
		buf_reset(&whole);
		armor_encode_pubkey(data, len, &whole);
		for (int round = 0; round < 5; round++) {
			struct armor_writer w;
			struct buf chunked = BUF_INIT;
			size_t off = 0;

			armor_writer_begin(&w, armor_out_buf, &chunked);
			while (off < len) {
				size_t n;

				seed = seed * 1103515245 + 12345;
				n = 1 + (seed >> 16) % 70;
				if (n > len - off)
					n = len - off;
				armor_writer_add(&w, data + off, n);
				off += n;
			}
			CHECK_INT(armor_writer_end(&w), 0);
			CHECK_MSG(chunked.len == whole.len &&
				  memcmp(chunked.data, whole.data, whole.len) == 0,
				  "len %zu round %d differs", len, round);
			buf_free(&chunked);
		}
	}
	buf_free(&whole);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "crc24", test_crc24 },
		{ "base64 encode", test_base64_encode },
		{ "round trip", test_round_trip },
		{ "encoded format is what SKS parses", test_encode_format_for_sks },
		{ "fixture keys", test_fixture_keys },
		{ "fixture files", test_fixture_files },
		{ "CRC mismatch and missing CRC", test_crc_mismatch_and_missing },
		{ "broken blocks", test_broken_blocks },
		{ "truncated block", test_truncated_block },
		{ "middle block broken", test_middle_block_broken },
		{ "headers, CRLF, whitespace", test_headers_crlf_whitespace },
		{ "block kinds", test_block_kinds },
		{ "size limit", test_size_limit },
		{ "callback stops the scan", test_callback_stops },
		{ "linear time", test_linear_time },
		{ "streaming writer equals one-shot", test_writer_chunks },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "armor", tests);
}
