/*
 * fuzz_check.h - invariants the fuzz targets share: text pksbridge
 * derives from a mail and prints (JSON strings, uids, reasons) must be
 * valid UTF-8 without control characters.  Header-only, for fuzz/ only.
 */
#ifndef PB_FUZZ_CHECK_H
#define PB_FUZZ_CHECK_H

#include "util/buf.h"
#include "util/json.h"

#include <stdlib.h>
#include <string.h>

/* fuzz_utf8_ok - 1 if s[0..n) is valid UTF-8 (no overlongs, surrogates
 * or values past U+10FFFF) with no C0 control or DEL. */
static inline int
fuzz_utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], len, cp;

		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len > n - i)
			return 0;
		for (unsigned k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* fuzz_json_ok - s as a JSON string literal must be valid UTF-8 with
 * every control character escaped; aborts otherwise. */
static inline void
fuzz_json_ok(const char *s, size_t n)
{
	struct buf b = BUF_INIT;

	json_strn(&b, s, n);
	if (b.len < 2 || b.data[0] != '"' || b.data[b.len - 1] != '"' ||
	    !fuzz_utf8_ok(b.data, b.len))
		abort();
	buf_free(&b);
}

#endif
