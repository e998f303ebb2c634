/*
 * buf.c - growable byte buffer (see buf.h).
 */
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;

	if (extra > (size_t)-1 - b->len - 1)
		log_fatal(PB_EOS, "buffer size overflow");
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	/* Grow geometrically so appends stay linear overall. */
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	/* Keep the promise of buf.h even for a fresh, empty buffer. */
	b->data[b->len] = '\0';
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_putc(struct buf *b, int c)
{
	unsigned char ch = (unsigned char)c;

	buf_append(b, &ch, 1);
}

void
buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

unsigned char *
buf_steal(struct buf *b, size_t *len_r)
{
	unsigned char *p;

	buf_reserve(b, 0);
	p = b->data;
	if (len_r)
		*len_r = b->len;
	buf_init(b);
	return p;
}

const char *
buf_str(const struct buf *b)
{
	return b->data ? (const char *)b->data : "";
}
