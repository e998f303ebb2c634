/*
 * xalloc.h - allocation that cannot fail.
 *
 * As with Postfix's mymalloc(), these either succeed or do not return:
 * on exhaustion they log and exit through log_fatal(), whose exit code
 * main() chose (75 in the MTA-facing commands, so the MTA retries).
 * Every pointer they return is owned by the caller and released with
 * free().
 */
#ifndef PB_XALLOC_H
#define PB_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* xreallocarray - realloc for nmemb*size, failing on overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
/* xasprintf - formatted string, caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
