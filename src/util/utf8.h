/*
 * utf8.h - one UTF-8 decoder for everything that shows text from mail
 * (user IDs, JSON, the queue report, Prometheus labels): what counts as a
 * character must be the same everywhere, or a byte sanitized in one place
 * comes out raw in another.
 */
#ifndef PB_UTF8_H
#define PB_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* utf8_char - length of the valid UTF-8 sequence at p (n > 0 bytes left;
 * RFC 3629: no overlongs, surrogates or code points past U+10FFFF), its
 * code point in *cp; 0 if the bytes there are not one. */
size_t utf8_char(const unsigned char *p, size_t n, uint32_t *cp);

/* utf8_control - true for C0 and C1 controls and DEL, which no display
 * of mail text lets through. */
int utf8_control(uint32_t cp);

/* utf8_make_text - s, in place, made valid UTF-8 without control
 * characters: a control becomes a blank, a byte that is no UTF-8 (a
 * character cut at the end, say) '?'. */
void utf8_make_text(char *s);

#endif
