/*
 * json.h - just enough JSON output for the CLI (postqueue -j style JSON
 * Lines).  Strings from mail are arbitrary bytes: invalid UTF-8 is
 * replaced with U+FFFD and control characters are escaped, so the output
 * is always valid JSON whatever a mail contained.
 */
#ifndef PB_JSON_H
#define PB_JSON_H

#include <stdint.h>

#include "util/buf.h"

/* json_str - append s as a JSON string literal, or null if s is NULL. */
void json_str(struct buf *b, const char *s);
/* json_strn - the same for a length-delimited byte string. */
void json_strn(struct buf *b, const char *s, size_t len);

/* Object members; json_obj_* add the separating comma themselves when
 * first is 0 (the caller passes 1 for the first member). */
void json_key(struct buf *b, const char *key, int *first);
void json_kv_str(struct buf *b, const char *key, const char *v, int *first);
void json_kv_int(struct buf *b, const char *key, int64_t v, int *first);
/* json_kv_time - v, or null when v is 0. */
void json_kv_time(struct buf *b, const char *key, int64_t v, int *first);

#endif
