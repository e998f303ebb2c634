/*
 * mailparse.c - RFC 5322 headers and the MIME tree of an inbound mail.
 *
 * libetpan does what it does well: Content-Type parameters (boundary),
 * address lists, and undoing base64 (mailmime_part_parse).  The loops around those calls are ours:
 * splitting a header section into fields, and a multipart body at its
 * delimiter lines.  libetpan's mailmime_parse() builds the whole tree at
 * once, recursing once per nesting level with no limit (a mail nested
 * 100,000 deep overflows the stack), rescanning every level's body (5,000
 * levels take 0.6 s), and allocating some 400 bytes per part (100,000
 * tiny parts: 40 MB for a 700 KB mail).  Walking the tree ourselves keeps
 * the stack at MAIL_MAX_MIME_DEPTH frames and memory at the mail plus one
 * decoded part.  Media types and transfer encodings are read here too,
 * because libetpan matches prefixes ("textual/plain" is text/unknown,
 * "base64x" is base64).
 *
 * Everything here reads a mail that nobody vouches for: every scan is
 * bounded by the buffer length (embedded NULs are data), header values
 * handed to libetpan are capped so that a 10 MB header line cannot make
 * it build millions of list nodes, and each kind of problem is reported
 * once per mail so that a hostile mail cannot flood the problem callback.
 */
#include "mail/mailparse.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <libetpan/libetpan.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest prefix of a structured header value given to libetpan.  Real
 * Content-Type and address headers are far shorter; the cap bounds the
 * lists libetpan would allocate for a hostile one. */
#define STRUCTURED_CAP 8192
/* X-KeyServer-Sent addresses kept per mail (the PKS network never had a
 * path this long) and addresses taken from one header. */
#define MAX_KEYSERVER_SENT 1024
#define MAX_ADDRS_PER_HEADER 32
#define MAX_RECIPIENTS 1000	/* To + Cc + Bcc: peers, not a mailing list */
/* Message-IDs are dedup keys: RFC 5322 line length. */
#define MSGID_MAX 995
/* "type/subtype" buffer; longer media types are treated as unparsable. */
#define TYPE_MAX 128

/* ---- header section ------------------------------------------------ */

struct hdr_iter {
	const char *p;
	size_t len;
	size_t pos;		/* start of the next line */
	size_t body;		/* body offset, valid once hdr_next returned 0 */
};

struct hdr_field {
	const char *name;
	size_t name_len;
	const char *value;	/* raw: still folded, no final line break */
	size_t value_len;
};

/* RFC 5322 ftext: printable US-ASCII except the colon. */
static int
is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Separators between bare addresses; a NUL byte is one too. */
static int
is_addr_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' ||
	       c == '\0';
}

static void
hdr_begin(struct hdr_iter *it, const char *p, size_t len)
{
	it->p = p;
	it->len = len;
	it->pos = 0;
	it->body = len;
}

/* hdr_next - the next field of the header section, 1; or 0 at its end,
 * with it->body set.  An empty line ends the section (and is skipped);
 * so does a line that is not a field, which then starts the body, as in
 * Postfix's cleanup: a mail missing its blank line loses no body text. */
static int
hdr_next(struct hdr_iter *it, struct hdr_field *f)
{
	const char *p = it->p;
	size_t len = it->len, pos = it->pos, q, name_end, e, line_end, next;
	const char *nl;

	if (pos >= len) {
		it->body = len;
		return 0;
	}
	if (p[pos] == '\n') {
		it->body = pos + 1;
		return 0;
	}
	if (p[pos] == '\r' && (pos + 1 == len || p[pos + 1] == '\n')) {
		it->body = pos + 1 < len ? pos + 2 : len;
		return 0;
	}
	for (q = pos; q < len && is_ftext((unsigned char)p[q]); q++)
		;
	name_end = q;
	while (q < len && is_wsp(p[q]))	/* obs-optional: "Name :" */
		q++;
	if (name_end == pos || q >= len || p[q] != ':') {
		it->body = pos;
		return 0;
	}
	e = q + 1;
	for (;;) {
		nl = memchr(p + e, '\n', len - e);
		if (nl == NULL) {
			line_end = next = len;
			break;
		}
		line_end = (size_t)(nl - p);
		next = line_end + 1;
		if (next < len && is_wsp(p[next])) {
			e = next;
			continue;
		}
		break;
	}
	if (line_end > q + 1 && p[line_end - 1] == '\r')
		line_end--;
	f->name = p + pos;
	f->name_len = name_end - pos;
	f->value = p + q + 1;
	f->value_len = line_end - (q + 1);
	it->pos = next;
	return 1;
}

static int
name_is(const struct hdr_field *f, const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

/* unfold_dup - the value unfolded (line breaks removed), other control
 * characters turned into spaces, surrounding blanks trimmed; caller frees. */
static char *
unfold_dup(const char *v, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t i, o = 0, start = 0;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)v[i];
		if (c == '\n' || (c == '\r' && i + 1 < n && v[i + 1] == '\n'))
			continue;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			c = ' ';
		out[o++] = (char)c;
	}
	while (o > 0 && is_wsp(out[o - 1]))
		o--;
	while (start < o && is_wsp(out[start]))
		start++;
	memmove(out, out + start, o - start);
	out[o - start] = '\0';
	return out;
}

/* unfold_capped - unfold_dup, then only the first (or, with tail, the
 * last) MAIL_HEADER_KEEP bytes kept. */
static char *
unfold_capped(const char *v, size_t n, int tail)
{
	char *s = unfold_dup(v, n);
	size_t len = strlen(s);

	if (len > MAIL_HEADER_KEEP) {
		if (tail)
			memmove(s, s + len - MAIL_HEADER_KEEP, MAIL_HEADER_KEEP);
		s[MAIL_HEADER_KEEP] = '\0';
	}
	return s;
}

static void
lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* parse_message_id - the id inside <>, or the bare token; NULL unless it
 * is 1..MSGID_MAX printable US-ASCII characters.  It becomes a dedup key
 * and is shown by the queue CLI, so nothing else gets through. */
static char *
parse_message_id(const char *v, size_t n)
{
	size_t i = 0, start, end, k;

	while (i < n && (is_wsp(v[i]) || v[i] == '\r' || v[i] == '\n'))
		i++;
	while (n > i && (is_wsp(v[n - 1]) || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	start = i;
	end = n;
	for (k = i; k < n; k++)
		if (v[k] == '<')
			break;
	if (k < n) {
		start = k + 1;
		for (end = start; end < n && v[end] != '>'; end++)
			;
		if (end == n)
			return NULL;
	}
	if (end == start || end - start > MSGID_MAX)
		return NULL;
	for (k = start; k < end; k++) {
		unsigned char c = (unsigned char)v[k];

		if (c < 0x21 || c > 0x7e || c == '<' || c == '>')
			return NULL;
	}
	return xstrndup(v + start, end - start);
}

/* addr_ok - an address we can compare and show safely: printable
 * US-ASCII, no RFC 5322 specials that only make sense around an
 * address, "local@domain" with both parts present. */
static int
addr_ok(const char *a, size_t n)
{
	size_t i, at = n;

	if (n == 0 || n > 320)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c < 0x21 || c > 0x7e || strchr("<>(),;\"\\", c))
			return 0;
		if (c == '@')
			at = i;
	}
	return at > 0 && at + 1 < n;
}

struct addr_list {
	char **v;
	size_t n;
	size_t max;
};

static void
addr_push(struct addr_list *l, const char *a, size_t n)
{
	char *s;

	if (l->n >= l->max)
		return;
	s = xstrndup(a, n);
	lower_ascii(s);
	l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
	l->v[l->n++] = s;
}

/* simple_addrs - fallback for values libetpan cannot make sense of: the
 * text inside <>, else the first blank-separated token holding an "@". */
static size_t
simple_addrs(const char *v, size_t n, struct addr_list *l)
{
	const char *lt = memchr(v, '<', n), *gt, *tok, *end = v + n;
	size_t tl;

	if (lt != NULL) {
		gt = memchr(lt, '>', (size_t)(end - lt));
		if (gt != NULL && addr_ok(lt + 1, (size_t)(gt - lt - 1))) {
			addr_push(l, lt + 1, (size_t)(gt - lt - 1));
			return 1;
		}
		return 0;
	}
	while (v < end) {
		while (v < end && is_addr_sep(*v))
			v++;
		tok = v;
		while (v < end && !is_addr_sep(*v))
			v++;
		tl = (size_t)(v - tok);
		if (tl > 0 && memchr(tok, '@', tl) && addr_ok(tok, tl)) {
			addr_push(l, tok, tl);
			return 1;
		}
	}
	return 0;
}

/* parse_addrs - the bare addresses of one address header, lower-cased,
 * appended to l (at most max_here of them).  libetpan's parser is
 * lenient to the point of inventing addresses ("a b@c" gives "ab@c"), so
 * an address is kept only if it occurs verbatim in the header. */
static void
parse_addrs(const char *v, size_t n, struct addr_list *l, size_t max_here)
{
	struct mailimf_mailbox_list *mbl = NULL;
	size_t idx = 0, got = 0, cap = n < STRUCTURED_CAP ? n : STRUCTURED_CAP;
	clistiter *c;
	int r;

	if (l->n >= l->max)
		return;
	r = mailimf_mailbox_list_parse(v, cap, &idx, &mbl);
	if (r == MAILIMF_ERROR_MEMORY)
		log_fatal(PB_EOS, "out of memory parsing an address header");
	if (r == MAILIMF_NO_ERROR) {
		for (c = clist_begin(mbl->mb_list); c != NULL && got < max_here;
		     c = clist_next(c)) {
			struct mailimf_mailbox *mb = clist_content(c);
			const char *a = mb->mb_addr_spec;
			size_t al = a ? strlen(a) : 0;

			if (!addr_ok(a, al) || memmem(v, cap, a, al) == NULL)
				continue;
			addr_push(l, a, al);
			got++;
		}
		mailimf_mailbox_list_free(mbl);
	}
	if (got == 0)
		simple_addrs(v, cap, l);
}

/* ---- media types ----------------------------------------------------- */

/* RFC 2045 token character. */
static int
is_token(unsigned char c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* skip_cfws - past blanks, line breaks and (nested) comments. */
static size_t
skip_cfws(const char *v, size_t n, size_t i)
{
	size_t depth = 0;

	while (i < n) {
		char c = v[i];

		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth = 1;
		} else if (!is_wsp(c) && c != '\r' && c != '\n') {
			break;
		}
		i++;
	}
	return i;
}

/* parse_type - "type/subtype" of a Content-Type value, lower-cased, into
 * out[TYPE_MAX]; -1 if it is not one (RFC 2045 5.2: such a field counts
 * as absent).  Done here rather than by libetpan, which reads
 * "textual/plain" as "text/unknown". */
static int
parse_type(const char *v, size_t n, char *out)
{
	size_t i, t0, tl, s0, sl;

	i = skip_cfws(v, n, 0);
	for (t0 = i; i < n && is_token((unsigned char)v[i]); i++)
		;
	tl = i - t0;
	i = skip_cfws(v, n, i);
	if (i >= n || v[i] != '/')
		return -1;
	i = skip_cfws(v, n, i + 1);
	for (s0 = i; i < n && is_token((unsigned char)v[i]); i++)
		;
	sl = i - s0;
	if (tl == 0 || sl == 0 || tl + sl + 2 > TYPE_MAX)
		return -1;
	memcpy(out, v + t0, tl);
	out[tl] = '/';
	memcpy(out + tl + 1, v + s0, sl);
	out[tl + 1 + sl] = '\0';
	lower_ascii(out);
	return 0;
}

/* get_boundary - the boundary parameter of a Content-Type value, or NULL
 * if absent or empty; caller frees. */
static char *
get_boundary(const char *v, size_t n)
{
	struct mailmime_content *ct = NULL;
	size_t idx = 0;
	char *b = NULL;
	int r;

	r = mailmime_content_parse(v, n < STRUCTURED_CAP ? n : STRUCTURED_CAP,
				   &idx, &ct);
	if (r == MAILIMF_ERROR_MEMORY)
		log_fatal(PB_EOS, "out of memory parsing a Content-Type");
	if (r != MAILIMF_NO_ERROR)
		return NULL;
	b = mailmime_extract_boundary(ct);
	mailmime_content_free(ct);
	if (b != NULL && *b == '\0') {
		free(b);
		b = NULL;
	}
	return b;
}

/* Transfer encodings as far as we care. */
enum cte {
	CTE_IDENTITY,		/* absent, 7bit, 8bit, binary */
	CTE_BASE64,
	CTE_QP,
	CTE_UNKNOWN,
};

/* parse_cte - the mechanism of a Content-Transfer-Encoding value; for
 * an unknown one its name, sanitised for a log line, into name[40].
 * Done here: libetpan's mechanism parser rejects the blank after the
 * colon and matches prefixes ("base64x" would be base64). */
static enum cte
parse_cte(const char *v, size_t n, char *name)
{
	size_t i, t0, tl;

	name[0] = '\0';
	if (v == NULL)
		return CTE_IDENTITY;
	i = skip_cfws(v, n, 0);
	for (t0 = i; i < n && is_token((unsigned char)v[i]); i++)
		;
	tl = i - t0;
	if (tl == 0)
		return CTE_IDENTITY;	/* empty: nothing to undo */
	v += t0;
#define IS(word) (tl == sizeof word - 1 && strncasecmp(v, word, tl) == 0)
	if (IS("7bit") || IS("8bit") || IS("binary"))
		return CTE_IDENTITY;
	if (IS("base64"))
		return CTE_BASE64;
	if (IS("quoted-printable"))
		return CTE_QP;
#undef IS
	if (tl > 39)
		tl = 39;
	memcpy(name, v, tl);	/* token characters: printable, no quote */
	name[tl] = '\0';
	return CTE_UNKNOWN;
}

/* ---- the walk -------------------------------------------------------- */

enum problem {
	PR_TOO_DEEP,
	PR_NO_BOUNDARY,
	PR_NO_DELIMITER,
	PR_BAD_BASE64,
	PR_UNKNOWN_CTE,
	PR_ENCODED_MESSAGE,
};

struct walk {
	mail_part_cb part_cb;
	mail_problem_cb problem_cb;
	void *ctx;
	unsigned reported;	/* bit per enum problem already reported */
};

static void problem(struct walk *w, enum problem kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* problem - report one kind of problem, once per mail. */
static void
problem(struct walk *w, enum problem kind, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	if (w->reported & (1u << kind))
		return;
	w->reported |= 1u << kind;
	if (w->problem_cb == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	w->problem_cb(w->ctx, reason);
}

static int
hand(struct walk *w, const char *type, const char *data, size_t len)
{
	if (len == 0)
		return 0;
	return w->part_cb(w->ctx, type, data, len);
}

static int
base64_clean(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/' ||
		      c == '=' || c == ' ' || c == '\t' || c == '\r' ||
		      c == '\n'))
			return 0;
	}
	return 1;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* line_end_at - length of the line break at in[i] (LF or CRLF), or 0. */
static size_t
line_end_at(const char *in, size_t n, size_t i)
{
	if (i < n && in[i] == '\n')
		return 1;
	if (i + 1 < n && in[i] == '\r' && in[i + 1] == '\n')
		return 2;
	return 0;
}

/* qp_decode - RFC 2045 6.7 quoted-printable into out (room for n bytes:
 * decoding never grows); returns the decoded length.  Line breaks are
 * kept as they are, blanks before them dropped (transport padding),
 * malformed "=" sequences kept literally.  Not libetpan's decoder: it
 * turns every LF into CRLF, so 16 MB of short lines decode to 32 MB. */
static size_t
qp_decode(const char *in, size_t n, char *out)
{
	size_t i = 0, o = 0, j, le;
	int hi, lo;

	while (i < n) {
		if (in[i] == '=') {
			if (i + 2 < n && (hi = hex_value(in[i + 1])) >= 0 &&
			    (lo = hex_value(in[i + 2])) >= 0) {
				out[o++] = (char)(hi << 4 | lo);
				i += 3;
				continue;
			}
			/* "=", optional blanks, line end: a soft line break */
			for (j = i + 1; j < n && is_wsp(in[j]); j++)
				;
			le = j == n ? 0 : line_end_at(in, n, j);
			if (j + 1 == n && in[j] == '\r')
				le = 1;
			if (j == n || le > 0) {
				i = j + le;
				continue;
			}
			out[o++] = in[i++];
			continue;
		}
		if (is_wsp(in[i])) {
			for (j = i; j < n && is_wsp(in[j]); j++)
				;
			if (j < n && line_end_at(in, n, j) == 0) {
				memcpy(out + o, in + i, j - i);
				o += j - i;
			}
			i = j;
			continue;
		}
		out[o++] = in[i++];
	}
	return o;
}

/* decode_and_hand - undo the transfer encoding of a leaf and hand it
 * over; the decoded copy lives only for the callback. */
static int
decode_and_hand(struct walk *w, const char *type, const char *body,
		size_t blen, enum cte cte, const char *cte_name)
{
	char *dec = NULL;
	size_t idx = 0, dlen = 0;
	int r, rc, clean = 1;

	switch (cte) {
	case CTE_IDENTITY:
		return hand(w, type, body, blen);
	case CTE_UNKNOWN:
		problem(w, PR_UNKNOWN_CTE, "unknown Content-Transfer-Encoding "
			"\"%s\"; part scanned undecoded", cte_name);
		return hand(w, type, body, blen);
	case CTE_QP:
		dec = xmalloc(blen + 1);
		dlen = qp_decode(body, blen, dec);
		rc = hand(w, type, dec, dlen);
		free(dec);
		return rc;
	case CTE_BASE64:
	default:
		break;
	}
	clean = base64_clean(body, blen);
	r = mailmime_part_parse(body, blen, &idx, MAILMIME_MECHANISM_BASE64,
				&dec, &dlen);
	if (r != MAILIMF_NO_ERROR)	/* the decoder fails only on memory */
		log_fatal(PB_EOS, "out of memory decoding a %zu byte MIME part",
			  blen);
	rc = hand(w, type, dec, dlen);
	mailmime_decoded_part_free(dec);
	if (rc == 0 && !clean) {
		/* Not base64 after all, perhaps armor under a wrong label:
		 * let the armor scanner see the text as it is. */
		problem(w, PR_BAD_BASE64, "invalid characters in a base64 MIME "
			"part; part also scanned undecoded");
		rc = hand(w, "text/plain", body, blen);
	}
	return rc;
}

/* wanted - leaf types that can carry keys (see mailparse.h). */
static int
wanted(const char *type)
{
	return strncmp(type, "text/", 5) == 0 ||
	       strcmp(type, "application/pgp-keys") == 0 ||
	       strcmp(type, "application/pgp") == 0 ||
	       strcmp(type, "application/octet-stream") == 0;
}

static int walk_entity(struct walk *w, const char *p, size_t n,
		       unsigned depth, int in_digest);

/* find_delimiter - the next boundary delimiter line at or after pos (a
 * line start): RFC 2046 "--" boundary, then blanks up to the line end,
 * or "--" boundary "--" for the close delimiter.  A line merely starting
 * with "--" boundary followed by more text is part content. */
static int
find_delimiter(const char *b, size_t n, size_t pos, const char *bd,
	       size_t bdlen, size_t *line_r, size_t *next_r, int *close_r)
{
	const char *nl;
	size_t eol, q;

	while (pos < n) {
		nl = memchr(b + pos, '\n', n - pos);
		eol = nl ? (size_t)(nl - b) : n;
		if (eol - pos >= 2 + bdlen && b[pos] == '-' && b[pos + 1] == '-' &&
		    memcmp(b + pos + 2, bd, bdlen) == 0) {
			q = pos + 2 + bdlen;
			if (eol - q >= 2 && b[q] == '-' && b[q + 1] == '-') {
				*close_r = 1;
			} else {
				while (q < eol && is_wsp(b[q]))
					q++;
				if (q < eol && b[q] == '\r' && q + 1 == eol)
					q++;
				*close_r = 0;
			}
			if (*close_r || q == eol) {
				*line_r = pos;
				*next_r = nl ? eol + 1 : n;
				return 1;
			}
		}
		pos = nl ? eol + 1 : n;
	}
	return 0;
}

/* walk_multipart - every body part between the delimiter lines; the
 * preamble and epilogue are not content (RFC 2046 5.1.1).  A missing
 * close delimiter is tolerated: the last part runs to the end. */
static int
walk_multipart(struct walk *w, const char *subtype, const char *b, size_t n,
	       const char *bd, unsigned depth)
{
	size_t bdlen = strlen(bd), start, line, next, end;
	int close = 0, found, rc, digest = strcmp(subtype, "digest") == 0;

	if (!find_delimiter(b, n, 0, bd, bdlen, &line, &next, &close)) {
		if (n == 0)
			return 0;
		problem(w, PR_NO_DELIMITER, "multipart/%s body has no boundary "
			"delimiter line; body scanned as plain text", subtype);
		return hand(w, "text/plain", b, n);
	}
	while (!close) {
		start = next;
		found = find_delimiter(b, n, start, bd, bdlen, &line, &next,
				       &close);
		end = n;
		if (found) {
			/* The line break before a delimiter belongs to it. */
			end = line;
			if (end > start && b[end - 1] == '\n')
				end--;
			if (end > start && b[end - 1] == '\r')
				end--;
		}
		rc = walk_entity(w, b + start, end - start, depth + 1, digest);
		if (rc != 0)
			return rc;
		if (!found)
			break;
	}
	return 0;
}

/* too_deep - a container at the depth limit: not parsed, but its raw
 * body still goes to the armor scanner. */
static int
too_deep(struct walk *w, const char *body, size_t blen)
{
	problem(w, PR_TOO_DEEP, "MIME nested deeper than %d levels",
		MAIL_MAX_MIME_DEPTH);
	return hand(w, "text/plain", body, blen);
}

/* walk_entity - one entity (header section + body) at depth levels
 * below the top: descend into containers, hand wanted leaves over.
 * Recursion is bounded by MAIL_MAX_MIME_DEPTH. */
static int
walk_entity(struct walk *w, const char *p, size_t n, unsigned depth,
	    int in_digest)
{
	struct hdr_iter it;
	struct hdr_field f;
	const char *ct = NULL, *te = NULL, *body;
	size_t ct_len = 0, te_len = 0, blen;
	char type[TYPE_MAX], cte_name[40], *bd;
	enum cte cte;
	int rc;

	hdr_begin(&it, p, n);
	while (hdr_next(&it, &f)) {
		if (ct == NULL && name_is(&f, "Content-Type")) {
			ct = f.value;
			ct_len = f.value_len;
		} else if (te == NULL &&
			   name_is(&f, "Content-Transfer-Encoding")) {
			te = f.value;
			te_len = f.value_len;
		}
	}
	body = p + it.body;
	blen = n - it.body;
	if (ct == NULL || parse_type(ct, ct_len, type) != 0)
		strcpy(type, in_digest ? "message/rfc822" : "text/plain");

	if (strncmp(type, "multipart/", 10) == 0) {
		/* A transfer encoding on a multipart is illegal (RFC 2045
		 * 6.4) and ignored, as every MUA does. */
		if (depth >= MAIL_MAX_MIME_DEPTH)
			return too_deep(w, body, blen);
		bd = ct ? get_boundary(ct, ct_len) : NULL;
		if (bd == NULL) {
			problem(w, PR_NO_BOUNDARY, "%s without a boundary "
				"parameter; body scanned as plain text", type);
			return hand(w, "text/plain", body, blen);
		}
		rc = walk_multipart(w, type + 10, body, blen, bd, depth);
		free(bd);
		return rc;
	}
	cte = parse_cte(te, te_len, cte_name);
	if (strcmp(type, "message/rfc822") == 0 ||
	    strcmp(type, "message/global") == 0) {
		if (cte == CTE_BASE64 || cte == CTE_QP) {
			/* Illegal for message/rfc822; decoding it and walking
			 * the copy would stack decoded copies per level. */
			problem(w, PR_ENCODED_MESSAGE, "%s-encoded %s part "
				"scanned as plain text, not parsed",
				cte == CTE_BASE64 ? "base64" : "quoted-printable",
				type);
			return decode_and_hand(w, "text/plain", body, blen, cte,
					       cte_name);
		}
		if (depth >= MAIL_MAX_MIME_DEPTH)
			return too_deep(w, body, blen);
		return walk_entity(w, body, blen, depth + 1, 0);
	}
	if (!wanted(type))
		return 0;
	return decode_and_hand(w, type, body, blen, cte, cte_name);
}

/* ---- public interface ----------------------------------------------- */

size_t
mail_skip_from_line(const char *msg, size_t len)
{
	const char *nl;
	size_t i;

	if (len < 5 || memcmp(msg, "From ", 5) != 0)
		return 0;
	/* "From :" would be an (obsolete-syntax) header field. */
	for (i = 4; i < len && is_wsp(msg[i]); i++)
		;
	if (i < len && msg[i] == ':')
		return 0;
	nl = memchr(msg, '\n', len);
	return nl ? (size_t)(nl - msg) + 1 : len;
}

int
mail_parse_headers(const char *msg, size_t len, struct mail_headers *h,
		   struct pb_err *err)
{
	struct addr_list ks = { NULL, 0, MAX_KEYSERVER_SENT };
	struct addr_list from = { NULL, 0, 1 };
	struct addr_list rcpt = { NULL, 0, MAX_RECIPIENTS };
	struct hdr_iter it;
	struct hdr_field f;
	char type[TYPE_MAX];
	size_t off = mail_skip_from_line(msg, len);
	int have_subject = 0, have_msgid = 0, have_from = 0, have_ct = 0;

	memset(h, 0, sizeof *h);
	pb_err_clear(err);
	if (off > 5) {
		size_t e = off;

		while (e > 5 && (msg[e - 1] == '\n' || msg[e - 1] == '\r'))
			e--;
		h->from_line = unfold_capped(msg + 5, e - 5, 0);
	}
	hdr_begin(&it, msg + off, len - off);
	while (hdr_next(&it, &f)) {
		/* The reply's facts: the first of each, as the MTA put its
		 * Return-Path first. */
		char **first = name_is(&f, "Return-Path") ? &h->return_path :
			       name_is(&f, "Auto-Submitted") ? &h->auto_submitted :
			       name_is(&f, "Precedence") ? &h->precedence :
			       name_is(&f, "X-Auto-Response-Suppress") ?
			       &h->auto_response_suppress :
			       name_is(&f, "References") ? &h->references : NULL;

		if (f.name_len >= 5 && strncasecmp(f.name, "List-", 5) == 0)
			h->has_list_header = 1;
		if (first) {
			if (*first == NULL)
				*first = unfold_capped(f.value, f.value_len,
						       first == &h->references);
		} else if (!have_subject && name_is(&f, "Subject")) {
			have_subject = 1;
			h->subject = unfold_dup(f.value, f.value_len);
		} else if (!have_msgid && name_is(&f, "Message-ID")) {
			have_msgid = 1;
			h->message_id = parse_message_id(f.value, f.value_len);
		} else if (!have_from && name_is(&f, "From")) {
			have_from = 1;
			parse_addrs(f.value, f.value_len, &from, 1);
		} else if (name_is(&f, "X-KeyServer-Sent")) {
			parse_addrs(f.value, f.value_len, &ks,
				    MAX_ADDRS_PER_HEADER);
		} else if (name_is(&f, "To") || name_is(&f, "Cc") ||
			   name_is(&f, "Bcc")) {
			parse_addrs(f.value, f.value_len, &rcpt, MAX_RECIPIENTS);
		} else if (!have_ct && name_is(&f, "Content-Type")) {
			have_ct = 1;
			if (parse_type(f.value, f.value_len, type) == 0)
				h->content_type = xstrdup(type);
		}
	}
	if (from.n > 0) {
		h->from = from.v[0];
		free(from.v);
	}
	h->keyserver_sent = ks.v;
	h->n_keyserver_sent = ks.n;
	h->recipients = rcpt.v;
	h->n_recipients = rcpt.n;
	if (h->content_type == NULL)
		h->content_type = xstrdup("text/plain");
	return 0;
}

int
mail_walk_parts(const char *msg, size_t len, mail_part_cb part_cb,
		mail_problem_cb problem_cb, void *ctx)
{
	struct walk w = { part_cb, problem_cb, ctx, 0 };
	size_t off = mail_skip_from_line(msg, len);

	return walk_entity(&w, msg + off, len - off, 0, 0);
}

void
mail_headers_free(struct mail_headers *h)
{
	size_t i;

	if (h == NULL)
		return;
	free(h->subject);
	free(h->message_id);
	free(h->from);
	for (i = 0; i < h->n_keyserver_sent; i++)
		free(h->keyserver_sent[i]);
	free(h->keyserver_sent);
	for (i = 0; i < h->n_recipients; i++)
		free(h->recipients[i]);
	free(h->recipients);
	free(h->content_type);
	free(h->return_path);
	free(h->from_line);
	free(h->auto_submitted);
	free(h->precedence);
	free(h->auto_response_suppress);
	free(h->references);
	memset(h, 0, sizeof *h);
}
