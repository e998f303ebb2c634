/*
 * buf.h - growable byte buffer.
 *
 * A struct buf owns its data; buf_free() releases it.  Data is always
 * NUL-terminated one byte past len (not counted), so text can be handed
 * to string functions, but binary data with embedded NULs is fine too.
 */
#ifndef PB_BUF_H
#define PB_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct buf {
	unsigned char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);			/* len = 0, keep memory */
void buf_reserve(struct buf *b, size_t extra);	/* room for extra more bytes */
void buf_append(struct buf *b, const void *p, size_t n);
void buf_putc(struct buf *b, int c);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* buf_steal - hand the data to the caller (who frees it); b is reset. */
unsigned char *buf_steal(struct buf *b, size_t *len_r);
/* buf_str - the contents as a NUL-terminated string (owned by b). */
const char *buf_str(const struct buf *b);

#endif
