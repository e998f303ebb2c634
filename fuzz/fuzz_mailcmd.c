/*
 * fuzz_mailcmd.c - libFuzzer entry point for the mail command path: any
 * bytes are a request's raw Subject (as mailparse reports one: a line,
 * NULs cut), turned into a command by mailcmd_from_raw, and the reply's
 * header section composed from it by replymail_compose.
 *
 * Invariants: the decoded Subject is valid UTF-8 with no control
 * character, bounded by MAILCMD_SUBJECT_MAX; the command's name is
 * printable ASCII; a key ID search is "0x" and 8, 16, 40 or 64 upper-case
 * hex digits; LAST's days lie in 1..999999999; a text search holds no
 * control character; and the composed reply either is refused, leaving
 * the buffer untouched, or has a header section of CRLF-terminated lines
 * of at most 998 characters, no other CR or LF, exactly one To: line,
 * which is the requester, and no Bcc or Cc.  Built by "make fuzz".
 */
#include "config/config.h"
#include "mail/mailcmd.h"
#include "mail/replymail.h"
#include "util/buf.h"
#include "util/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_text(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;

	if (n > max)
		abort();
	while (i < n) {
		uint32_t cp;
		size_t k = utf8_char(p + i, n - i, &cp);

		if (k == 0 || utf8_control(cp))
			abort();
		i += k;
	}
}

static void
check_command(const struct mailcmd *c)
{
	size_t hex = 0;

	for (const char *p = c->name; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			abort();
	check_text(c->search, MAILCMD_SEARCH_MAX);
	switch (c->search_kind) {
	case MAILCMD_SEARCH_KEYID32: hex = 8; break;
	case MAILCMD_SEARCH_KEYID64: hex = 16; break;
	case MAILCMD_SEARCH_FPR_V4: hex = 40; break;
	case MAILCMD_SEARCH_FPR_V5: hex = 64; break;
	default: break;
	}
	if (hex) {
		if (strlen(c->search) != 2 + hex || strncmp(c->search, "0x", 2) != 0)
			abort();
		for (size_t i = 2; i < 2 + hex; i++)
			if (!strchr("0123456789ABCDEF", c->search[i]))
				abort();
	}
	if (c->kind == MAILCMD_LAST && (c->days < 1 || c->days > 999999999))
		abort();
}

/* check_headers - the header section of a composed reply to "to". */
static void
check_headers(const struct buf *b, const char *to)
{
	const char *s = (const char *)b->data, *end = s + b->len;
	int tos = 0;

	for (;;) {
		const char *eol = memchr(s, '\r', (size_t)(end - s));

		if (!eol || eol + 1 >= end || eol[1] != '\n')
			abort();	/* every line ends in CRLF */
		if (memchr(s, '\n', (size_t)(eol - s)) || eol - s > 998)
			abort();
		if (eol == s)
			break;		/* the blank line: end of headers */
		if (strncasecmp(s, "To:", 3) == 0) {
			size_t tl = strlen(to);

			tos++;
			if ((size_t)(eol - s) != 4 + tl || strncmp(s + 4, to, tl) != 0)
				abort();
		}
		if (strncasecmp(s, "Bcc:", 4) == 0 || strncasecmp(s, "Cc:", 3) == 0)
			abort();
		s = eol + 2;
	}
	if (tos != 1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char to[] = "requester@client.example";
	struct replymail r;
	struct mailcmd c;
	struct config cfg;
	struct buf out = BUF_INIT;
	struct pb_err err;
	char *raw = malloc(size + 1), *dec;
	int too_long;

	if (!raw)
		return 0;
	memcpy(raw, data, size);
	raw[size] = '\0';
	dec = mailcmd_decode_subject(raw, &too_long);
	check_text(dec, 4 * MAILCMD_SUBJECT_MAX);
	free(dec);
	mailcmd_from_raw(raw, &c);
	free(raw);
	check_command(&c);

	config_defaults(&cfg);
	memset(&r, 0, sizeof r);
	r.to = to;
	r.command = c.name[0] ? c.name : "HELP";
	r.search = c.search[0] ? c.search : NULL;
	r.text = c.reason[0] ? c.reason : "text";
	if (replymail_compose(&cfg, &r, 1700000000, &out, NULL, &err) == 0)
		check_headers(&out, to);
	else if (out.len != 0)
		abort();	/* refused: nothing written */
	buf_free(&out);
	config_free(&cfg);
	return 0;
}
