/*
 * json.c - JSON output helpers (see json.h).
 */
#include "json.h"

#include <stdio.h>
#include <string.h>

/* utf8_len - length of the valid UTF-8 sequence at s (max n), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0) {
		len = 2;
		cp = s[0] & 0x1F;
	} else if ((s[0] & 0xF0) == 0xE0) {
		len = 3;
		cp = s[0] & 0x0F;
	} else if ((s[0] & 0xF8) == 0xF0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	/* Reject overlong forms, surrogates and out-of-range values. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

void
json_strn(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	buf_putc(b, '"');
	while (i < len) {
		unsigned char c = p[i];
		size_t n;

		switch (c) {
		case '"': buf_puts(b, "\\\""); i++; continue;
		case '\\': buf_puts(b, "\\\\"); i++; continue;
		case '\n': buf_puts(b, "\\n"); i++; continue;
		case '\r': buf_puts(b, "\\r"); i++; continue;
		case '\t': buf_puts(b, "\\t"); i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7F) {
			buf_printf(b, "\\u%04x", c);
			i++;
			continue;
		}
		n = utf8_len(p + i, len - i);
		if (n == 0) {
			buf_puts(b, "\\ufffd");
			i++;
			continue;
		}
		buf_append(b, p + i, n);
		i += n;
	}
	buf_putc(b, '"');
}

void
json_str(struct buf *b, const char *s)
{
	if (!s)
		buf_puts(b, "null");
	else
		json_strn(b, s, strlen(s));
}

void
json_key(struct buf *b, const char *key, int *first)
{
	if (!*first)
		buf_putc(b, ',');
	*first = 0;
	json_str(b, key);
	buf_putc(b, ':');
}

void
json_kv_str(struct buf *b, const char *key, const char *v, int *first)
{
	json_key(b, key, first);
	json_str(b, v);
}

void
json_kv_int(struct buf *b, const char *key, int64_t v, int *first)
{
	json_key(b, key, first);
	buf_printf(b, "%lld", (long long)v);
}

void
json_kv_time(struct buf *b, const char *key, int64_t v, int *first)
{
	json_key(b, key, first);
	if (v)
		buf_printf(b, "%lld", (long long)v);
	else
		buf_puts(b, "null");
}
