/*
 * mailcmd.c - the PKS mail command in a request's Subject (see mailcmd.h).
 *
 * RFC 2047 decoding is libetpan's (it knows the charsets, through
 * iconv), on a prefix of bounded length; what it returns is then made
 * safe here whatever it contains, because its output for malformed words
 * is not specified: it can hold CR, LF and NUL (a NUL ends the string
 * early, which only loses text), and bytes that are not UTF-8.
 */
#include "mail/mailcmd.h"
#include "util/log.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <libetpan/libetpan.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static char
upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* sanitize - s[0..n) as valid UTF-8 without control characters, blanks
 * trimmed, appended to a fresh string (caller frees).  An invalid byte
 * becomes '?', a control character (an encoded CR or LF among them) a
 * space, so that nothing decoded can start a header line. */
static char *
sanitize(const unsigned char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t i = 0, o = 0, start = 0;

	while (i < n) {
		uint32_t cp;
		size_t l = utf8_char(s + i, n - i, &cp);

		if (l == 0) {
			out[o++] = '?';
			i++;
		} else if (utf8_control(cp)) {
			out[o++] = ' ';
			i += l;
		} else {
			memcpy(out + o, s + i, l);
			o += l;
			i += l;
		}
	}
	while (o > 0 && is_blank(out[o - 1]))
		o--;
	while (start < o && is_blank(out[start]))
		start++;
	memmove(out, out + start, o - start);
	out[o - start] = '\0';
	return out;
}

char *
mailcmd_decode_subject(const char *raw, int *too_long_r)
{
	size_t n, idx = 0;
	char *dec = NULL, *out, *prefix;
	int r;

	if (too_long_r)
		*too_long_r = 0;
	if (raw == NULL)
		return xstrdup("");
	n = strnlen(raw, MAILCMD_SUBJECT_MAX + 1);
	if (n > MAILCMD_SUBJECT_MAX) {
		if (too_long_r)
			*too_long_r = 1;
		n = MAILCMD_SUBJECT_MAX;
	}
	/* Without an encoded word the text is taken as it is: libetpan
	 * would push raw 8-bit bytes through iconv and drop what is not
	 * UTF-8, where '?' shows that something was there. */
	if (memmem(raw, n, "=?", 2) == NULL)
		return sanitize((const unsigned char *)raw, n);
	prefix = xstrndup(raw, n);
	r = mailmime_encoded_phrase_parse("utf-8", prefix, n, &idx, "utf-8",
					  &dec);
	if (r == MAILIMF_ERROR_MEMORY)
		log_fatal(PB_EOS, "out of memory decoding a Subject");
	if (r == MAILIMF_NO_ERROR && dec != NULL)
		out = sanitize((const unsigned char *)dec, strlen(dec));
	else
		out = sanitize((const unsigned char *)prefix, n);
	free(dec);
	free(prefix);
	return out;
}

/* A word of the Subject: [p, p + len). */
struct word {
	const char *p;
	size_t len;
};

static const char *
skip_blanks(const char *s)
{
	while (*s && is_blank(*s))
		s++;
	return s;
}

/* next_word - the word at s (after blanks); returns the rest after it. */
static const char *
next_word(const char *s, struct word *w)
{
	s = skip_blanks(s);
	w->p = s;
	while (*s && !is_blank(*s))
		s++;
	w->len = (size_t)(s - w->p);
	return s;
}

static int
word_is(const struct word *w, const char *kw)
{
	size_t n = strlen(kw);

	return w->len == n && strncasecmp(w->p, kw, n) == 0;
}

static int
command_word(const struct word *w)
{
	static const char *const words[] = {
		"HELP", "ADD", "INCREMENTAL", "GET", "INDEX", "VERBOSE",
		"LAST", "MGET", "STATUS", "VINDEX", NULL,
	};

	for (size_t i = 0; words[i]; i++)
		if (word_is(w, words[i]))
			return 1;
	return 0;
}

/* utf8_prefix - how many bytes of s[0..n) to keep so that at most max
 * bytes remain and no UTF-8 sequence is cut (s is valid UTF-8). */
static size_t
utf8_prefix(const char *s, size_t n, size_t max)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t l = utf8_char((const unsigned char *)s + i, n - i, &cp);

		if (l == 0)
			l = 1;
		if (i + l > max)
			break;
		i += l;
	}
	return i;
}

static void
set_reason(struct mailcmd *c, enum mailcmd_kind kind, const char *why)
{
	c->kind = kind;
	snprintf(c->reason, sizeof c->reason, "%s", why);
}

/* set_name - cmd->name from a word: printable ASCII, upper-cased. */
static void
set_name(struct mailcmd *c, const struct word *w)
{
	size_t o = 0;

	for (size_t i = 0; i < w->len && o < sizeof c->name - 1; i++) {
		char ch = w->p[i];

		if (ch < 0x21 || ch > 0x7e)
			break;
		c->name[o++] = upper(ch);
	}
	c->name[o] = '\0';
}

/* classify_search - rest (trimmed, non-empty) as the search of c. */
static void
classify_search(struct mailcmd *c, const char *rest, size_t n)
{
	size_t hex = 0, o = 0;

	if (n >= 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X')) {
		while (2 + hex < n && is_hex(rest[2 + hex]))
			hex++;
		if (2 + hex == n && (hex == 8 || hex == 16 || hex == 40 ||
				     hex == 64)) {
			c->search_kind = hex == 8 ? MAILCMD_SEARCH_KEYID32 :
					 hex == 16 ? MAILCMD_SEARCH_KEYID64 :
					 hex == 40 ? MAILCMD_SEARCH_FPR_V4 :
						     MAILCMD_SEARCH_FPR_V5;
			c->search[0] = '0';
			c->search[1] = 'x';
			for (size_t i = 0; i < hex; i++)
				c->search[2 + i] = upper(rest[2 + i]);
			c->search[2 + hex] = '\0';
			return;
		}
		c->search_kind = MAILCMD_SEARCH_BAD_ID;
		n = utf8_prefix(rest, n, MAILCMD_SEARCH_MAX);
		for (size_t i = 0; i < n; i++)
			c->search[i] = rest[i] == '\t' ? ' ' : rest[i];
		c->search[n] = '\0';
		snprintf(c->reason, sizeof c->reason, "not a key ID: \"0x\" must "
			 "be followed by 8, 16, 40 or 64 hex digits and nothing "
			 "else");
		c->kind = MAILCMD_BAD_ARG;
		return;
	}
	/* Text: blank runs become one space; the bound is on the result,
	 * and a character that would cross it is not taken in part. */
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l;

		if (is_blank(rest[i])) {
			i++;
			if (o > 0 && c->search[o - 1] == ' ')
				continue;
			if (o == MAILCMD_SEARCH_MAX)
				goto too_long;
			c->search[o++] = ' ';
			continue;
		}
		l = utf8_char((const unsigned char *)rest + i, n - i, &cp);
		if (l == 0)
			l = 1;
		if (o + l > MAILCMD_SEARCH_MAX)
			goto too_long;
		memcpy(c->search + o, rest + i, l);
		o += l;
		i += l;
	}
	c->search[o] = '\0';
	c->search_kind = MAILCMD_SEARCH_TEXT;
	return;
too_long:
	c->search[o] = '\0';
	c->search_kind = MAILCMD_SEARCH_TEXT;
	snprintf(c->reason, sizeof c->reason, "search longer than %d bytes",
		 MAILCMD_SEARCH_MAX);
	c->kind = MAILCMD_BAD_ARG;
}

/* trimmed - the rest of the Subject without surrounding blanks. */
static const char *
trimmed(const char *rest, size_t *n_r)
{
	size_t n;

	rest = skip_blanks(rest);
	n = strlen(rest);
	while (n > 0 && is_blank(rest[n - 1]))
		n--;
	*n_r = n;
	return rest;
}

static void
parse_search_command(struct mailcmd *c, const char *rest)
{
	size_t n;
	const char *s = trimmed(rest, &n);

	if (n == 0) {
		snprintf(c->reason, sizeof c->reason, "%s needs a search: a key "
			 "ID such as 0x1234ABCD, or words of a user ID", c->name);
		c->kind = MAILCMD_BAD_ARG;
		return;
	}
	classify_search(c, s, n);
}

static void
parse_last(struct mailcmd *c, const char *rest)
{
	size_t n;
	const char *s = trimmed(rest, &n);
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= MAILCMD_DAYS_DIGITS) {
			v = 0;
			break;
		}
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (n == 0 || v == 0) {
		set_reason(c, MAILCMD_BAD_ARG, "LAST needs a number of days "
			   "greater than zero (at most 9 digits)");
		return;
	}
	c->days = v;
}

/* parse_lang - an optional language tag after HELP; anything that is
 * not one is ignored (the default help is still the right answer). */
static void
parse_lang(struct mailcmd *c, const char *rest)
{
	size_t n, i = 0, head = 0, tail = 0;
	const char *s = trimmed(rest, &n);

	while (i < n && ((s[i] >= 'a' && s[i] <= 'z') ||
			 (s[i] >= 'A' && s[i] <= 'Z'))) {
		i++;
		head++;
	}
	if (i < n && s[i] == '-') {
		i++;
		while (i < n && ((s[i] >= 'a' && s[i] <= 'z') ||
				 (s[i] >= 'A' && s[i] <= 'Z') ||
				 (s[i] >= '0' && s[i] <= '9'))) {
			i++;
			tail++;
		}
		if (tail == 0 || tail > 8)
			return;
	}
	if (i != n || head < 2 || head > 8)
		return;
	for (i = 0; i < n; i++)
		c->lang[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a')
							  : s[i];
	c->lang[n] = '\0';
}

void
mailcmd_parse(const char *subject, struct mailcmd *c)
{
	struct word w, w2;
	const char *rest;

	memset(c, 0, sizeof *c);
	if (subject == NULL || *skip_blanks(subject) == '\0') {
		c->kind = MAILCMD_NONE;
		return;
	}
	rest = next_word(subject, &w);
	c->looks_like_command = command_word(&w);
	set_name(c, &w);
	if (word_is(&w, "HELP")) {
		c->kind = MAILCMD_HELP;
		parse_lang(c, rest);
	} else if (word_is(&w, "ADD")) {
		c->kind = MAILCMD_ADD;	/* trailing words ignored, as inbound does */
	} else if (word_is(&w, "INCREMENTAL")) {
		c->kind = MAILCMD_INCREMENTAL;
	} else if (word_is(&w, "GET")) {
		c->kind = MAILCMD_GET;
		parse_search_command(c, rest);
	} else if (word_is(&w, "INDEX")) {
		c->kind = MAILCMD_INDEX;
		parse_search_command(c, rest);
	} else if (word_is(&w, "VERBOSE")) {
		rest = next_word(rest, &w2);
		if (!word_is(&w2, "INDEX")) {
			set_reason(c, MAILCMD_UNKNOWN, "VERBOSE must be followed "
				   "by INDEX");
			return;
		}
		c->kind = MAILCMD_VINDEX;
		snprintf(c->name, sizeof c->name, "VERBOSE INDEX");
		parse_search_command(c, rest);
	} else if (word_is(&w, "LAST")) {
		c->kind = MAILCMD_LAST;
		parse_last(c, rest);
	} else {
		char why[sizeof c->reason];

		if (c->name[0])
			snprintf(why, sizeof why, "%s is not a command of this "
				 "keyserver", c->name);
		else
			snprintf(why, sizeof why, "the Subject is not a command "
				 "of this keyserver");
		set_reason(c, MAILCMD_UNKNOWN, why);
	}
}

void
mailcmd_from_raw(const char *raw_subject, struct mailcmd *cmd)
{
	int too_long;
	char *s = mailcmd_decode_subject(raw_subject, &too_long);

	mailcmd_parse(s, cmd);
	free(s);
	if (too_long) {
		int looks = cmd->looks_like_command;

		memset(cmd, 0, sizeof *cmd);
		cmd->looks_like_command = looks;
		snprintf(cmd->reason, sizeof cmd->reason, "Subject longer than "
			 "%d bytes", MAILCMD_SUBJECT_MAX);
		cmd->kind = MAILCMD_TOO_LONG;
	}
}

int
mailcmd_answered(const struct mailcmd *cmd)
{
	return cmd->kind != MAILCMD_NONE && cmd->kind != MAILCMD_INCREMENTAL;
}

const char *
mailcmd_kind_name(enum mailcmd_kind kind)
{
	switch (kind) {
	case MAILCMD_NONE: return "none";
	case MAILCMD_HELP: return "help";
	case MAILCMD_ADD: return "add";
	case MAILCMD_INCREMENTAL: return "incremental";
	case MAILCMD_GET: return "get";
	case MAILCMD_INDEX: return "index";
	case MAILCMD_VINDEX: return "vindex";
	case MAILCMD_LAST: return "last";
	case MAILCMD_UNKNOWN: return "unknown";
	case MAILCMD_BAD_ARG: return "bad-argument";
	case MAILCMD_TOO_LONG: return "too-long";
	}
	return "?";
}
