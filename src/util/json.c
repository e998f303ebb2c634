/*
 * json.c - JSON output helpers (see json.h).
 */
#include "util/json.h"
#include "util/utf8.h"

#include <stdio.h>
#include <string.h>

void
json_strn(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	buf_putc(b, '"');
	while (i < len) {
		unsigned char c = p[i];
		uint32_t cp;
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
		n = utf8_char(p + i, len - i, &cp);
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
