/*
 * record.c - tagged record encoding (see record.h).
 */
#include "spool/record.h"
#include "util/bytes.h"
#include "util/xalloc.h"

#include <string.h>

void
rec_begin(struct buf *b)
{
	buf_reset(b);
	buf_putc(b, RECORD_VERSION);
}

void
rec_put_bytes(struct buf *b, uint8_t tag, const void *p, size_t len)
{
	unsigned char hdr[5];

	/* Fields are small (headers, fingerprints); payloads live in their
	 * own database, so a 4 GiB field is a bug, not data. */
	if (len > UINT32_MAX)
		len = UINT32_MAX;
	hdr[0] = tag;
	be32_put(hdr + 1, (uint32_t)len);
	buf_append(b, hdr, sizeof hdr);
	buf_append(b, p, len);
}

void
rec_put_u64(struct buf *b, uint8_t tag, uint64_t v)
{
	unsigned char val[8];

	be64_put(val, v);
	rec_put_bytes(b, tag, val, sizeof val);
}

void
rec_put_i64(struct buf *b, uint8_t tag, int64_t v)
{
	rec_put_u64(b, tag, (uint64_t)v);
}

void
rec_put_str(struct buf *b, uint8_t tag, const char *s)
{
	if (s)
		rec_put_bytes(b, tag, s, strlen(s));
}

int
rec_open(struct rec_reader *r, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (len < 1 || p[0] != RECORD_VERSION)
		return -1;
	r->p = p + 1;
	r->end = p + len;
	return 0;
}

int
rec_next(struct rec_reader *r, uint8_t *tag, const unsigned char **val,
	 uint32_t *len)
{
	uint32_t n;

	if (r->p == r->end)
		return 0;
	if ((size_t)(r->end - r->p) < 5)
		return -1;
	n = be32_get(r->p + 1);
	if (n > (size_t)(r->end - r->p) - 5)
		return -1;
	*tag = r->p[0];
	*val = r->p + 5;
	*len = n;
	r->p += 5 + (size_t)n;
	return 1;
}

int
rec_get_u64(const unsigned char *val, uint32_t len, uint64_t *out)
{
	if (len != 8)
		return -1;
	*out = be64_get(val);
	return 0;
}

int
rec_get_i64(const unsigned char *val, uint32_t len, int64_t *out)
{
	uint64_t u;

	if (rec_get_u64(val, len, &u) != 0)
		return -1;
	*out = (int64_t)u;
	return 0;
}

char *
rec_get_str(const unsigned char *val, uint32_t len)
{
	if (memchr(val, '\0', len) != NULL)
		return NULL;
	return xstrndup((const char *)val, len);
}
