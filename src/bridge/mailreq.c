/*
 * mailreq.c - a mail command as the queue keeps it (see mailreq.h).
 */
#include "bridge/mailreq.h"
#include "spool/record.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	T_KIND = 1, T_NAME, T_SEARCH_KIND, T_SEARCH, T_DAYS, T_LANG,
	T_REASON, T_LOOKS, T_REFS,
	T_LINE,		/* a reply line, as an older pksbridge wrote them */
	T_FACT, T_MORE_FACTS,
};

/* A fact's fields, inside its T_FACT value (a record of its own). */
enum {
	F_KIND = 1, F_FPR, F_UID, F_UIDS, F_SUBKEYS, F_SIGS, F_OTHER, F_WHY,
};

#define REFS_MAX 8192

/* text_copy - s (may be NULL) cut at MAILREQ_TEXT_MAX bytes, made text. */
static char *
text_copy(const char *s)
{
	char *t;

	if (!s)
		return NULL;
	t = xstrndup(s, MAILREQ_TEXT_MAX);
	utf8_make_text(t);
	return t;
}

void
mailreq_add_fact(struct mailreq *r, const struct mailreq_fact *f)
{
	struct mailreq_fact *c;

	if (r->nfacts >= MAILREQ_FACTS_MAX) {
		r->more_facts = 1;
		return;
	}
	r->facts = xreallocarray(r->facts, r->nfacts + 1, sizeof *r->facts);
	c = &r->facts[r->nfacts++];
	*c = *f;
	c->uid = text_copy(f->uid);
	c->why = text_copy(f->why);
}

struct mailreq_fact
mailreq_key_fact(enum mailreq_fact_kind kind, const struct pgp_key *key)
{
	struct mailreq_fact f;

	memset(&f, 0, sizeof f);
	f.kind = kind;
	snprintf(f.fpr, sizeof f.fpr, "%s", key->fpr_hex);
	f.uid = key->uid;
	return f;
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

static void
encode_fact(const struct mailreq_fact *f, struct buf *rec)
{
	struct buf b = BUF_INIT;

	rec_begin(&b);
	rec_put_u64(&b, F_KIND, (uint64_t)f->kind);
	if (f->fpr[0])
		rec_put_str(&b, F_FPR, f->fpr);
	rec_put_str(&b, F_UID, f->uid);
	rec_put_u64(&b, F_UIDS, f->uids);
	rec_put_u64(&b, F_SUBKEYS, f->subkeys);
	rec_put_u64(&b, F_SIGS, f->sigs);
	rec_put_u64(&b, F_OTHER, f->other);
	rec_put_str(&b, F_WHY, f->why);
	rec_put_bytes(rec, T_FACT, b.data, b.len);
	buf_free(&b);
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
	for (size_t i = 0; i < r->nfacts; i++)
		encode_fact(&r->facts[i], &rec);
	if (r->more_facts)
		rec_put_u64(&rec, T_MORE_FACTS, 1);
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

/* count - a fact's count field. */
static int
count(const unsigned char *v, uint32_t n, uint32_t *out)
{
	uint64_t u;

	if (rec_get_u64(v, n, &u) || u > UINT32_MAX)
		return -1;
	*out = (uint32_t)u;
	return 0;
}

/* text_field - a fact's uid or why: valid text, at most
 * MAILREQ_TEXT_MAX bytes, once. */
static int
text_field(char **field, const unsigned char *v, uint32_t n)
{
	if (*field || !text_ok(v, n, MAILREQ_TEXT_MAX + 1))
		return -1;
	*field = xstrndup((const char *)v, n);
	return 0;
}

/* fact_field - one field of a fact into f; -1 if it breaks a bound. */
static int
fact_field(struct mailreq_fact *f, uint8_t tag, const unsigned char *v,
	   uint32_t n)
{
	uint64_t u;

	switch (tag) {
	case F_KIND:
		if (rec_get_u64(v, n, &u) || u == 0 || u >= MAILREQ__KINDS)
			return -1;
		f->kind = (enum mailreq_fact_kind)u;
		return 0;
	case F_FPR:
		if (n >= sizeof f->fpr || memchr(v, '\0', n))
			return -1;
		memcpy(f->fpr, v, n);
		f->fpr[n] = '\0';
		for (uint32_t i = 0; i < n; i++)
			if (!strchr("0123456789ABCDEF", f->fpr[i]))
				return -1;
		return 0;
	case F_UID: return text_field(&f->uid, v, n);
	case F_WHY: return text_field(&f->why, v, n);
	case F_UIDS: return count(v, n, &f->uids);
	case F_SUBKEYS: return count(v, n, &f->subkeys);
	case F_SIGS: return count(v, n, &f->sigs);
	case F_OTHER: return count(v, n, &f->other);
	default: return 0;	/* a field from a newer version */
	}
}

/* decode_fact - a T_FACT value appended to r's facts. */
static int
decode_fact(struct mailreq *r, const unsigned char *data, uint32_t len)
{
	struct mailreq_fact f;
	struct rec_reader rd;
	const unsigned char *v;
	uint32_t n;
	uint8_t tag;
	int rc = -1;

	memset(&f, 0, sizeof f);
	if (r->nfacts < MAILREQ_FACTS_MAX && rec_open(&rd, data, len) == 0) {
		while ((rc = rec_next(&rd, &tag, &v, &n)) == 1)
			if (fact_field(&f, tag, v, n) != 0) {
				rc = -1;
				break;
			}
	}
	if (rc == 0 && f.kind != 0) {
		r->facts = xreallocarray(r->facts, r->nfacts + 1,
					 sizeof *r->facts);
		r->facts[r->nfacts++] = f;
		return 0;
	}
	free(f.uid);
	free(f.why);
	return -1;
}

/* req_field - one field of a request record into r; -1 if it breaks a
 * bound. */
static int
req_field(struct mailreq *r, uint8_t tag, const unsigned char *v, uint32_t n)
{
	struct mailcmd *c = &r->cmd;
	uint64_t u;

	switch (tag) {
	case T_KIND:
		if (rec_get_u64(v, n, &u) || u > MAILCMD_KIND_MAX)
			return -1;
		c->kind = (enum mailcmd_kind)u;
		return 0;
	case T_SEARCH_KIND:
		if (rec_get_u64(v, n, &u) || u > MAILCMD_SEARCH_BAD_ID)
			return -1;
		c->search_kind = (enum mailcmd_search_kind)u;
		return 0;
	case T_DAYS:
		if (rec_get_u64(v, n, &u) || u > 999999999)
			return -1;
		c->days = (uint32_t)u;
		return 0;
	case T_LOOKS:
		if (rec_get_u64(v, n, &u) || u > 1)
			return -1;
		c->looks_like_command = (int)u;
		return 0;
	case T_NAME: return put_field(c->name, sizeof c->name, v, n);
	case T_SEARCH: return put_field(c->search, sizeof c->search, v, n);
	case T_LANG: return put_field(c->lang, sizeof c->lang, v, n);
	case T_REASON: return put_field(c->reason, sizeof c->reason, v, n);
	case T_REFS:
		if (r->references || !text_ok(v, n, REFS_MAX))
			return -1;
		r->references = xstrndup((const char *)v, n);
		return 0;
	case T_LINE:
		if (r->nlines > MAILREQ_FACTS_MAX ||
		    !text_ok(v, n, MAILREQ_TEXT_MAX + 1))
			return -1;
		r->lines = xreallocarray(r->lines, r->nlines + 1, sizeof *r->lines);
		r->lines[r->nlines++] = xstrndup((const char *)v, n);
		return 0;
	case T_FACT:
		return decode_fact(r, v, n);
	case T_MORE_FACTS:
		if (rec_get_u64(v, n, &u) || u > 1)
			return -1;
		r->more_facts = (int)u;
		return 0;
	default:
		return 0;	/* a field from a newer version */
	}
}

int
mailreq_decode(const void *data, size_t len, struct mailreq *r,
	       struct pb_err *err)
{
	struct rec_reader rd;
	const unsigned char *v;
	uint32_t n;
	uint8_t tag;
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (rec_open(&rd, data, len) == 0)
		while ((rc = rec_next(&rd, &tag, &v, &n)) == 1)
			if (req_field(r, tag, v, n) != 0) {
				rc = -1;
				break;
			}
	if (rc == 0)
		return 0;
	mailreq_free(r);
	return pb_err_set(err, PB_EDATA, "damaged request record");
}

void
mailreq_free(struct mailreq *r)
{
	for (size_t i = 0; i < r->nfacts; i++) {
		free(r->facts[i].uid);
		free(r->facts[i].why);
	}
	free(r->facts);
	free(r->references);
	for (size_t i = 0; i < r->nlines; i++)
		free(r->lines[i]);
	free(r->lines);
	memset(r, 0, sizeof *r);
}
