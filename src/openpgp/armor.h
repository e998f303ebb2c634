/*
 * armor.h - OpenPGP ASCII armor (RFC 4880 section 6, RFC 9580 section 6).
 *
 * Finds every armored block in a text (a decoded MIME part or a raw mail),
 * decodes it with CRC-24 checking, and encodes binary keys back to armor
 * for outbound mail and for SKS's messages/ spool.
 *
 * The scanner never trusts the text: lines of any length, CR/LF or LF,
 * blanks inside base64, missing END lines and garbage are all reported
 * per block, and one bad block never hides the good ones around it.
 */
#ifndef PB_ARMOR_H
#define PB_ARMOR_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

enum armor_kind {
	ARMOR_PUBLIC_KEY,	/* -----BEGIN PGP PUBLIC KEY BLOCK----- */
	ARMOR_PRIVATE_KEY,	/* -----BEGIN PGP PRIVATE KEY BLOCK----- (or SECRET) */
	ARMOR_OTHER,		/* MESSAGE, SIGNATURE, ...: ignored by callers */
};

struct armor_block {
	enum armor_kind kind;
	int ok;			/* 1: decoded and CRC (if present) matched */
	int has_crc;		/* a "=XXXX" checksum line was present */
	const unsigned char *data; /* decoded bytes when ok; owned by the
				 * scanner, valid only during the callback */
	size_t len;
	size_t offset;		/* byte offset of the BEGIN line in the text */
	size_t text_len;	/* armored text length, BEGIN..END inclusive
				 * (whole lines, with their line ends) */
	char error[160];	/* why not ok: "CRC-24 mismatch", ... */
};

/* Called once per block found, in text order.  Return 0 to continue,
 * non-zero to stop the scan (armor_scan then returns that value). */
typedef int (*armor_cb)(void *ctx, const struct armor_block *blk);

/* armor_scan - find and decode every armor block in text[0..len).
 * Blocks whose decoded size would exceed max_decoded are reported as not
 * ok ("armor block larger than ...") without being decoded into memory.
 * Returns 0, or the callback's non-zero value. */
int armor_scan(const char *text, size_t len, size_t max_decoded,
	       armor_cb cb, void *ctx);

/* armor_encode_pubkey - append a PUBLIC KEY BLOCK holding data[0..len)
 * to out: BEGIN line, blank line, base64 lines of 64 columns, "=CRC",
 * END line, each ending in LF (callers convert to CRLF for SMTP).  This is
 * also exactly what SKS's own armor parser expects. */
void armor_encode_pubkey(const unsigned char *data, size_t len, struct buf *out);

/* Streaming encoder: the same text as armor_encode_pubkey() would give
 * for the concatenation of everything added, produced piece by piece, so
 * a large set of keys never has to be concatenated or held as text in
 * memory.  out receives the text in chunks; a non-zero return from it is
 * remembered, stops further output, and is returned by armor_writer_end. */
typedef int (*armor_out_fn)(void *ctx, const char *text, size_t len);

struct armor_writer {
	armor_out_fn out;
	void *ctx;
	uint32_t crc;
	unsigned char carry[3];	/* bytes waiting for a full base64 quad */
	size_t ncarry;
	size_t col;		/* characters on the current line */
	char chunk[8192];	/* text not yet handed to out */
	size_t nchunk;
	int error;		/* first non-zero from out */
};

void armor_writer_begin(struct armor_writer *w, armor_out_fn out, void *ctx);
void armor_writer_add(struct armor_writer *w, const unsigned char *data,
		      size_t len);
int armor_writer_end(struct armor_writer *w);

/* armor_out_buf - an armor_out_fn appending to the struct buf in ctx. */
int armor_out_buf(void *ctx, const char *text, size_t len);

/* armor_crc24 - the RFC 4880 CRC-24 of data. */
uint32_t armor_crc24(const unsigned char *data, size_t len);

/* base64 helpers, shared with the mail composer: line_len characters
 * per line, each line (the last too) ending in LF; line_len 0: one line
 * without a line end. */
void armor_base64_encode(const unsigned char *data, size_t len, size_t line_len,
			 struct buf *out);

#endif
