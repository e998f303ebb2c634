/*
 * mailreq.c - a mail command as the queue keeps it (see mailreq.h).
 */
#include "bridge/mailreq.h"
#include "spool/record.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	T_KIND = 1, T_NAME, T_SEARCH_KIND, T_SEARCH, T_DAYS, T_LANG,
	T_REASON, T_LOOKS, T_REFS, T_LINE,
};

#define REFS_MAX 8192

/* make_text - s, in place, as valid UTF-8 without control characters:
 * a control becomes a blank, a byte that is no UTF-8 (a character cut at
 * the end, say) '?'. */
static void
make_text(char *s)
{
	size_t n = strlen(s), i = 0;

	while (i < n) {
		uint32_t cp;
		size_t l = utf8_char((const unsigned char *)s + i, n - i, &cp);

		if (l == 0) {
			s[i++] = '?';
			continue;
		}
		if (utf8_control(cp))
			memset(s + i, ' ', l);
		i += l;
	}
}

void
mailreq_add_line(struct mailreq *r, const char *fmt, ...)
{
	char line[MAILREQ_LINE_MAX + 1];
	va_list ap;

	if (r->nlines > MAILREQ_LINES_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	make_text(line);
	if (r->nlines == MAILREQ_LINES_MAX)
		snprintf(line, sizeof line, "... and more (an ADD reply lists at "
			 "most %d)", MAILREQ_LINES_MAX);
	r->lines = xreallocarray(r->lines, r->nlines + 1, sizeof *r->lines);
	r->lines[r->nlines++] = xstrdup(line);
}

void
mailreq_set_references(struct mailreq *r, const char *refs)
{
	free(r->references);
	r->references = NULL;
	if (refs == NULL)
		return;
	r->references = xstrndup(refs, REFS_MAX - 1);
	/* Message-IDs are printable ASCII: anything else goes. */
	for (char *p = r->references; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			*p = ' ';
}

void
mailreq_encode(const struct mailreq *r, struct buf *out)
{
	const struct mailcmd *c = &r->cmd;
	struct buf rec = BUF_INIT;

	rec_begin(&rec);
	rec_put_u64(&rec, T_KIND, (uint64_t)c->kind);
	rec_put_str(&rec, T_NAME, c->name);
	rec_put_u64(&rec, T_SEARCH_KIND, (uint64_t)c->search_kind);
	rec_put_str(&rec, T_SEARCH, c->search);
	rec_put_u64(&rec, T_DAYS, c->days);
	rec_put_str(&rec, T_LANG, c->lang);
	rec_put_str(&rec, T_REASON, c->reason);
	rec_put_u64(&rec, T_LOOKS, (uint64_t)c->looks_like_command);
	rec_put_str(&rec, T_REFS, r->references);
	for (size_t i = 0; i < r->nlines; i++)
		rec_put_str(&rec, T_LINE, r->lines[i]);
	buf_append(out, rec.data, rec.len);
	buf_free(&rec);
}

/* text_ok - n bytes of valid UTF-8 without control characters, shorter
 * than size (so that it fits its field with the NUL). */
static int
text_ok(const unsigned char *v, uint32_t n, size_t size)
{
	size_t i = 0;

	if (n >= size)
		return 0;
	while (i < n) {
		uint32_t cp;
		size_t l = utf8_char(v + i, n - i, &cp);

		if (l == 0 || utf8_control(cp))
			return 0;
		i += l;
	}
	return 1;
}

static int
put_field(char *field, size_t size, const unsigned char *v, uint32_t n)
{
	if (!text_ok(v, n, size))
		return -1;
	memcpy(field, v, n);
	field[n] = '\0';
	return 0;
}

int
mailreq_decode(const void *data, size_t len, struct mailreq *r,
	       struct pb_err *err)
{
	struct mailcmd *c = &r->cmd;
	struct rec_reader rd;
	const unsigned char *v;
	uint32_t n;
	uint8_t tag;
	uint64_t u;
	int rc;

	memset(r, 0, sizeof *r);
	if (rec_open(&rd, data, len) != 0)
		goto bad;
	while ((rc = rec_next(&rd, &tag, &v, &n)) == 1) {
		switch (tag) {
		case T_KIND:
			if (rec_get_u64(v, n, &u) || u > MAILCMD_TOO_LONG)
				goto bad;
			c->kind = (enum mailcmd_kind)u;
			break;
		case T_SEARCH_KIND:
			if (rec_get_u64(v, n, &u) || u > MAILCMD_SEARCH_BAD_ID)
				goto bad;
			c->search_kind = (enum mailcmd_search_kind)u;
			break;
		case T_DAYS:
			if (rec_get_u64(v, n, &u) || u > 999999999)
				goto bad;
			c->days = (uint32_t)u;
			break;
		case T_LOOKS:
			if (rec_get_u64(v, n, &u) || u > 1)
				goto bad;
			c->looks_like_command = (int)u;
			break;
		case T_NAME:
			if (put_field(c->name, sizeof c->name, v, n) != 0)
				goto bad;
			break;
		case T_SEARCH:
			if (put_field(c->search, sizeof c->search, v, n) != 0)
				goto bad;
			break;
		case T_LANG:
			if (put_field(c->lang, sizeof c->lang, v, n) != 0)
				goto bad;
			break;
		case T_REASON:
			if (put_field(c->reason, sizeof c->reason, v, n) != 0)
				goto bad;
			break;
		case T_REFS:
			if (r->references || !text_ok(v, n, REFS_MAX))
				goto bad;
			r->references = xstrndup((const char *)v, n);
			break;
		case T_LINE:
			if (r->nlines > MAILREQ_LINES_MAX ||
			    !text_ok(v, n, MAILREQ_LINE_MAX + 1))
				goto bad;
			r->lines = xreallocarray(r->lines, r->nlines + 1,
						 sizeof *r->lines);
			r->lines[r->nlines++] = xstrndup((const char *)v, n);
			break;
		default:
			break;	/* a field from a newer version */
		}
	}
	if (rc < 0)
		goto bad;
	return 0;
bad:
	mailreq_free(r);
	return pb_err_set(err, PB_EDATA, "damaged request record");
}

void
mailreq_free(struct mailreq *r)
{
	free(r->references);
	for (size_t i = 0; i < r->nlines; i++)
		free(r->lines[i]);
	free(r->lines);
	memset(r, 0, sizeof *r);
}
