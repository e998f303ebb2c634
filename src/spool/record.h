/*
 * record.h - the on-disk encoding of queue entries.
 *
 * (The dedup index's values are fixed layouts instead: a few times per
 * packet, read and written at the rate of every key of every mail; see
 * dedup.c.)
 *
 * A record is a version byte followed by tagged fields: tag (1 byte),
 * length (4 bytes, big-endian), value.  Unknown tags are skipped, so a
 * newer pksbridge can add fields without breaking an older spool, and a
 * reader never trusts a length: a field running past the end makes the
 * whole record corrupt.
 */
#ifndef PB_RECORD_H
#define PB_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define RECORD_VERSION 1

/* Writing: append fields to a struct buf that starts with rec_begin(). */
void rec_begin(struct buf *b);
void rec_put_u64(struct buf *b, uint8_t tag, uint64_t v);
void rec_put_i64(struct buf *b, uint8_t tag, int64_t v);
void rec_put_bytes(struct buf *b, uint8_t tag, const void *p, size_t len);
/* rec_put_str - omitted entirely when s is NULL. */
void rec_put_str(struct buf *b, uint8_t tag, const char *s);

/* Reading. */
struct rec_reader {
	const unsigned char *p, *end;
};

/* rec_open - check the version byte; -1 if not a record we know. */
int rec_open(struct rec_reader *r, const void *data, size_t len);
/* rec_next - next field: 1 with tag, val and len set, 0 at the end,
 * -1 if the record is corrupt. */
int rec_next(struct rec_reader *r, uint8_t *tag, const unsigned char **val,
	     uint32_t *len);
/* Field decoders: -1 if the value has the wrong size. */
int rec_get_u64(const unsigned char *val, uint32_t len, uint64_t *out);
int rec_get_i64(const unsigned char *val, uint32_t len, int64_t *out);
/* rec_get_str - a newly allocated NUL-terminated copy (caller frees);
 * NULL if the value holds a NUL byte. */
char *rec_get_str(const unsigned char *val, uint32_t len);

#endif
