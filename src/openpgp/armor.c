/*
 * armor.c - OpenPGP ASCII armor scanner and encoder (see armor.h).
 *
 * The scanner is one pass over the text, line by line: a block is a small
 * state machine (headers, base64 body, checksum, END) and every line is
 * looked at a bounded number of times, so a huge block and a flood of tiny
 * broken blocks both cost time linear in the text.  A broken block keeps
 * consuming lines until its END line or the next BEGIN line, so the blocks
 * after it are still found.  Decoding is incremental into one buffer that
 * never grows past the caller's max_decoded.
 */
#include "openpgp/armor.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define BEGIN_PREFIX "-----BEGIN PGP "
#define END_PREFIX "-----END PGP "
#define DASHES "-----"
#define BEGIN_PREFIX_LEN (sizeof BEGIN_PREFIX - 1)
#define END_PREFIX_LEN (sizeof END_PREFIX - 1)
#define DASHES_LEN (sizeof DASHES - 1)

/* CRC-24 of RFC 4880 section 6.1 (init 0xB704CE, generator 0x1864CFB),
 * one table entry per leading byte so a 16 MB block costs one lookup per
 * byte instead of eight shift/xor rounds. */
static const uint32_t crc24_table[256] = {
	0x000000, 0x864cfb, 0x8ad50d, 0x0c99f6, 0x93e6e1, 0x15aa1a,
	0x1933ec, 0x9f7f17, 0xa18139, 0x27cdc2, 0x2b5434, 0xad18cf,
	0x3267d8, 0xb42b23, 0xb8b2d5, 0x3efe2e, 0xc54e89, 0x430272,
	0x4f9b84, 0xc9d77f, 0x56a868, 0xd0e493, 0xdc7d65, 0x5a319e,
	0x64cfb0, 0xe2834b, 0xee1abd, 0x685646, 0xf72951, 0x7165aa,
	0x7dfc5c, 0xfbb0a7, 0x0cd1e9, 0x8a9d12, 0x8604e4, 0x00481f,
	0x9f3708, 0x197bf3, 0x15e205, 0x93aefe, 0xad50d0, 0x2b1c2b,
	0x2785dd, 0xa1c926, 0x3eb631, 0xb8faca, 0xb4633c, 0x322fc7,
	0xc99f60, 0x4fd39b, 0x434a6d, 0xc50696, 0x5a7981, 0xdc357a,
	0xd0ac8c, 0x56e077, 0x681e59, 0xee52a2, 0xe2cb54, 0x6487af,
	0xfbf8b8, 0x7db443, 0x712db5, 0xf7614e, 0x19a3d2, 0x9fef29,
	0x9376df, 0x153a24, 0x8a4533, 0x0c09c8, 0x00903e, 0x86dcc5,
	0xb822eb, 0x3e6e10, 0x32f7e6, 0xb4bb1d, 0x2bc40a, 0xad88f1,
	0xa11107, 0x275dfc, 0xdced5b, 0x5aa1a0, 0x563856, 0xd074ad,
	0x4f0bba, 0xc94741, 0xc5deb7, 0x43924c, 0x7d6c62, 0xfb2099,
	0xf7b96f, 0x71f594, 0xee8a83, 0x68c678, 0x645f8e, 0xe21375,
	0x15723b, 0x933ec0, 0x9fa736, 0x19ebcd, 0x8694da, 0x00d821,
	0x0c41d7, 0x8a0d2c, 0xb4f302, 0x32bff9, 0x3e260f, 0xb86af4,
	0x2715e3, 0xa15918, 0xadc0ee, 0x2b8c15, 0xd03cb2, 0x567049,
	0x5ae9bf, 0xdca544, 0x43da53, 0xc596a8, 0xc90f5e, 0x4f43a5,
	0x71bd8b, 0xf7f170, 0xfb6886, 0x7d247d, 0xe25b6a, 0x641791,
	0x688e67, 0xeec29c, 0x3347a4, 0xb50b5f, 0xb992a9, 0x3fde52,
	0xa0a145, 0x26edbe, 0x2a7448, 0xac38b3, 0x92c69d, 0x148a66,
	0x181390, 0x9e5f6b, 0x01207c, 0x876c87, 0x8bf571, 0x0db98a,
	0xf6092d, 0x7045d6, 0x7cdc20, 0xfa90db, 0x65efcc, 0xe3a337,
	0xef3ac1, 0x69763a, 0x578814, 0xd1c4ef, 0xdd5d19, 0x5b11e2,
	0xc46ef5, 0x42220e, 0x4ebbf8, 0xc8f703, 0x3f964d, 0xb9dab6,
	0xb54340, 0x330fbb, 0xac70ac, 0x2a3c57, 0x26a5a1, 0xa0e95a,
	0x9e1774, 0x185b8f, 0x14c279, 0x928e82, 0x0df195, 0x8bbd6e,
	0x872498, 0x016863, 0xfad8c4, 0x7c943f, 0x700dc9, 0xf64132,
	0x693e25, 0xef72de, 0xe3eb28, 0x65a7d3, 0x5b59fd, 0xdd1506,
	0xd18cf0, 0x57c00b, 0xc8bf1c, 0x4ef3e7, 0x426a11, 0xc426ea,
	0x2ae476, 0xaca88d, 0xa0317b, 0x267d80, 0xb90297, 0x3f4e6c,
	0x33d79a, 0xb59b61, 0x8b654f, 0x0d29b4, 0x01b042, 0x87fcb9,
	0x1883ae, 0x9ecf55, 0x9256a3, 0x141a58, 0xefaaff, 0x69e604,
	0x657ff2, 0xe33309, 0x7c4c1e, 0xfa00e5, 0xf69913, 0x70d5e8,
	0x4e2bc6, 0xc8673d, 0xc4fecb, 0x42b230, 0xddcd27, 0x5b81dc,
	0x57182a, 0xd154d1, 0x26359f, 0xa07964, 0xace092, 0x2aac69,
	0xb5d37e, 0x339f85, 0x3f0673, 0xb94a88, 0x87b4a6, 0x01f85d,
	0x0d61ab, 0x8b2d50, 0x145247, 0x921ebc, 0x9e874a, 0x18cbb1,
	0xe37b16, 0x6537ed, 0x69ae1b, 0xefe2e0, 0x709df7, 0xf6d10c,
	0xfa48fa, 0x7c0401, 0x42fa2f, 0xc4b6d4, 0xc82f22, 0x4e63d9,
	0xd11cce, 0x575035, 0x5bc9c3, 0xdd8538,
};

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* armor_crc24_update - continue a CRC-24 over more data. */
static uint32_t
armor_crc24_update(uint32_t crc, const unsigned char *data, size_t len)
{
	for (size_t i = 0; i < len; i++)
		crc = ((crc << 8) ^ crc24_table[((crc >> 16) ^ data[i]) & 0xff])
			& 0xffffff;
	return crc;
}

uint32_t
armor_crc24(const unsigned char *data, size_t len)
{
	return armor_crc24_update(0xB704CE, data, len);
}

/* b64_table - the 6-bit value of every base64 character, -1 for the
 * rest: a table, because this runs for every byte of every key. */
#define B64_ROW(c) \
	((c) >= 'A' && (c) <= 'Z' ? (c) - 'A' : \
	 (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26 : \
	 (c) >= '0' && (c) <= '9' ? (c) - '0' + 52 : \
	 (c) == '+' ? 62 : (c) == '/' ? 63 : -1)
#define B64_4(c) B64_ROW(c), B64_ROW((c) + 1), B64_ROW((c) + 2), B64_ROW((c) + 3)
#define B64_16(c) B64_4(c), B64_4((c) + 4), B64_4((c) + 8), B64_4((c) + 12)
#define B64_64(c) B64_16(c), B64_16((c) + 16), B64_16((c) + 32), B64_16((c) + 48)
static const short b64_table[256] = {
	B64_64(0), B64_64(64), B64_64(128), B64_64(192),
};

static int
b64_value(unsigned char c)
{
	return b64_table[c];
}

static int
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

void
armor_base64_encode(const unsigned char *data, size_t len, size_t line_len,
		    struct buf *out)
{
	size_t col = 0;
	char quad[4];

	for (size_t i = 0; i < len; i += 3) {
		size_t n = len - i < 3 ? len - i : 3;
		uint32_t v = (uint32_t)data[i] << 16;

		if (n > 1)
			v |= (uint32_t)data[i + 1] << 8;
		if (n > 2)
			v |= data[i + 2];
		quad[0] = b64_alphabet[(v >> 18) & 63];
		quad[1] = b64_alphabet[(v >> 12) & 63];
		quad[2] = n > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		quad[3] = n > 2 ? b64_alphabet[v & 63] : '=';
		for (int k = 0; k < 4; k++) {
			buf_putc(out, quad[k]);
			if (line_len && ++col == line_len) {
				buf_putc(out, '\n');
				col = 0;
			}
		}
	}
	if (line_len && col)
		buf_putc(out, '\n');
}

static void
w_flush(struct armor_writer *w)
{
	if (w->nchunk && !w->error)
		w->error = w->out(w->ctx, w->chunk, w->nchunk);
	w->nchunk = 0;
}

static void
w_put(struct armor_writer *w, const char *s, size_t n)
{
	while (n) {
		size_t room = sizeof w->chunk - w->nchunk;
		size_t k = n < room ? n : room;

		memcpy(w->chunk + w->nchunk, s, k);
		w->nchunk += k;
		s += k;
		n -= k;
		if (w->nchunk == sizeof w->chunk)
			w_flush(w);
	}
}

/* w_quad - one base64 quad from n (1..3) bytes, wrapped at 64 columns. */
static void
w_quad(struct armor_writer *w, const unsigned char *b, size_t n)
{
	uint32_t v = (uint32_t)b[0] << 16;
	char quad[5];
	size_t q = 4;

	if (n > 1)
		v |= (uint32_t)b[1] << 8;
	if (n > 2)
		v |= b[2];
	quad[0] = b64_alphabet[(v >> 18) & 63];
	quad[1] = b64_alphabet[(v >> 12) & 63];
	quad[2] = n > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
	quad[3] = n > 2 ? b64_alphabet[v & 63] : '=';
	w->col += 4;
	if (w->col == 64) {
		quad[4] = '\n';
		q = 5;
		w->col = 0;
	}
	w_put(w, quad, q);
}

void
armor_writer_begin(struct armor_writer *w, armor_out_fn out, void *ctx)
{
	memset(w, 0, sizeof *w);
	w->out = out;
	w->ctx = ctx;
	w->crc = 0xB704CE;
	/* SKS's decoder needs the empty line (it is how it finds the end of
	 * the headers), no empty line inside the data, and the "=" line. */
	w_put(w, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n", 38);
}

void
armor_writer_add(struct armor_writer *w, const unsigned char *data, size_t len)
{
	w->crc = armor_crc24_update(w->crc, data, len);
	while (len && w->ncarry) {
		w->carry[w->ncarry++] = *data++;
		len--;
		if (w->ncarry == 3) {
			w_quad(w, w->carry, 3);
			w->ncarry = 0;
		}
	}
	for (; len >= 3; data += 3, len -= 3)
		w_quad(w, data, 3);
	while (len--)
		w->carry[w->ncarry++] = *data++;
}

int
armor_writer_end(struct armor_writer *w)
{
	char tail[4 + 1 + 40];
	unsigned char c[3];
	size_t n;

	if (w->ncarry)
		w_quad(w, w->carry, w->ncarry);
	if (w->col)
		w_put(w, "\n", 1);
	c[0] = (unsigned char)(w->crc >> 16);
	c[1] = (unsigned char)(w->crc >> 8);
	c[2] = (unsigned char)w->crc;
	tail[0] = '=';
	tail[1] = b64_alphabet[c[0] >> 2];
	tail[2] = b64_alphabet[((c[0] & 3) << 4) | (c[1] >> 4)];
	tail[3] = b64_alphabet[((c[1] & 15) << 2) | (c[2] >> 6)];
	tail[4] = b64_alphabet[c[2] & 63];
	n = 5;
	memcpy(tail + n, "\n-----END PGP PUBLIC KEY BLOCK-----\n", 36);
	n += 36;
	w_put(w, tail, n);
	w_flush(w);
	return w->error;
}

int
armor_out_buf(void *ctx, const char *text, size_t len)
{
	buf_append(ctx, text, len);
	return 0;
}

void
armor_encode_pubkey(const unsigned char *data, size_t len, struct buf *out)
{
	struct armor_writer w;

	armor_writer_begin(&w, armor_out_buf, out);
	armor_writer_add(&w, data, len);
	armor_writer_end(&w);
}

/* One line of the text: content with surrounding blanks (and the CR of a
 * CRLF) stripped, and where the next line starts. */
struct line {
	const char *p;
	size_t len;
	size_t next;
};

static void
get_line(const char *text, size_t len, size_t pos, struct line *ln)
{
	const char *start = text + pos;
	const char *nl = memchr(start, '\n', len - pos);
	size_t end = nl ? (size_t)(nl - text) : len;

	ln->next = nl ? end + 1 : len;
	while (end > pos && is_blank((unsigned char)text[end - 1]))
		end--;
	while (pos < end && is_blank((unsigned char)text[pos]))
		pos++;
	ln->p = text + pos;
	ln->len = end - pos;
}

static int
has_prefix(const struct line *ln, const char *prefix, size_t plen)
{
	return ln->len >= plen && memcmp(ln->p, prefix, plen) == 0;
}

/* is_begin - a "-----BEGIN PGP LABEL-----" line; sets the label. */
static int
is_begin(const struct line *ln, const char **label, size_t *label_len)
{
	if (ln->len <= BEGIN_PREFIX_LEN + DASHES_LEN ||
	    !has_prefix(ln, BEGIN_PREFIX, BEGIN_PREFIX_LEN) ||
	    memcmp(ln->p + ln->len - DASHES_LEN, DASHES, DASHES_LEN) != 0)
		return 0;
	*label = ln->p + BEGIN_PREFIX_LEN;
	*label_len = ln->len - BEGIN_PREFIX_LEN - DASHES_LEN;
	return 1;
}

static int
label_is(const char *label, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(label, want, len) == 0;
}

/* is_header - an armor header line, "Key: value" (RFC 9580 6.2). */
static int
is_header(const struct line *ln)
{
	size_t i = 0;

	while (i < ln->len) {
		unsigned char c = (unsigned char)ln->p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			break;
		i++;
	}
	if (i == 0 || i >= ln->len || ln->p[i] != ':')
		return 0;
	return i + 1 == ln->len || ln->p[i + 1] == ' ' || ln->p[i + 1] == '\t';
}

/* is_crc_line - "=" and exactly four base64 characters.  A body line
 * cannot look like this: padding only ever ends a line. */
static int
is_crc_line(const struct line *ln, uint32_t *crc)
{
	uint32_t v = 0;

	if (ln->len != 5 || ln->p[0] != '=')
		return 0;
	for (int i = 1; i < 5; i++) {
		int d = b64_value((unsigned char)ln->p[i]);

		if (d < 0)
			return 0;
		v = (v << 6) | (uint32_t)d;
	}
	*crc = v;
	return 1;
}

/* Incremental base64 decoder writing into out, never past max bytes. */
struct b64dec {
	struct buf *out;
	size_t max;
	uint32_t acc;
	int n;			/* characters in the current quantum */
	int pad;		/* '=' characters in the current quantum */
	int done;		/* a padded quantum ended the data */
};

enum { B64_OK, B64_BAD, B64_AFTER_PAD, B64_TOO_LARGE };

static int
b64_emit(struct b64dec *d, int nbytes)
{
	unsigned char b[3] = {
		(unsigned char)(d->acc >> 16), (unsigned char)(d->acc >> 8),
		(unsigned char)d->acc,
	};

	if ((size_t)nbytes > d->max - d->out->len)
		return B64_TOO_LARGE;
	if (d->out->cap - d->out->len > 3) {
		/* The common case, without a call per three bytes. */
		memcpy(d->out->data + d->out->len, b, 3);
		d->out->len += (size_t)nbytes;
		d->out->data[d->out->len] = '\0';
	} else {
		buf_append(d->out, b, (size_t)nbytes);
	}
	d->acc = 0;
	d->n = d->pad = 0;
	return B64_OK;
}

/* b64_feed - decode one line; *bad_char gets the offending byte. */
static int
b64_feed(struct b64dec *d, const char *p, size_t len, unsigned char *bad_char)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		int v;

		if (is_blank(c))
			continue;
		*bad_char = c;
		if (d->done)
			return B64_AFTER_PAD;
		if (c == '=') {
			if (d->n < 2)
				return B64_BAD;
			d->pad++;
			d->acc <<= 6;
			if (++d->n == 4) {
				int rc = b64_emit(d, 3 - d->pad);

				if (rc != B64_OK)
					return rc;
				d->done = 1;
			}
			continue;
		}
		if ((v = b64_value(c)) < 0)
			return B64_BAD;
		if (d->pad)
			return B64_AFTER_PAD;
		d->acc = (d->acc << 6) | (uint32_t)v;
		if (++d->n == 4) {
			int rc = b64_emit(d, 3);

			if (rc != B64_OK)
				return rc;
		}
	}
	return B64_OK;
}

/* b64_finish - flush a quantum left without (complete) padding: lenient,
 * since the bits are unambiguous, except for a lone sixth of a byte. */
static int
b64_finish(struct b64dec *d)
{
	int data_chars = d->n - d->pad;

	if (d->n == 0)
		return B64_OK;
	if (data_chars < 2)
		return B64_BAD;
	while (d->n < 4) {
		d->acc <<= 6;
		d->n++;
	}
	return b64_emit(d, data_chars - 1);
}

enum block_phase { PH_HEADERS, PH_BODY, PH_AFTER_CRC };

/* The block being scanned; error[0] != 0 once it has gone bad. */
struct block_state {
	struct armor_block blk;
	const char *label;
	size_t label_len;
	enum block_phase phase;
	size_t lineno;		/* 1 = the BEGIN line */
	uint32_t crc;
};

static void
block_error(struct block_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
block_error(struct block_state *st, const char *fmt, ...)
{
	va_list ap;

	if (st->blk.error[0])
		return;		/* the first problem is the one to report */
	va_start(ap, fmt);
	vsnprintf(st->blk.error, sizeof st->blk.error, fmt, ap);
	va_end(ap);
}

static void
feed_body_line(struct block_state *st, struct b64dec *dec,
	       const struct line *ln)
{
	unsigned char bad = 0;
	int rc;

	if (st->blk.error[0])
		return;
	rc = b64_feed(dec, ln->p, ln->len, &bad);
	switch (rc) {
	case B64_BAD:
		block_error(st, "bad base64: character 0x%02X on line %zu",
			    bad, st->lineno);
		break;
	case B64_AFTER_PAD:
		block_error(st, "bad base64: data after padding on line %zu",
			    st->lineno);
		break;
	case B64_TOO_LARGE:
		block_error(st, "armor block larger than %zu bytes", dec->max);
		break;
	}
}

/* scan_block - consume the lines of one block that starts at the BEGIN
 * line at begin_pos; returns where scanning resumes.  A following BEGIN
 * line is not consumed, so it starts the next block. */
static size_t
scan_block(const char *text, size_t len, size_t begin_pos,
	   const struct line *begin, struct block_state *st, struct b64dec *dec)
{
	size_t pos = begin->next;
	int ended = 0;

	st->phase = PH_HEADERS;
	st->lineno = 1;
	while (pos < len) {
		struct line ln;
		const char *lbl;
		size_t lbl_len;

		get_line(text, len, pos, &ln);
		st->lineno++;
		if (is_begin(&ln, &lbl, &lbl_len)) {
			block_error(st, "no END line");
			ended = 1;
			break;	/* pos stays at the new BEGIN line */
		}
		pos = ln.next;
		if (has_prefix(&ln, END_PREFIX, END_PREFIX_LEN)) {
			if (ln.len != END_PREFIX_LEN + st->label_len + DASHES_LEN ||
			    memcmp(ln.p + END_PREFIX_LEN, st->label,
				   st->label_len) != 0 ||
			    memcmp(ln.p + ln.len - DASHES_LEN, DASHES,
				   DASHES_LEN) != 0)
				block_error(st, "END line does not match BEGIN line");
			ended = 1;
			break;
		}
		if (st->phase == PH_HEADERS) {
			if (ln.len == 0) {
				st->phase = PH_BODY;
				continue;
			}
			if (is_header(&ln))
				continue;
			/* No empty line after the headers: be lenient and
			 * take this line as the first body line. */
			st->phase = PH_BODY;
		}
		if (ln.len == 0)
			continue;
		if (st->phase == PH_AFTER_CRC) {
			block_error(st, "text after the CRC line (line %zu)",
				    st->lineno);
			continue;
		}
		if (is_crc_line(&ln, &st->crc)) {
			st->blk.has_crc = 1;
			st->phase = PH_AFTER_CRC;
			continue;
		}
		feed_body_line(st, dec, &ln);
	}
	if (!ended)
		block_error(st, "no END line");
	st->blk.text_len = pos - begin_pos;
	return pos;
}

/* finish_block - final checks once the block's lines are consumed. */
static void
finish_block(struct block_state *st, struct b64dec *dec)
{
	if (!st->blk.error[0]) {
		int rc = b64_finish(dec);

		if (rc == B64_TOO_LARGE)
			block_error(st, "armor block larger than %zu bytes",
				    dec->max);
		else if (rc != B64_OK)
			block_error(st, "bad base64: truncated data");
	}
	if (!st->blk.error[0] && dec->out->len == 0)
		block_error(st, "no data in armor block");
	if (!st->blk.error[0] && st->blk.has_crc) {
		uint32_t crc = armor_crc24(dec->out->data, dec->out->len);

		if (crc != st->crc)
			block_error(st, "CRC-24 mismatch (armor says %06X, "
				    "data has %06X)", (unsigned)st->crc,
				    (unsigned)crc);
	}
	if (!st->blk.error[0]) {
		st->blk.ok = 1;
		st->blk.data = dec->out->data;
		st->blk.len = dec->out->len;
	}
}

int
armor_scan(const char *text, size_t len, size_t max_decoded,
	   armor_cb cb, void *ctx)
{
	struct buf out = BUF_INIT;
	size_t pos = 0;
	int rc = 0;

	while (pos < len) {
		struct line ln;
		struct block_state st;
		struct b64dec dec;

		get_line(text, len, pos, &ln);
		memset(&st, 0, sizeof st);
		if (!is_begin(&ln, &st.label, &st.label_len)) {
			pos = ln.next;
			continue;
		}
		st.blk.offset = pos;
		if (label_is(st.label, st.label_len, "PUBLIC KEY BLOCK"))
			st.blk.kind = ARMOR_PUBLIC_KEY;
		else if (label_is(st.label, st.label_len, "PRIVATE KEY BLOCK") ||
			 label_is(st.label, st.label_len, "SECRET KEY BLOCK"))
			st.blk.kind = ARMOR_PRIVATE_KEY;
		else
			st.blk.kind = ARMOR_OTHER;

		if (label_is(st.label, st.label_len, "SIGNED MESSAGE")) {
			/* Cleartext follows, not base64, and there is no END
			 * line: the signature block after it is its own block. */
			snprintf(st.blk.error, sizeof st.blk.error,
				 "cleartext signed message (no armored data)");
			st.blk.text_len = ln.next - pos;
			pos = ln.next;
		} else {
			buf_reset(&out);
			memset(&dec, 0, sizeof dec);
			dec.out = &out;
			dec.max = max_decoded;
			pos = scan_block(text, len, pos, &ln, &st, &dec);
			finish_block(&st, &dec);
		}
		if ((rc = cb(ctx, &st.blk)) != 0)
			break;
	}
	buf_free(&out);
	return rc;
}
